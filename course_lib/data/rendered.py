"""ShapesWorld (or a real data set) rendered once into memory, and its pixel statistics.

Recipes train on a `RenderedShapes`: uint8 images (N, 3, H, W) and labels (N,), which the engine
batches without per-item work (`get_batch`). `standardize` is the one place where images become
model input: (x − mean) / std per channel, with ShapesWorld's statistics by default.
"""

from functools import lru_cache

import torch
from torch.utils.data import Dataset

# ShapesWorld's pixel statistics (measured on 2,000 training images: mean ≈ 0.50, std ≈ 0.16).
SHAPES_MEAN = (0.5, 0.5, 0.5)
SHAPES_STD = (0.16, 0.16, 0.16)
# The statistics OpenAI's CLIP was trained with (its 400 M web images); the bundled clip-shapes
# reuses them, so its input is standardized as the released CLIP's.
OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)
# ImageNet's statistics: what the official DINO, MAE and Swin weights were trained with.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class RenderedShapes(Dataset):
    """ShapesWorld rendered once: images uint8 (N, 3, H, W) and labels (N,)."""

    def __init__(self, images, labels):
        self.images, self.labels = images, labels

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return {"image": self.images[i], "label": self.labels[i]}

    def get_batch(self, indices):
        idx = torch.as_tensor(indices)
        return {"image": self.images[idx], "label": self.labels[idx]}


@lru_cache(maxsize=8)
def render_shapes(size, img_size=64, seed=0, split="train", difficulty="medium", chunk=250):
    """Render `size` ShapesWorld items once (cached per process) into a RenderedShapes."""
    from course_lib.data.shapes import ShapesWorld

    world = ShapesWorld(size, img_size=img_size, seed=seed, split=split, difficulty=difficulty)
    images, labels = [], []
    for start in range(0, size, chunk):
        batch = world.batch(range(start, min(size, start + chunk)))
        images.append((batch["image"] * 255).round().to(torch.uint8))  # (b, 3, H, W)
        labels.append(batch["label"])
    return RenderedShapes(torch.cat(images), torch.cat(labels))


@lru_cache(maxsize=4)
def render_dataset(name, split, img_size, download=False, root=""):
    """A real data set (`course_lib.data.get_dataset`) loaded once into a RenderedShapes, with classes."""
    from course_lib.data.datasets import get_dataset

    data = get_dataset(name, split, img_size, download=download, root=root or None)
    loader = torch.utils.data.DataLoader(data, batch_size=256)
    images, labels = [], []
    for batch in loader:
        images.append((batch["image"] * 255).round().to(torch.uint8))  # (b, 3, S, S)
        labels.append(torch.as_tensor(batch["label"]).long())
    rendered = RenderedShapes(torch.cat(images), torch.cat(labels))
    numbered = [str(i) for i in range(int(rendered.labels.max()) + 1)]
    rendered.classes = list(getattr(data, "classes", [])) or numbered
    return rendered


def standardize(images, mean=SHAPES_MEAN, std=SHAPES_STD):
    """(B, 3, H, W) in [0, 1] (or uint8 in [0, 255]) → (x − mean) / std per channel, float."""
    if images.dtype == torch.uint8:
        images = images.float() / 255.0
    mean = torch.as_tensor(mean, device=images.device, dtype=images.dtype)[:, None, None]  # (3, 1, 1)
    std = torch.as_tensor(std, device=images.device, dtype=images.dtype)[:, None, None]
    return (images - mean) / std


def normalize(images_uint8):
    """uint8 (B, 3, H, W) → float, standardized with ShapesWorld's statistics."""
    return standardize(images_uint8.float() / 255.0)


@lru_cache(maxsize=4)
def held_out_shapes(n, img_size=64, seed=0, split="test", difficulty="medium", start=0):
    """ShapesWorld items start … start+n-1 of a split, with their foregrounds (DINO's evaluation).

    Returns images (n, 3, H, W) float in [0, 1], foregrounds (n, H, W) bool, labels (n,); cached.
    """
    from course_lib.data.shapes import ShapesWorld

    world = ShapesWorld(start + n, img_size=img_size, seed=seed, split=split, difficulty=difficulty)
    batch = world.batch(range(start, start + n))
    return batch["image"], batch["foreground"], batch["label"]
