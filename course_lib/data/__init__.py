"""Data: the ShapesWorld generator, augmentation pipelines and access to real data sets.

    from course_lib.data import ShapesWorld, get_dataset
    ds = ShapesWorld(1000, img_size=64, seed=0, split="train")
    item = ds[0]                   # image, foreground, objects (with masks), label, caption
    batch = ds.batch(range(256))   # stacked tensors for training

| module | holds |
|---|---|
| `shapes` | the ShapesWorld generator: images, masks, labels, captions from (seed, index) |
| `drawing`, `vocabulary` | its rasterising primitives; its colours, patterns, splits and caption words |
| `rendered` | a data set rendered once into memory (`render_shapes`), its statistics, `standardize` |
| `augment` | the one batched augmentation module: crops, colour, blur, solarize, two views, multi-crop |
| `captions`, `probe_sets` | rendered images with captions (CLIP); clean labelled sets for the probes |
| `datasets` | `get_dataset` for shapes, CIFAR-10, STL-10, Oxford-IIIT Pets and image folders |
| `audio_clips`, `spectrogram`, `pitch` | synthetic sound clips; STFT, mel and log spectrograms; f0 |

The names below are imported on first use, so that `course_lib.data.shapes` alone does not
pay for importing torchvision.
"""

import importlib

_EXPORTS = {
    "ShapesWorld": "course_lib.data.shapes",
    "get_dataset": "course_lib.data.datasets",
    "get_datasets": "course_lib.data.datasets",
    "DatasetError": "course_lib.data.datasets",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'course_lib.data' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
