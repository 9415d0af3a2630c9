"""Figures for the foundation lectures: attention memory, patches as tokens, positional tables."""

import numpy as np
import torch

from course_lib.complexity import attention_matrix_bytes, format_bytes, tokens_for_image
from course_lib.patches import patchify
from course_lib.viz.data import to_numpy_image

GPU_MEMORY_GIB = {"laptop GPU 8 GiB": 8, "RTX 4090 24 GiB": 24, "A100/H100 80 GiB": 80}


def memory_curve(image_sizes, patch_size, heads, layers, batch=1, bytes_per_element=4):
    """Bytes of all attention matrices for each image size: list of ints."""
    out = []
    for r in image_sizes:
        n = tokens_for_image(r, patch_size, cls_token=patch_size > 1)
        out.append(attention_matrix_bytes(n, heads, layers, batch, bytes_per_element))
    return out


def memory_figure(heads=16, layers=48, batch=1, bytes_per_element=4, patch_size=16, max_size=1024):
    """Plotly log-scale chart: attention memory against image size, pixels vs patches as tokens."""
    import plotly.graph_objects as go

    sizes = [s for s in range(patch_size, max_size + 1, patch_size)]
    fig = go.Figure()
    for p, name in [(1, "pixels as tokens"), (patch_size, f"{patch_size}×{patch_size} patches as tokens")]:
        ys = memory_curve(sizes, p, heads, layers, batch, bytes_per_element)
        text = [format_bytes(y) for y in ys]
        fig.add_trace(go.Scatter(x=sizes, y=ys, mode="lines", name=name, text=text,
                                 hovertemplate="%{x} px: %{text}<extra>" + name + "</extra>"))
    for label, gib in GPU_MEMORY_GIB.items():
        fig.add_trace(go.Scatter(x=[sizes[0], sizes[-1]], y=[gib * 2**30] * 2, mode="lines+text",
                                 line=dict(dash="dot", color="grey", width=1), name=label,
                                 text=["", label], textposition="top left", showlegend=False,
                                 hoverinfo="skip"))
    ticks = [2**(10 * k) for k in range(1, 7)]  # KiB ... EiB: binary units, as GPU memory is sold
    fig.update_layout(xaxis_title="image side R (pixels)", yaxis_title="bytes of attention matrices",
                      height=420, margin=dict(l=10, r=10, t=30, b=10), legend=dict(orientation="h", y=1.1))
    fig.update_yaxes(type="log", tickvals=ticks, ticktext=[format_bytes(t) for t in ticks])
    return fig


def patch_grid_figure(image, patch_size, ax=None, numbers=True):
    """Matplotlib: the image with its patch grid drawn and each patch numbered in token order.

    image: (3, H, W) tensor in [0, 1].
    """
    import matplotlib.pyplot as plt

    C, H, W = image.shape
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4))
    ax.imshow(to_numpy_image(image))
    for x in range(0, W + 1, patch_size):
        ax.axvline(x - 0.5, color="white", lw=0.8)
    for y in range(0, H + 1, patch_size):
        ax.axhline(y - 0.5, color="white", lw=0.8)
    h, w = H // patch_size, W // patch_size
    if numbers and h * w <= 64:
        for i in range(h):
            for j in range(w):
                ax.text(j * patch_size + 1, i * patch_size + 1, str(i * w + j), color="yellow",
                        fontsize=7, va="top", ha="left")
    ax.set_axis_off()
    return ax.figure


def token_strip_figure(image, patch_size, max_tokens=32):
    """Matplotlib: the first patches laid out as the token sequence the transformer sees."""
    import matplotlib.pyplot as plt

    C, H, W = image.shape
    tokens = patchify(image[None], patch_size)[0]  # (L, p*p*C)
    n = min(max_tokens, tokens.shape[0])
    fig, axes = plt.subplots(1, n, figsize=(min(n, 16) * 0.6, 0.9))
    axes = np.atleast_1d(axes)
    for k, ax in enumerate(axes):
        patch = tokens[k].reshape(patch_size, patch_size, C).clamp(0, 1).numpy()  # (p, p, C)
        ax.imshow(patch)
        ax.set_title(str(k), fontsize=6)
        ax.set_axis_off()
    fig.subplots_adjust(wspace=0.1, left=0, right=1, top=0.8, bottom=0)
    return fig


def position_similarity_figure(similarity, title="cosine similarity of positional embeddings"):
    """Matplotlib version of the ViT paper's Figure 7 (centre).

    similarity: (h, w, h, w) from `course_lib.positions.embedding_similarity`.
    """
    import matplotlib.pyplot as plt

    sim = similarity.detach().numpy() if isinstance(similarity, torch.Tensor) else similarity
    h, w = sim.shape[:2]
    low = float(sim.min())  # one colour scale for all tiles, stretched to the values present
    fig, axes = plt.subplots(h, w, figsize=(0.5 * w + 1, 0.5 * h + 0.6))
    axes = np.array(axes).reshape(h, w)
    for i in range(h):
        for j in range(w):
            axes[i, j].imshow(sim[i, j], vmin=low, vmax=1, cmap="viridis")
            axes[i, j].set_xticks([])
            axes[i, j].set_yticks([])
    for i in range(h):
        axes[i, 0].set_ylabel(str(i + 1), fontsize=6, rotation=0, labelpad=6)
    for j in range(w):
        axes[-1, j].set_xlabel(str(j + 1), fontsize=6)
    fig.suptitle(title, fontsize=9)
    return fig


def table_heatmap_figure(table, title="2-D sin-cos table"):
    """Matplotlib heatmap of a positional table (tokens × dimensions)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3))
    im = ax.imshow(table.detach().numpy(), aspect="auto", cmap="RdBu", vmin=-1, vmax=1)
    ax.set_xlabel("embedding dimension")
    ax.set_ylabel("token (patch) index")
    ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.03)
    return fig
