"""Figures of the patch embedding: image → patches → tokens → embeddings, the learned filters
(the ViT paper's Fig. 7, left), and what the patch size does to the sequence length and the cost.

Matplotlib is imported inside the functions, so importing this module is cheap.
"""

import numpy as np
import torch

from course_lib.patches import patchify
from course_lib.viz.vit import patch_grid_figure


def pipeline_figure(image, model, x=None):
    """Three panels: the image cut into patches, the flattened patches, the tokens entering block 1.

    Args:
        image: (3, H, W) in [0, 1], for the first panel.
        model: a `VisionTransformer`; its patch size cuts the image, `prepare_tokens` embeds it.
        x: the model's input (1, 3, H, W), e.g. standardized; default `image[None]`.
    Returns:
        the matplotlib Figure.
    """
    import matplotlib.pyplot as plt

    p = model.config.patch_size
    x = image[None] if x is None else x
    patches = patchify(x, p)[0]  # (L, p*p*C)
    with torch.no_grad():
        tokens = model.prepare_tokens(x)[0]  # (1 + L, D): [CLS] first, positions added
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.6), gridspec_kw=dict(width_ratios=[1, 1.1, 1.1]))
    patch_grid_figure(image, p, ax=axes[0])
    axes[0].set_title(f"image {tuple(image.shape)}, {p}-px patches", fontsize=9)
    for ax, data, title in ((axes[1], patches, f"patchify: {tuple(patches.shape)} = (L, p·p·C)"),
                            (axes[2], tokens, f"prepare_tokens: {tuple(tokens.shape)} = (1 + L, D)")):
        limit = float(data.abs().max())
        im = ax.imshow(data.numpy(), aspect="auto", cmap="RdBu_r", vmin=-limit, vmax=limit,
                       interpolation="nearest")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("feature")
        ax.set_ylabel("token")
        fig.colorbar(im, ax=ax, fraction=0.05)
    axes[2].axhspan(-0.5, 0.5, fill=False, ec="black", lw=1.5)  # row 0: the [CLS] token
    ticks = list(range(0, tokens.shape[0], 16))
    axes[2].set_yticks(ticks, ["[CLS] 0"] + [str(t) for t in ticks[1:]])
    fig.tight_layout()
    return fig


def filter_components(weight, n=28):
    """Principal components of a patch embedding's filters, as the ViT paper's Fig. 7 (left).

    Args:
        weight: (D, C, p, p), `patch_embed.proj.weight`.
        n: how many components.
    Returns:
        components (n, C, p, p), and the fraction of the filters' variance each explains (n,).
    """
    D, C, p, _ = weight.shape
    flat = weight.detach().float().reshape(D, C * p * p)  # (D, C*p*p): one row per filter
    centred = flat - flat.mean(0, keepdim=True)
    _, s, vh = torch.linalg.svd(centred, full_matrices=False)  # vh: (min(D, C*p*p), C*p*p)
    explained = s**2 / (s**2).sum()
    return vh[:n].reshape(-1, C, p, p), explained[:n]


def components_to_rgb(components):
    """(n, 3, p, p) components → (n, p, p, 3) in [0, 1]; grey is zero, each scaled by its max |value|."""
    scale = components.abs().amax(dim=(1, 2, 3), keepdim=True).clamp_min(1e-12)  # (n, 1, 1, 1)
    return (0.5 + 0.5 * components / scale).permute(0, 2, 3, 1).numpy()


def filters_figure(weights, n=28, cols=7):
    """The first `n` principal components of each model's patch-embedding filters, and their spectra.

    Args:
        weights: {name: (D, 3, p, p) weight}, e.g. a trained and a randomly initialized model.
    Returns:
        the matplotlib Figure: one block of components per model, then the variance each explains.
    """
    import matplotlib.pyplot as plt

    rows = -(-n // cols)
    width = (cols + 1) * len(weights) - 1  # thumbnail columns, one empty between models; then a gap of 2
    fig = plt.figure(figsize=(0.55 * (width + 8), 0.55 * rows + 1.3))
    grid = fig.add_gridspec(rows, width + 8, wspace=0.15, hspace=0.15, left=0.02, right=0.98, bottom=0.2,
                            top=0.85)
    spectrum = fig.add_subplot(grid[:, width + 2:])
    for k, (name, weight) in enumerate(weights.items()):
        components, explained = filter_components(weight, n)
        for i, rgb in enumerate(components_to_rgb(components)):
            ax = fig.add_subplot(grid[i // cols, k * (cols + 1) + i % cols])
            ax.imshow(rgb, interpolation="nearest")
            ax.set_axis_off()
            if i == cols // 2:
                ax.set_title(name, fontsize=9)
        spectrum.plot(np.arange(1, n + 1), 100 * explained.numpy(), "o-", ms=3, label=name)
    spectrum.set_xlabel("component")
    spectrum.set_ylabel("% of the filters' variance")
    spectrum.legend(fontsize=7, loc="upper right")
    spectrum.grid(alpha=0.3)
    return fig


def vit_macs(img_size, patch_size, embed_dim, depth, mlp_ratio=4, in_chans=3):
    """Multiply-adds of a ViT forward pass, split into (attention matmuls, everything else).

    Per block, with N = (R/p)² + 1 tokens of width D: q, k, v and the output projection 4ND², the
    MLP 2·mlp_ratio·ND², and q·kᵀ plus A·v 2N²D. The patch embedding adds (N − 1)·p²C·D. Norms,
    softmax and the head are left out (under 1%); `course_lib.complexity.count_flops` counts all.
    """
    N, D = (img_size // patch_size) ** 2 + 1, embed_dim
    attention = depth * 2 * N**2 * D
    rest = depth * (4 + 2 * mlp_ratio) * N * D**2 + (N - 1) * patch_size**2 * in_chans * D
    return attention, rest


def patch_size_figure(img_size=224, patch_sizes=(32, 16, 14, 8, 4, 2), embed_dim=768, depth=12):
    """Tokens and multiply-adds of one ViT against its patch size (ViT-B by default).

    Returns:
        the matplotlib Figure: left, the sequence length N; right, GMACs split into the attention
        matmuls (∝ N²) and the rest (∝ N).
    """
    import matplotlib.pyplot as plt

    labels = [str(p) for p in patch_sizes]
    tokens = [(img_size // p) ** 2 + 1 for p in patch_sizes]
    split = [vit_macs(img_size, p, embed_dim, depth) for p in patch_sizes]
    attention = np.array([a for a, _ in split]) / 1e9
    rest = np.array([r for _, r in split]) / 1e9
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    left.bar(labels, tokens, color="tab:grey")
    left.set_yscale("log")
    for i, n in enumerate(tokens):
        left.text(i, n, f"{n:,}", ha="center", va="bottom", fontsize=8)
    left.set_xlabel(f"patch size p ({img_size}-px image)")
    left.set_ylabel("tokens N = (R/p)² + 1 (log scale)")
    at = np.arange(len(labels))
    right.bar(at - 0.2, rest, width=0.4, label="projections and MLP (∝ N)", color="tab:blue")
    right.bar(at + 0.2, attention, width=0.4, label="q·kᵀ and A·v (∝ N²)", color="tab:red")
    for i, total in enumerate(attention + rest):
        right.text(i, max(attention[i], rest[i]), f"total {total:,.1f}", ha="center", va="bottom", fontsize=8)
    right.set_xticks(at, labels)
    right.set_yscale("log")
    right.set_xlabel("patch size p")
    right.set_ylabel(f"GMACs, D = {embed_dim}, {depth} blocks (log scale)")
    right.legend(fontsize=8, loc="upper left")
    for ax in (left, right):
        ax.margins(y=0.25)
    fig.tight_layout()
    return fig
