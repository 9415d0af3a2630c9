"""Figures of the data: the ShapesWorld gallery, object masks, augmented views and multi-crop.

Matplotlib, imported inside the functions, so importing this module is cheap.
"""

import textwrap

import numpy as np
import torch

MASK_TINT = np.array([1.0, 0.15, 0.6])  # magenta: rare among ShapesWorld's colours


def to_numpy_image(image):
    """(3, H, W) tensor in [0, 1] → (H, W, 3) numpy array for imshow."""
    return torch.as_tensor(image).detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy()  # (H, W, 3)


def mask_overlay(image, mask, alpha=0.55):
    """The image with `mask` (H, W) bool tinted and everything else dimmed: (H, W, 3) numpy."""
    rgb = to_numpy_image(image)
    m = torch.as_tensor(mask).bool().cpu().numpy()[..., None]  # (H, W, 1)
    tinted = (1 - alpha) * rgb + alpha * MASK_TINT
    return np.where(m, tinted, 0.6 * rgb)


def shapes_gallery(dataset=None, n=16, cols=8, show_masks=False, captions=True, start=0, size=1.6):
    """A grid of ShapesWorld items, each titled with its caption (and label).

    Args:
        dataset: a ShapesWorld (default: 16 items of the test split at 64 px).
        n, cols: how many items, and how many per row.
        show_masks: add a row under each row of images with their foreground masks.
        captions: title each image with its caption (wrapped); else with its label.
    """
    import matplotlib.pyplot as plt

    if dataset is None:
        from course_lib.data.shapes import ShapesWorld

        dataset = ShapesWorld(n, split="test")
    items = [dataset[start + i] for i in range(min(n, len(dataset) - start))]
    rows = -(-len(items) // cols)
    panel_rows = rows * (2 if show_masks else 1)
    fig, axes = plt.subplots(panel_rows, cols, figsize=(size * cols, size * 1.35 * panel_rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, item in enumerate(items):
        r, c = divmod(i, cols)
        ax = axes[r * (2 if show_masks else 1), c]
        ax.imshow(to_numpy_image(item["image"]))
        title = item["caption"] if captions else dataset.SHAPES[item["label"]]
        ax.set_title("\n".join(textwrap.wrap(title, 24)), fontsize=7)
        if show_masks:
            axes[2 * r + 1, c].imshow(mask_overlay(item["image"], item["foreground"]))
    fig.tight_layout()
    return fig


def object_masks_figure(item, size=2.0):
    """One item: the image, then each object's mask, titled with its attributes."""
    import matplotlib.pyplot as plt

    objects = item["objects"]
    cols = 1 + len(objects)
    fig, axes = plt.subplots(1, cols, figsize=(size * cols, size * 1.3), squeeze=False)
    axes[0, 0].imshow(to_numpy_image(item["image"]))
    axes[0, 0].set_title("\n".join(textwrap.wrap(item["caption"], 22)), fontsize=7)
    for ax, obj in zip(axes[0, 1:], objects):
        ax.imshow(mask_overlay(item["image"], obj["mask"]))
        ax.set_title(f"{obj['color']} {obj['shape']}\n{obj['pattern']}, {obj['area']} px", fontsize=7)
    for ax in axes.flat:
        ax.axis("off")
    fig.tight_layout()
    return fig


def views_grid(image, transform, n=8, mask=None, size=1.6, title=None):
    """`n` random draws of a v2 `transform` on one image (with the mask following, if given)."""
    import matplotlib.pyplot as plt

    from course_lib.data.augment import apply

    rows = 2 if mask is not None else 1
    fig, axes = plt.subplots(rows, n + 1, figsize=(size * (n + 1), size * rows * 1.1), squeeze=False)
    axes[0, 0].imshow(to_numpy_image(image))
    axes[0, 0].set_title("original", fontsize=8)
    if mask is not None:
        axes[1, 0].imshow(mask_overlay(image, mask))
    for j in range(1, n + 1):
        out = apply(transform, image, mask)
        view, view_mask = out if mask is not None else (out, None)
        axes[0, j].imshow(to_numpy_image(view))
        axes[0, j].set_title(f"view {j}", fontsize=8)
        if mask is not None:
            axes[1, j].imshow(mask_overlay(view, view_mask))
    for ax in axes.flat:
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def multicrop_figure(image, multicrop, size=1.8):
    """DINO's multi-crop of one image: the 2 global crops, then the local ones, drawn to scale
    (a local crop is shown smaller, as the network receives it)."""
    import matplotlib.pyplot as plt

    crops = multicrop(image)
    full = max(c.shape[-1] for c in crops)
    fig, axes = plt.subplots(1, len(crops), figsize=(size * len(crops), size * 1.2), squeeze=False)
    for i, (ax, crop) in enumerate(zip(axes[0], crops)):
        ax.imshow(to_numpy_image(crop), extent=(0, crop.shape[-1], crop.shape[-2], 0))
        ax.set_xlim(0, full)
        ax.set_ylim(full, 0)
        ax.set_title(("global" if i < 2 else "local") + f" {crop.shape[-1]} px", fontsize=8)
        ax.axis("off")
    fig.tight_layout()
    return fig
