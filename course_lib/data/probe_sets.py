"""Labelled, un-augmented images for frozen-feature probes (k-NN, linear probe).

A `ProbeData` holds the images a probe is fitted on (`fit`), the splits it is scored on (`val`,
and optionally `test`), and optional diagnostic labels of the same images (SimCLR: the colour of
the largest object, which the label, the shape, does not depend on). `course_lib.evaluate.probes`
turns one into metrics; `shapes_probe_data` builds one from ShapesWorld.
"""

from dataclasses import dataclass, field
from functools import lru_cache

import torch


@dataclass
class ProbeData:
    """Images (n, 3, S, S) — float in [0, 1] or uint8 — with labels (n,), per split.

    fit: (images, labels) the k-NN and the linear probe are fitted on.
    val: (images, labels) scored; its metrics carry no prefix ("knn_top1").
    test: (images, labels) or None; scored too, metrics prefixed "test_" ("test_knn_top1").
    diagnostics: name → (fit labels, val labels), other labels of the same images, scored by
        k-NN on the val split as "<name>_knn_top1".
    """

    fit: tuple
    val: tuple
    test: tuple | None = None
    diagnostics: dict = field(default_factory=dict)


def clean_images(size, img_size, split, seed=0):
    """Un-augmented ShapesWorld images (size, 3, S, S) in [0, 1] and labels (size,)."""
    from course_lib.data.rendered import render_shapes

    data = render_shapes(size, img_size, seed, split)  # uint8, cached per process
    return data.images.float() / 255, data.labels


@lru_cache(maxsize=8)
def main_object_colors(size, img_size, split, seed=0):
    """(size,) index into ShapesWorld.COLORS of each image's largest object (not the label)."""
    from course_lib.data.shapes import ShapesWorld

    world = ShapesWorld(size, img_size=img_size, seed=seed, split=split)
    colors = [world.render(i)[1][0]["color"] for i in range(size)]  # objects come largest first
    return torch.tensor([ShapesWorld.COLORS.index(c) for c in colors])


def shapes_probe_data(probe_size, val_size, img_size, seed=0):
    """ShapesWorld's probe sets: `probe_size` training images to fit on, `val_size` of the val and
    of the test split to score on, and the colour of each image's largest object as a diagnostic."""
    colors = (main_object_colors(probe_size, img_size, "train", seed),
              main_object_colors(val_size, img_size, "val", seed))
    return ProbeData(fit=clean_images(probe_size, img_size, "train", seed),
                     val=clean_images(val_size, img_size, "val", seed),
                     test=clean_images(val_size, img_size, "test", seed),
                     diagnostics={"color": colors})
