"""Figures for CLIP: ranked labels, the image–text similarity matrix, an image gallery, a patch
map blended over its image (where a text matches), and the learned temperature.

Plotly for the ranked bars (hover shows the exact probability), matplotlib for the rest.
Plotting libraries are imported inside the functions, so importing this module is cheap.
"""

import torch
import torch.nn.functional as F

from course_lib.viz.data import to_numpy_image


def ranked_bars(labels, probs, target=None, top=10, title=""):
    """Horizontal bars of the `top` most probable labels, best on top (plotly).

    Args:
        labels: C names; probs: (C,) probabilities; target: index of the true label, drawn in
            another colour and named in the title with its rank.
    """
    import plotly.graph_objects as go

    probs = torch.as_tensor(probs).float()
    order = probs.argsort(descending=True)[:top].tolist()[::-1]  # plotly draws bottom-up
    colors = ["#d62728" if i == target else "#1f77b4" for i in order]
    fig = go.Figure(go.Bar(
        x=[probs[i].item() for i in order], y=[labels[i] for i in order], orientation="h",
        marker_color=colors, text=[f"{probs[i].item():.1%}" for i in order], textposition="auto",
        hovertemplate="%{y}: %{x:.2%}<extra></extra>",
    ))
    fig.update_layout(title=title, xaxis=dict(title="probability", range=[0, 1], tickformat=".0%"),
                      height=60 + 28 * len(order), margin=dict(l=10, r=10, t=40 if title else 10, b=10))
    return fig


def similarity_heatmap(similarity, images, texts, title="Cosine similarity: images × texts"):
    """The similarity matrix of the CLIP paper's figure: one image per row, one text per column,
    the true pairs on the diagonal (matplotlib).

    Args:
        similarity: (N, M) cosine similarities; images: (N, 3, H, W) in [0, 1]; texts: M strings.
    """
    import matplotlib.pyplot as plt

    sim = torch.as_tensor(similarity).float().cpu()
    N, M = sim.shape
    fig = plt.figure(figsize=(1.6 + 0.75 * M, 1.2 + 0.7 * N))
    grid = fig.add_gridspec(1, 2, width_ratios=[1, M], wspace=0.02)
    thumbs = grid[0].subgridspec(N, 1, hspace=0.05)
    for i in range(N):
        ax = fig.add_subplot(thumbs[i])
        ax.imshow(to_numpy_image(images[i]))
        ax.axis("off")
    ax = fig.add_subplot(grid[1])
    ax.imshow(sim.numpy(), cmap="viridis", aspect="auto")
    for i in range(N):
        for j in range(M):
            ax.text(j, i, f"{sim[i, j]:.2f}", ha="center", va="center", fontsize=7,
                    color="black" if sim[i, j] > sim.mean() else "white")
    ax.set_xticks(range(M), texts, rotation=60, ha="right", fontsize=7)
    ax.set_yticks([])
    ax.set_title(title, fontsize=10)
    return fig


def gallery(images, titles=None, cols=5, size=1.6):
    """A grid of images (n, 3, H, W) in [0, 1] with optional titles (matplotlib)."""
    import matplotlib.pyplot as plt

    n = len(images)
    rows = max(1, -(-n // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(size * cols, size * 1.2 * rows), squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k < n:
            ax.imshow(to_numpy_image(images[k]), interpolation="nearest")
            if titles:
                ax.set_title(titles[k], fontsize=8)
    fig.tight_layout()
    return fig


def upsample_grid(grid, size):
    """(h, w) patch scores → (size, size), bilinear, for drawing over the image."""
    return F.interpolate(grid[None, None].float(), size=(size, size), mode="bilinear",
                         align_corners=False)[0, 0]


def temperature_curve(steps, scales, max_scale=100.0):
    """exp(logit_scale) = 1/τ during training: CLIP learns how peaked its softmax should be."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3))
    ax.plot(steps, scales)
    ax.axhline(max_scale, ls="--", c="grey", lw=1)
    ax.text(steps[0], max_scale, " clipped at 100", va="bottom", fontsize=8, color="grey")
    ax.set_xlabel("step")
    ax.set_ylabel("exp(logit_scale) = 1/τ")
    ax.set_title("The learned temperature", fontsize=10)
    fig.tight_layout()
    return fig


def overlay(image, grid, alpha=0.55, cmap="inferno"):
    """The image with a patch map blended over it, as an (H, W, 3) float array in [0, 1] (fast
    to show: no figure). The map is scaled to its own min..max."""
    from matplotlib import colormaps

    H = image.shape[-1]
    heat = upsample_grid(grid.cpu(), H)
    heat = (heat - heat.min()) / (heat.max() - heat.min()).clamp_min(1e-8)  # (H, H) in [0, 1]
    colored = colormaps[cmap](heat.numpy())[..., :3]  # (H, H, 3)
    return (1 - alpha) * to_numpy_image(image) + alpha * colored
