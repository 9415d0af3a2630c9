"""Figures of DINO: attention overlays, thresholded masks, multi-crop views, collapse curves.

The overlay helpers return RGB arrays (fast to tile and show in the app); the `*_figure`
functions return matplotlib Figures for notebooks. Attention maps are (h, w) patch grids and are
drawn as blocks, one per patch, over the image.
"""

import numpy as np

from course_lib.viz.data import to_numpy_image as to_rgb_array  # (3, H, W) → (H, W, 3)


def upsample_map(attn, size):
    """(h, w) map → (H, W) numpy array by nearest neighbour (each patch a block)."""
    a = attn.detach().float().cpu()
    H, W = size
    return a.repeat_interleave(H // a.shape[0], 0).repeat_interleave(W // a.shape[1], 1).numpy()


def heat_overlay(image, attn, alpha=0.6, cmap="inferno"):
    """An attention map over an image: (H, W, 3) float array in [0, 1].

    The map is scaled to [0, 1] by its own maximum, so that every head is readable.
    """
    from matplotlib import colormaps

    img = to_rgb_array(image)
    a = upsample_map(attn, img.shape[:2])
    a = a / max(a.max(), 1e-12)
    heat = colormaps[cmap](a)[..., :3]  # (H, W, 3)
    return (1 - alpha) * img + alpha * heat


def mask_overlay(image, kept, true_mask=None, color=(0.1, 0.9, 0.3)):
    """Thresholded attention (kept patches, (h, w) bool) tinted over the image; the true mask's
    outline in white when given. Returns (H, W, 3) float array."""
    img = to_rgb_array(image)
    keep = upsample_map(kept.float(), img.shape[:2]) > 0.5
    out = img * 0.35
    out[keep] = 0.5 * img[keep] + 0.5 * np.array(color)
    if true_mask is not None:
        m = true_mask.bool().cpu().numpy()
        edge = m & ~(np.roll(m, 1, 0) & np.roll(m, -1, 0) & np.roll(m, 1, 1) & np.roll(m, -1, 1))
        out[edge] = 1.0
    return out


def upscale(array, factor):
    """Enlarge an (H, W, 3) array by an integer factor (crisp pixels for small images)."""
    return array.repeat(factor, 0).repeat(factor, 1)


def tile(arrays, ncols, pad=2, background=1.0):
    """Tile equally sized (H, W, 3) arrays into one array, row-major, `pad` pixels apart."""
    H, W, _ = arrays[0].shape
    nrows = -(-len(arrays) // ncols)
    out = np.full((nrows * (H + pad) - pad, ncols * (W + pad) - pad, 3), background, dtype=np.float32)
    for i, a in enumerate(arrays):
        r, c = divmod(i, ncols)
        out[r * (H + pad) : r * (H + pad) + H, c * (W + pad) : c * (W + pad) + W] = a
    return out


# -- notebook figures ------------------------------------------------------------------------
def attention_grid_figure(image, maps, layers=None, title="[CLS] attention per layer and head"):
    """Layer × head grid of [CLS] attention overlays, with the mean over heads in the last column.

    Args:
        image: (3, H, W) in [0, 1].
        maps: (layers, heads, h, w) [CLS] attention.
    """
    from matplotlib.figure import Figure

    L, heads = maps.shape[:2]
    layers = list(range(L)) if layers is None else layers
    fig = Figure(figsize=(1.6 * (heads + 2), 1.6 * len(layers)), layout="constrained")
    axes = np.atleast_2d(fig.subplots(len(layers), heads + 2))
    titles = ["image"] + [f"head {h + 1}" for h in range(heads)] + ["mean"]  # 1-based, as in the app
    for row, layer in enumerate(layers):
        panels = [to_rgb_array(image)] + [heat_overlay(image, maps[layer, h]) for h in range(heads)]
        panels.append(heat_overlay(image, maps[layer].mean(0)))
        for col, panel in enumerate(panels):
            ax = axes[row, col]
            ax.imshow(panel)
            ax.set_xticks([]), ax.set_yticks([])
            if row == 0:
                ax.set_title(titles[col], fontsize=9)
        axes[row, 0].set_ylabel(f"layer {layer + 1}", fontsize=9)
    fig.suptitle(title, fontsize=10)
    return fig


def masks_figure(image, maps, kept, true_mask=None, scores=None, title=None):
    """Per head: the attention overlay (top) and its thresholded mask against the true one (bottom).

    Args:
        maps: (heads, h, w); kept: (heads, h, w) bool; scores: per-head Jaccard (optional).
    """
    from matplotlib.figure import Figure

    heads = maps.shape[0]
    fig = Figure(figsize=(1.8 * heads, 3.8), layout="constrained")
    axes = np.atleast_2d(fig.subplots(2, heads)).reshape(2, heads)
    for h in range(heads):
        axes[0, h].imshow(heat_overlay(image, maps[h]))
        axes[1, h].imshow(mask_overlay(image, kept[h], true_mask))
        label = f"head {h + 1}" + (f"\nJaccard {float(scores[h]):.2f}" if scores is not None else "")
        axes[0, h].set_title(label, fontsize=9)
        for ax in axes[:, h]:
            ax.set_xticks([]), ax.set_yticks([])
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def crops_figure(crops, names=None):
    """Multi-crop views of one image: a row of panels (global crops first)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(1.7 * len(crops), 2.0), layout="constrained")
    axes = fig.subplots(1, len(crops))
    for i, (ax, crop) in enumerate(zip(np.atleast_1d(axes), crops)):
        ax.imshow(to_rgb_array(crop))
        ax.set_xticks([]), ax.set_yticks([])
        ax.set_title(
            names[i] if names else ("global" if i < 2 else "local") + f" {tuple(crop.shape[-2:])}", fontsize=8
        )
    return fig


COLLAPSE_COLORS = {"healthy": "tab:green", "one dimension": "tab:red", "uniform": "tab:blue"}


def collapse_figure(runs):
    """Teacher entropy and teacher–student KL during the collapse runs.

    Args:
        runs: {label: history}, each as returned by `course_lib.experiments.dino_collapse.collapse_run`.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 3.2), layout="constrained")
    ax_h, ax_kl, ax_top = fig.subplots(1, 3)
    for label, hist in runs.items():
        color = COLLAPSE_COLORS.get(hist.get("regime"), None)
        steps = np.arange(1, len(hist["entropy"]) + 1)
        ax_h.plot(steps, hist["entropy"], label=label, color=color)
        ax_kl.plot(steps, hist["kl"], label=label, color=color)
        ax_top.plot(steps, hist["top_share"], label=label, color=color)
    max_h = next(iter(runs.values()))["max_entropy"]
    ax_h.axhline(max_h, ls="--", color="grey", lw=0.8)
    ax_h.text(1, max_h, " log K (uniform)", va="bottom", fontsize=8, color="grey")
    ax_h.set(xlabel="step", ylabel="entropy of the teacher's output", title="sharpening keeps it low")
    ax_kl.set(xlabel="step", ylabel="KL(teacher ‖ student)", title="collapse: nothing left to learn")
    ax_top.set(
        xlabel="step",
        ylabel="share of the batch on one dimension",
        title="centering spreads it",
        ylim=(0, 1.05),
    )
    ax_h.legend(fontsize=8)
    return fig


def jaccard_bars_figure(results, title="Best-head Jaccard on held-out ShapesWorld (60% mass)"):
    """Bars of per-head Jaccard for several models: results = {model: report} (see evaluate)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 3.2), layout="constrained")
    ax = fig.subplots()
    names = list(results)
    width = 0.8 / max(len(r["per_head"]) for r in results.values())
    for i, name in enumerate(names):
        for h, value in enumerate(results[name]["per_head"]):
            ax.bar(
                i + (h - (len(results[name]["per_head"]) - 1) / 2) * width,
                value,
                width * 0.9,
                color=f"C{i}",
                alpha=0.5 + 0.5 * (h == results[name]["best_head_index"]),
            )
    blob = next(iter(results.values())).get("blob")
    if blob is not None:
        ax.axhline(blob, ls="--", color="grey", lw=0.8, label="fixed centred blob")
        ax.legend(fontsize=8)
    ax.set_xticks(range(len(names)), names)
    ax.set(ylabel="Jaccard (one bar per head)", title=title)
    return fig
