"""MAE figures: the four panels of the demo, reconstructions at several ratios, experiment plots,
and the patch picker of the app.

Every function takes results (a `course_lib.evaluate.reconstruction.Reconstruction`, or the JSON
records in `data/results/mae_*.json`, written by `python -m course_lib.experiments mae`) and
returns a figure; nothing here trains or runs a model.
"""

import numpy as np

from course_lib.viz.data import to_numpy_image as to_float_image

PANELS = (
    ("original", "original"),
    ("masked", "masked"),
    ("reconstruction", "reconstruction"),
    ("pasted", "reconstruction + visible"),
)


def to_numpy_image(image):
    """(3, H, W) tensor in [0, 1] → (H, W, 3) uint8 array (for st.image, imshow and plotly's Image)."""
    return (to_float_image(image) * 255).round().astype(np.uint8)


def panel_images(rec, index=0):
    """The four panels of image `index` of a `Reconstruction`: [(title, (H, W, 3) uint8), ...]."""
    return [(title, to_numpy_image(getattr(rec, field)[index])) for field, title in PANELS]


def plot_reconstruction(rec, index=0, title=None):
    """One row of four panels, as the MAE demo: original, masked, reconstruction, + visible."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(10, 2.9))
    for ax, (name, image) in zip(axes, panel_images(rec, index)):
        ax.imshow(image, interpolation="nearest")
        ax.set_title(name, fontsize=10)
        ax.axis("off")
    ratio = float(rec.mask[index].mean())
    fig.suptitle(title or f"{ratio:.0%} of the patches removed · masked-pixel MSE "
                 f"{float(rec.pixel_mse[index]):.4f}", fontsize=10)
    fig.tight_layout()
    return fig


def plot_reconstructions_by_ratio(recs, index=0):
    """Rows = mask ratios (a dict ratio → `Reconstruction` of the same image), columns = the panels."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(recs), 4, figsize=(8, 2.1 * len(recs)), squeeze=False)
    for row, (ratio, rec) in zip(axes, recs.items()):
        for ax, (_, image) in zip(row, panel_images(rec, index)):
            ax.imshow(image, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if ax is row[0]:
                ax.set_ylabel(f"{ratio:.0%} masked", fontsize=9)
        row[3].set_xlabel(f"MSE {float(rec.pixel_mse[index]):.4f}", fontsize=8)
    for ax, (name, _) in zip(axes[0], PANELS):
        ax.set_title(name if name != "pasted" else "recon. + visible", fontsize=9)
    fig.tight_layout()
    return fig


def plot_mask_ratio_sweep(runs):
    """Reconstruction error and linear-probe accuracy against the masking ratio.

    Args:
        runs: list of records {"mask_ratio": r, "metrics": {"pixel_mse_75", "linear_probe", ...}}.
    """
    import matplotlib.pyplot as plt

    runs = sorted(runs, key=lambda r: r["mask_ratio"])
    ratios = [r["mask_ratio"] for r in runs]
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.2))
    a.plot(ratios, [r["metrics"]["pixel_mse_75"] for r in runs], "o-")
    a.set_xlabel("masking ratio during pre-training")
    a.set_ylabel("masked-pixel MSE at 75% (held out)")
    b.plot(ratios, [100 * r["metrics"]["linear_probe"] for r in runs], "o-", label="MAE encoder")
    random = [100 * r["metrics"]["linear_probe_random_init"] for r in runs
              if "linear_probe_random_init" in r["metrics"]]
    if random:
        b.axhline(np.mean(random), color="grey", ls="--", label="random init")
    b.set_xlabel("masking ratio during pre-training")
    b.set_ylabel("linear probe top-1 (%)")
    b.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_ablation(runs, label_key="label", metric="linear_probe", ylabel="linear probe top-1 (%)", scale=100):
    """Bars of one metric for a list of records {label_key: name, "metrics": {...}}."""
    import matplotlib.pyplot as plt

    names = [r[label_key] for r in runs]
    values = [scale * r["metrics"][metric] for r in runs]
    fig, ax = plt.subplots(figsize=(1.4 * len(runs) + 1.5, 3.0))
    bars = ax.bar(range(len(runs)), values, color="#4c72b0")
    ax.bar_label(bars, fmt="%.1f" if scale == 100 else "%.4f", fontsize=8)
    baseline = [r["metrics"].get(f"{metric}_random_init") for r in runs]
    if None not in baseline:
        ax.axhline(scale * float(np.mean(baseline)), color="grey", ls="--", label="random init")
        ax.legend(fontsize=8, loc="lower right")
    ax.set_xticks(range(len(runs)), names, fontsize=8)
    ax.set_ylabel(ylabel)
    fig.tight_layout()
    return fig


def patch_picker_figure(image, patch_size, masked=(), height=360):
    """A plotly figure of the image with one marker per patch: box- or lasso-select to mask.

    Args:
        image: (3, H, W) tensor in [0, 1].
        patch_size: p.
        masked: indices of patches currently masked (row-major), drawn as filled squares.
    Returns:
        plotly Figure whose points carry the patch index in `customdata`.
    """
    import plotly.graph_objects as go

    array = to_numpy_image(image)
    H, W, _ = array.shape
    h, w = H // patch_size, W // patch_size
    index = np.arange(h * w)
    rows, cols = np.divmod(index, w)
    x, y = (cols + 0.5) * patch_size, (rows + 0.5) * patch_size  # patch centres in pixels
    is_masked = np.isin(index, list(masked))
    fig = go.Figure(go.Image(z=array))
    fig.add_trace(go.Scatter(
        x=x, y=y, mode="markers", customdata=index,
        marker=dict(size=11, symbol=np.where(is_masked, "square", "circle-open").tolist(),
                    color=np.where(is_masked, "#d62728", "white").tolist(), line=dict(width=1.5)),
        hovertemplate="patch %{customdata}<extra></extra>",
    ))
    fig.update_layout(height=height, width=height, margin=dict(l=0, r=0, t=0, b=0), dragmode="select",
                      showlegend=False)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig
