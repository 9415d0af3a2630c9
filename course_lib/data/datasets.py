"""One entry point for every data set: `get_dataset(name, split, img_size)`.

    get_dataset("shapes", "train", 64, size=10_000)     # ShapesWorld, generated (the default)
    get_dataset("cifar10", "val", 32, download=True)    # torchvision's CIFAR-10 (val = its test set)
    get_dataset("stl10", "unlabeled", 96)                # STL-10; "unlabeled" is the SSL split
    get_dataset("pets", "train", 128)                    # Oxford-IIIT Pets, with foreground masks
    get_dataset("folder", "train", 64, root="my/images") # any folder of images

Every item is a dict: image (3, S, S) float in [0, 1], label int, and foreground (S, S) bool
where the data set has masks (ShapesWorld, Pets). Real data sets are only downloaded when asked
(`download=True`); otherwise a missing data set is one clear sentence, never a traceback from deep
inside torchvision.
"""

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset
from torchvision.transforms.v2 import functional as TF

from course_lib.data.augment import apply, eval_transform
from course_lib.data.shapes import ShapesWorld

DATASETS = ("shapes", "cifar10", "stl10", "pets", "folder")
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
SHAPES_SIZES = {"train": 10_000, "val": 2_000, "test": 2_000, "held_out": 2_000}

# our split names → each torchvision data set's own (real data sets have no separate val split:
# "val" and "test" both mean the official test split)
TORCHVISION_SPLITS = {
    "cifar10": {"train": True, "val": False, "test": False},
    "stl10": {"train": "train", "val": "test", "test": "test", "unlabeled": "unlabeled"},
    "pets": {"train": "trainval", "val": "test", "test": "test"},
}
FOLDER_SPLITS = {"val": ("val", "test"), "test": ("test", "val")}
DOWNLOAD_SIZE = {"cifar10": "about 170 MB", "stl10": "about 2.6 GB", "pets": "about 800 MB"}
PRETTY = {"cifar10": "CIFAR-10", "stl10": "STL-10", "pets": "Oxford-IIIT Pets"}


class DatasetError(RuntimeError):
    """A data set that cannot be opened; the message says what to do."""


def default_root():
    """Where real data sets live: $COURSE_LIB_DATA, else ~/.cache/course_lib/datasets."""
    return Path(os.environ.get("COURSE_LIB_DATA", Path.home() / ".cache" / "course_lib" / "datasets"))


def get_dataset(name="shapes", split="train", img_size=64, download=False, root=None, transform=None,
                **options):
    """A map-style data set of dict items (see the module docstring).

    Args:
        name: one of DATASETS, or the path of an image folder.
        split: "train", "val" or "test" ("held_out" for shapes, "unlabeled" for stl10).
        img_size: side S of the returned square images.
        download: fetch a missing real data set (never done unless asked).
        root: where the real data set is (default: `default_root()`); for "folder", the folder.
        transform: a torchvision v2 transform that replaces the default resize + centre crop; it is
            applied to the image and its mask together (e.g. `augment.mae_transform(S)`).
        options: for shapes, ShapesWorld's arguments (size, seed, difficulty).
    """
    if name not in DATASETS and Path(str(name)).is_dir():
        name, root = "folder", name
    if name == "shapes":
        return _shapes(split, img_size, transform, **options)
    if name == "folder":
        return ImageFolderDataset(root, split, img_size, transform)
    if name in TORCHVISION_SPLITS:
        return TorchvisionDataset(name, split, img_size, download, root, transform)
    raise ValueError(f"Unknown data set {name!r}: choose one of {', '.join(DATASETS)} "
                     f"or give an image folder's path.")


def get_datasets(name="shapes", img_size=64, **kwargs):
    """(train, val): the two splits a training recipe needs."""
    return get_dataset(name, "train", img_size, **kwargs), get_dataset(name, "val", img_size, **kwargs)


def _shapes(split, img_size, transform, size=None, **options):
    ds = ShapesWorld(size or SHAPES_SIZES.get(split, 2_000), img_size=img_size, split=split, **options)
    return ds if transform is None else Transformed(ds, transform)


class Transformed(Dataset):
    """A dict-item data set with a v2 transform applied to the image and all its masks together.

    The objects' masks follow the crop; their other fields (position, size) and the caption still
    describe the untransformed image (a flip swaps "left" and "right").
    """

    def __init__(self, dataset, transform):
        self.dataset, self.transform = dataset, transform

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, index):
        item = dict(self.dataset[index])
        if "foreground" not in item:
            item["image"] = apply(self.transform, item["image"])
            return item
        objects = [dict(o) for o in item.get("objects", [])]
        masks = torch.stack([item["foreground"]] + [o["mask"] for o in objects])  # (1 + K, H, W)
        item["image"], masks = apply(self.transform, item["image"], masks)  # one draw for all
        item["foreground"] = masks[0]
        for obj, mask in zip(objects, masks[1:]):
            obj["mask"], obj["area"] = mask, int(mask.sum())
        if "objects" in item:
            item["objects"] = objects
        return item


def _to_item(image, label, mask, view):
    """PIL image (+ PIL mask) → dict item with image (3, S, S) in [0, 1] (and foreground (S, S))."""
    image = TF.to_dtype(TF.pil_to_tensor(image.convert("RGB")), torch.float32, scale=True)  # (3, H, W)
    if mask is None:
        return {"image": apply(view, image), "label": int(label)}
    image, mask = apply(view, image, mask)
    return {"image": image, "label": int(label), "foreground": mask}


class TorchvisionDataset(Dataset):
    """CIFAR-10, STL-10 or Oxford-IIIT Pets from torchvision, as dict items.

    Pets' trimaps (1 pet, 2 background, 3 border) become foreground = pet or border.
    """

    def __init__(self, name, split, img_size, download=False, root=None, transform=None):
        splits = TORCHVISION_SPLITS[name]
        if split not in splits:
            raise ValueError(f"{PRETTY[name]} has no split {split!r}: choose one of {', '.join(splits)}.")
        self.name, self.view = name, transform or eval_transform(img_size)
        root = Path(root) if root is not None else default_root()
        try:
            self.base = _open_torchvision(name, splits[split], root, download)
        except (RuntimeError, OSError) as error:
            raise DatasetError(_missing_message(name, root, download, error)) from None
        self.classes = list(getattr(self.base, "classes", []))

    def __len__(self):
        return len(self.base)

    def __getitem__(self, index):
        image, target = self.base[index]
        if self.name != "pets":
            return _to_item(image, target, None, self.view)
        label, trimap = target
        mask = torch.from_numpy(np.array(trimap)) != 2  # (H, W) bool: pet or border
        return _to_item(image, label, mask, self.view)


def _open_torchvision(name, split, root, download):
    from torchvision import datasets

    if name == "cifar10":
        return datasets.CIFAR10(root, train=split, download=download)
    if name == "stl10":
        return datasets.STL10(root, split=split, download=download)
    targets = ("category", "segmentation")
    return datasets.OxfordIIITPet(root, split=split, target_types=targets, download=download)


def _missing_message(name, root, download, error):
    if download:
        return (f"Could not download {PRETTY[name]} into {root} ({error}): check the internet connection, "
                f"or copy the data set there and pass root=.")
    return (f"{PRETTY[name]} was not found in {root}: pass download=True to fetch it "
            f"({DOWNLOAD_SIZE[name]}), or root= pointing to a copy.")


class ImageFolderDataset(Dataset):
    """Any folder of images. Sub-folders are classes (label = index in sorted order); images lying
    directly in the folder get label 0. If the folder has `train/` and `val/` (or `test/`)
    sub-folders they are the splits; otherwise every 10th image (sorted by path) is "val"/"test".
    """

    def __init__(self, root, split="train", img_size=64, transform=None):
        if root is None or not Path(root).is_dir():
            raise DatasetError(f"Image folder {root} does not exist: "
                               f"pass root= (or the name) as a folder of images.")
        root = Path(root)
        split_dirs = [root / d for d in FOLDER_SPLITS.get(split, (split,)) if (root / d).is_dir()]
        if split_dirs:
            root = split_dirs[0]
            files = _image_files(root)
        elif any((root / d).is_dir() for d in ("train", "val", "test")):
            raise DatasetError(f"{root} has split sub-folders but none for {split!r}: add {root / split}.")
        else:  # one pool of images: every 10th is held out
            files = [f for i, f in enumerate(_image_files(root)) if (i % 10 == 9) == (split != "train")]
        if not files:
            raise DatasetError(f"No images ({', '.join(sorted(IMAGE_SUFFIXES))}) found for split "
                               f"{split!r} in {root}: add some, or point root= at another folder.")
        self.classes = sorted({f.parent.relative_to(root).parts[0] for f in files if f.parent != root})
        self.files, self.root = files, root
        self.view = transform or eval_transform(img_size)

    def __len__(self):
        return len(self.files)

    def __getitem__(self, index):
        path = self.files[index]
        in_root = path.parent == self.root
        label = 0 if in_root else self.classes.index(path.parent.relative_to(self.root).parts[0])
        with Image.open(path) as image:
            return _to_item(image, label, None, self.view)


def _image_files(folder):
    return sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
