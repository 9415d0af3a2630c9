"""Attention memory, drawn and measured: the formula against image size (GiB), and the bytes a
real forward pass keeps for its backward pass, explicit against fused attention.

Matplotlib is imported inside the functions, so importing this module is cheap.
"""

import torch

from course_lib.complexity import attention_matrix_bytes, format_bytes, tokens_for_image
from course_lib.viz.vit import GPU_MEMORY_GIB, memory_curve

GIB = 2**30


# -- measuring a real forward pass ------------------------------------------------------------------


def saved_for_backward_bytes(model, x):
    """Bytes of the tensors autograd keeps from one forward pass until the backward pass.

    Every tensor an operation saves for its gradient (the softmax output A among them) is seen
    by a saved-tensors hook; storages are counted once, and the model's own parameters not at all
    (they exist whether or not we train). Dropout should be off (`model.eval()`), or its masks
    count too.

    Args:
        model: an nn.Module.
        x: its input, e.g. (B, 3, H, W).
    Returns:
        int, bytes.
    """
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    seen = {}  # storage address → bytes

    def pack(t):
        storage = t.untyped_storage()
        if storage.data_ptr() not in params:
            seen[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.enable_grad(), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(x)
    return sum(seen.values())


def measure_attention_memory(image_sizes, factory, patch_size=4, heads=3, depth=2, batch=1):
    """The formula beside what a ViT keeps for backward, explicit and fused, for each image size.

    Args:
        image_sizes: image sides R in pixels (multiples of `patch_size`).
        factory: a ViT preset such as `course_lib.vit.vit_tiny` (takes patch_size=, img_size=,
            depth=, num_heads=, num_classes=, fused_attn=).
    Returns:
        list of dicts: size, tokens N, formula (bytes of all A), explicit, fused (bytes kept).
    """
    rows = []
    for side in image_sizes:
        x = torch.randn(batch, 3, side, side)
        row = dict(size=side, tokens=tokens_for_image(side, patch_size))
        row["formula"] = attention_matrix_bytes(row["tokens"], heads, depth, batch)
        for name, fused in (("explicit", False), ("fused", True)):
            torch.manual_seed(0)
            model = factory(patch_size=patch_size, img_size=side, depth=depth, num_heads=heads,
                            num_classes=0, fused_attn=fused).eval()
            row[name] = saved_for_backward_bytes(model, x)
        rows.append(row)
    return rows


def memory_table(rows):
    """The rows of `measure_attention_memory` as aligned text, one image size a line."""
    lines = [f"{'R':>5}{'N':>7}{'formula':>13}{'explicit kept':>15}{'fused kept':>13}{'difference':>13}"]
    for r in rows:
        lines.append(f"{r['size']:>5}{r['tokens']:>7,}{format_bytes(r['formula']):>13}"
                     f"{format_bytes(r['explicit']):>15}{format_bytes(r['fused']):>13}"
                     f"{format_bytes(r['explicit'] - r['fused']):>13}")
    return "\n".join(lines)


def answer_line(question, nbytes, guess_gib=None):
    """One line for a 'predict, then run' cell: the answer, and how far the guess was from it."""
    line = f"{question}: {nbytes:,} bytes = {format_bytes(nbytes)}"
    if not line.endswith("GiB"):
        line += f" = {nbytes / GIB:,.4g} GiB"
    if guess_gib:
        line += f"   (your guess {guess_gib:,} GiB is {guess_gib / (nbytes / GIB):.2g} × the answer)"
    return line


# -- figures -------------------------------------------------------------------------------------


def spread(values, min_gap):
    """Positions as close to `values` as possible, in the same order, at least `min_gap` apart.

    For labels on a log axis: pass log10 of the values; neighbours closer than `min_gap` are
    pushed upwards, so no two labels overlap.
    """
    order = sorted(range(len(values)), key=lambda i: values[i])
    out, last = list(values), None
    for i in order:
        out[i] = values[i] if last is None else max(values[i], last + min_gap)
        last = out[i]
    return out


def label_gpus(ax, gpus):
    """A dotted line per GPU size (GiB), labelled in the right margin, labels spread apart."""
    import math

    from matplotlib.transforms import blended_transform_factory

    low, high = (math.log10(v) for v in ax.get_ylim())
    gap = 0.06 * (high - low)  # about one line of 8-pt text on a 4-inch axis
    names = list(gpus)
    places = spread([math.log10(gpus[n]) for n in names], gap)
    margin = blended_transform_factory(ax.transAxes, ax.transData)  # x in axes fraction, y in GiB
    for name, place in zip(names, places):
        ax.axhline(gpus[name], ls=":", lw=1, c="grey")
        ax.text(1.01, 10**place, name, transform=margin, fontsize=8, va="center", ha="left", color="dimgrey")


def memory_gib_figure(heads=16, layers=48, patch_sizes=(1, 16), max_size=1024, marks=None, gpus=None):
    """Attention memory against the image side, on a log axis in GiB, with GPU sizes labelled.

    Args:
        heads, layers: counts (float32, batch 1).
        patch_sizes: one curve each; 1 = pixels as tokens (no [CLS]), p > 1 = p-px patches + [CLS].
        max_size: largest image side on the x axis.
        marks: optional list of (label, R, patch size) points to mark, e.g. the lecture's questions.
        gpus: {label: GiB}; default `GPU_MEMORY_GIB`.
    Returns:
        the matplotlib Figure.
    """
    import matplotlib.pyplot as plt

    gpus = GPU_MEMORY_GIB if gpus is None else gpus
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    step = max(patch_sizes)
    sizes = list(range(step, max_size + 1, step))
    for p in patch_sizes:
        gib = [b / GIB for b in memory_curve(sizes, p, heads, layers)]
        ax.loglog(sizes, gib, lw=2, label="pixels as tokens" if p == 1 else f"{p}-px patches + [CLS]")
    for label, side, p in marks or ():
        gib = attention_matrix_bytes(tokens_for_image(side, p, cls_token=p > 1), heads, layers) / GIB
        ax.plot([side], [gib], "o", c="black", ms=5, zorder=3)
        ax.annotate(f"{label}\n{format_bytes(gib * GIB)}", (side, gib), xytext=(6, -4),
                    textcoords="offset points", fontsize=8, va="top")
    ax.set_ylim(1e-5, 1e7)
    label_gpus(ax, gpus)
    ax.set_xlabel("image side R (pixels, log scale)")
    ax.set_ylabel("all attention matrices (GiB, log scale)")
    ax.set_title(f"float32, {heads} heads × {layers} layers, one image", fontsize=9)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig


def measured_memory_figure(rows):
    """The formula as a line, the measured bytes kept by the explicit and fused paths as points.

    rows: from `measure_attention_memory`. The explicit path keeps A (the formula) plus the
    activations every layer keeps anyway; the fused path keeps only those activations.
    """
    import matplotlib.pyplot as plt

    n = [r["tokens"] for r in rows]
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    ax.loglog(n, [r["formula"] / 2**20 for r in rows], "-", c="black", lw=1.5,
              label="formula: batch · layers · heads · N² · 4 B")
    ax.loglog(n, [r["explicit"] / 2**20 for r in rows], "o", c="tab:red", label="kept for backward, explicit")
    ax.loglog(n, [r["fused"] / 2**20 for r in rows], "s", c="tab:blue", label="kept for backward, fused")
    ax.loglog(n, [(r["explicit"] - r["fused"]) / 2**20 for r in rows], "x", c="black", ms=7,
              label="explicit − fused (the attention matrices)")
    ax.set_xlabel("tokens N (log scale)")
    ax.set_ylabel("MiB (log scale)")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
