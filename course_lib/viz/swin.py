"""Swin and non-local figures: windows and shifted windows over an image, the 3 × 3 regions of the
cyclic shift, the attention mask of one window, the relative position bias, cost against image
size (formulas and measurements), and a non-local block's attention over positions.

Sizes are given in tokens (one token = one `patch_size` × `patch_size` patch of the image), as
in the model. matplotlib and plotly are imported inside the functions.
"""

import math

import numpy as np
import torch

from course_lib.complexity import omega_msa, omega_wmsa
from course_lib.swin import relative_position_index, shift_regions, shifted_window_mask
from course_lib.viz.data import to_numpy_image


def _axes(ax, figsize=(4.5, 4.5)):
    import matplotlib.pyplot as plt

    if ax is not None:
        return ax.figure, ax
    return plt.subplots(figsize=figsize)


def plot_windows(image, patch_size=4, window_size=7, shift=0, ax=None, title=None):
    """The image with its M × M-token windows (white) and, if `shift` > 0, the shifted windows.

    The shifted partition is what SW-MSA sees *in image coordinates*: windows start `shift`
    tokens before the origin, so the border windows are cut (the cyclic shift glues them back).
    """
    fig, ax = _axes(ax)
    H, W = image.shape[-2:]
    step = window_size * patch_size  # pixels per window
    ax.imshow(to_numpy_image(image), extent=(0, W, H, 0))
    for v in range(0, max(H, W) + 1, step):
        ax.axhline(v, color="white", lw=2)
        ax.axvline(v, color="white", lw=2)
    if shift:
        offset = shift * patch_size  # rolled window 0 starts at image token `shift`
        for v in np.arange(offset, max(H, W), step):
            ax.axhline(v, color="orangered", lw=2, ls="--")
            ax.axvline(v, color="orangered", lw=2, ls="--")
    ax.set_xlim(0, W)
    ax.set_ylim(H, 0)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title or f"windows of {window_size}×{window_size} tokens"
                 + (f" · shifted by {shift} (dashed)" if shift else ""), fontsize=10)
    return fig


def plot_shift_regions(grid, window_size, shift, ax=None):
    """The 3 × 3 regions after the cyclic shift, with the window borders: windows that straddle a
    region border hold tokens that were far apart in the image, hence the mask."""
    fig, ax = _axes(ax)
    regions = shift_regions(grid, grid, window_size, shift).numpy()
    ax.imshow(regions, cmap="tab10", vmin=0, vmax=9, extent=(0, grid, grid, 0))
    for v in range(0, grid + 1, window_size):
        ax.axhline(v, color="black", lw=2)
        ax.axvline(v, color="black", lw=2)
    ax.set_title(f"regions after rolling by {shift} tokens", fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    return fig


def plot_window_mask(grid, window_size, shift, window=None, ax=None):
    """The (M², M²) SW-MSA mask of one window (default: the bottom-right one, with 4 regions)."""
    fig, ax = _axes(ax)
    mask = shifted_window_mask(grid, grid, window_size, shift)  # (nW, M², M²)
    window = mask.shape[0] - 1 if window is None else window
    ax.imshow(mask[window].numpy(), cmap="gray", vmin=-100, vmax=0, interpolation="nearest")
    ax.set_title(f"mask of window {window}: black = −100", fontsize=10)
    ax.set_xlabel("key token")
    ax.set_ylabel("query token")
    return fig


def plot_relative_position_index(window_size, ax=None):
    """Which row of the bias table each (query, key) pair uses: equal offsets share one entry."""
    fig, ax = _axes(ax)
    im = ax.imshow(relative_position_index(window_size).numpy(), cmap="viridis", interpolation="nearest")
    fig.colorbar(im, ax=ax, fraction=0.046)
    ax.set_title(f"relative_position_index, M = {window_size}", fontsize=10)
    ax.set_xlabel("key token")
    ax.set_ylabel("query token")
    return fig


def plot_bias_for_query(attn_module, head=0, query=None, ax=None):
    """The bias B[query, ·] of one head of a `WindowAttention`, drawn as the M × M window."""
    fig, ax = _axes(ax)
    M = attn_module.window_size
    query = (M * M) // 2 if query is None else query
    with torch.no_grad():
        bias = attn_module.relative_position_bias()[head, query].view(M, M)  # (M, M)
    ax.imshow(bias.numpy(), cmap="RdBu_r", interpolation="nearest")
    ax.plot(query % M, query // M, "k*", ms=12)
    ax.set_title(f"bias seen by token {query} (★), head {head}", fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    return fig


def cost_chart(sides, channels=96, window_size=7, measured=None):
    """Plotly: multiply-adds of global vs window attention against the token-grid side, log-log.

    `measured`: optional results dict of benchmarks/swin_scaling.py, drawn as markers (seconds,
    on a second axis) so formula and measurement can be compared.
    """
    import plotly.graph_objects as go

    sides = list(sides)
    fig = go.Figure()
    fig.add_scatter(x=sides, y=[omega_msa(s, s, channels) for s in sides], name="Ω(MSA) = 4hwC² + 2(hw)²C")
    fig.add_scatter(x=sides, y=[omega_wmsa(s, s, channels, window_size) for s in sides],
                    name=f"Ω(W-MSA) = 4hwC² + 2M²hwC, M = {window_size}")
    if measured:
        for kind in ("vit", "swin"):
            rows = measured["rows"]
            fig.add_scatter(x=[math.isqrt(r["tokens"]) for r in rows], y=[r[kind]["seconds"] for r in rows],
                            mode="markers", yaxis="y2", name=f"measured {kind} stage (s)")
    fig.update_layout(xaxis=dict(type="log", title="token grid side h = w (image side / patch size)"),
                      yaxis=dict(type="log", title="multiply-adds per layer"),
                      yaxis2=dict(type="log", overlaying="y", side="right", title="seconds"),
                      legend=dict(orientation="h", y=-0.25), margin=dict(t=30), height=430)
    return fig


def plot_scaling(results, axes=None):
    """Measured time and memory of a ViT stage vs a Swin stage against tokens, log-log, with the
    fitted slopes (1 = linear, 2 = quadratic) from `benchmarks/swin_scaling.py`'s JSON."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    if axes is None:
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    fig = axes[0].figure
    tokens = [r["tokens"] for r in results["rows"]]
    panels = (("seconds", "seconds per forward"), ("peak_bytes", "peak activation bytes"))
    for ax, (metric, label) in zip(axes, panels):
        for kind, name, style in (("vit", "ViT", "o-"), ("swin", "Swin", "s-")):
            slope = results["slopes"][kind][metric]
            ax.loglog(tokens, [r[kind][metric] for r in results["rows"]], style,
                      label=f"{name} stage, slope {slope:.2f}")
        ax.xaxis.set_minor_formatter(NullFormatter())  # decades only: minor labels overlap
        ax.set_xlabel("tokens h·w")
        ax.set_ylabel(label)
        ax.legend(fontsize=8)
        ax.grid(True, which="both", alpha=0.3)
    fig.suptitle("global attention grows as (hw)², windows as hw", fontsize=10)
    fig.tight_layout()
    return fig


def plot_nonlocal_attention(image, attn, query, ax=None):
    """Where position `query` of a non-local block looks: a row of its (h·w, h·w) map over the image."""
    fig, ax = _axes(ax)
    side = math.isqrt(attn.shape[-1])
    H, W = image.shape[-2:]
    heat = attn[query].detach().view(side, side).cpu().numpy()
    ax.imshow(to_numpy_image(image), extent=(0, W, H, 0))
    ax.imshow(heat, cmap="inferno", alpha=0.6, extent=(0, W, H, 0), interpolation="nearest")
    qy, qx = divmod(query, math.isqrt(attn.shape[0]))
    cell = W / math.isqrt(attn.shape[0])
    ax.plot((qx + 0.5) * cell, (qy + 0.5) * cell, "c*", ms=14)
    ax.set_title(f"non-local attention of position {query} (★)", fontsize=10)
    ax.axis("off")
    return fig
