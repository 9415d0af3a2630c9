"""Figures of feature maps: the image, then each model's PCA colours of its patches, side by side.

The maps come from `course_lib.evaluate.features.pca_rgb` ((h, w, 3) in [0, 1], one colour per
patch); each is drawn as blocks, one per patch, at the image's size, titled with its model's name.
"""

import numpy as np

from course_lib.viz.data import to_numpy_image

COLOURS_SENTENCE = (
    "Each patch's colour is its position on the first three principal components of that model's "
    "last-layer patch features for this image (red = 1st, green = 2nd, blue = 3rd, each stretched to "
    "[0, 1]), so patches a model describes alike get alike colours."
)


def patch_blocks(rgb, size):
    """(h, w, 3) map (tensor or array) → (H, W, 3) numpy array, each patch an (H/h × W/w) block."""
    a = np.asarray(rgb.detach().cpu() if hasattr(rgb, "detach") else rgb, dtype=np.float32)  # (h, w, 3)
    H, W = size
    return a.repeat(H // a.shape[0], axis=0).repeat(W // a.shape[1], axis=1)  # (H, W, 3)


def feature_maps_figure(image, maps, notes=None, panel_inches=2.4, title=None):
    """One row: the image, then one PCA feature map per model, each titled with the model's name.

    Args:
        image: (3, H, W) in [0, 1].
        maps: {model name: (h, w, 3) map in [0, 1]}, in the order to draw them.
        notes: optional {model name: a short line shown under its title} (e.g. a Jaccard).
    Returns:
        a matplotlib Figure.
    """
    from matplotlib.figure import Figure

    notes = notes or {}
    picture = to_numpy_image(image)  # (H, W, 3)
    panels = [("image", picture)] + [(name, patch_blocks(m, picture.shape[:2])) for name, m in maps.items()]
    fig = Figure(figsize=(panel_inches * len(panels), panel_inches + 0.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(panels)))
    for ax, (name, array) in zip(axes, panels):
        ax.imshow(array.clip(0, 1), interpolation="nearest")
        ax.set_xticks([]), ax.set_yticks([])
        ax.set_title(name + (f"\n{notes[name]}" if name in notes else ""), fontsize=11)
    if title:
        fig.suptitle(title, fontsize=12)
    return fig
