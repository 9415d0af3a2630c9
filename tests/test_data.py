"""ShapesWorld, the augmentation pipelines and the dataset entry point."""

import numpy as np
import pytest
import torch
from PIL import Image

from course_lib.data import augment
from course_lib.data.datasets import DatasetError, get_dataset, get_datasets
from course_lib.data.shapes import DIFFICULTIES, FILL, SHAPE_TESTS, ShapesWorld, item_seed


@pytest.fixture(scope="module")
def world():
    ds = ShapesWorld(200, seed=0, split="train")
    return ds, [ds[i] for i in range(len(ds))]


# ---------------------------------------------------------------- ShapesWorld


def test_item_types_shapes_and_ranges(world):
    ds, items = world
    assert len(ds) == 200
    for item in items[:20]:
        assert item["image"].shape == (3, 64, 64) and item["image"].dtype == torch.float32
        assert 0.0 <= item["image"].min() and item["image"].max() <= 1.0
        assert item["foreground"].shape == (64, 64) and item["foreground"].dtype == torch.bool
        assert isinstance(item["label"], int) and 0 <= item["label"] < len(ShapesWorld.SHAPES)
        for obj in item["objects"]:
            assert obj["shape"] in ShapesWorld.SHAPES and obj["color"] in ShapesWorld.COLORS
            assert obj["pattern"] in ShapesWorld.PATTERNS
            assert obj["mask"].shape == (64, 64) and obj["mask"].dtype == torch.bool
            x, y = obj["position"]
            assert 0 <= x < 64 and 0 <= y < 64 and 14 <= obj["size"] <= 46


def test_same_seed_split_index_gives_same_item():
    a, b = ShapesWorld(10, seed=3), ShapesWorld(10, seed=3)
    for i in (0, 7):
        assert torch.equal(a[i]["image"], b[i]["image"]) and a[i]["caption"] == b[i]["caption"]
    assert not torch.equal(a[0]["image"], ShapesWorld(10, seed=4)[0]["image"])
    for same in (torch.tensor(7), np.int64(7), -3):
        assert torch.equal(a[same]["image"], a[7]["image"])


def test_splits_never_share_an_image():
    n = 60
    images = {split: ShapesWorld(n, split=split).batch(range(n))["image"] for split in ShapesWorld.SPLITS}
    flat = torch.cat([images[s].flatten(1) for s in ShapesWorld.SPLITS])  # (4n, 3·64·64)
    assert len({row.numpy().tobytes() for row in flat}) == len(flat)
    seeds = {item_seed(0, s, i) for s in ShapesWorld.SPLITS for i in range(1000)}
    assert len(seeds) == 4000  # every (split, index) has its own random stream


def test_masks_are_disjoint_and_their_union_is_the_foreground(world):
    _, items = world
    for item in items[:50]:
        union = torch.zeros(64, 64, dtype=torch.bool)
        for obj in item["objects"]:
            assert not (union & obj["mask"]).any()  # visible masks do not overlap
            assert obj["area"] == int(obj["mask"].sum()) > 0
            union |= obj["mask"]
        assert torch.equal(union, item["foreground"])


def test_label_is_the_shape_of_the_largest_object(world):
    _, items = world
    for item in items:
        largest = max(item["objects"], key=lambda o: o["mask"].sum())
        assert ShapesWorld.SHAPES[item["label"]] == largest["shape"]


def test_the_largest_object_wins_by_a_clear_margin(world):
    _, items = world
    pairs = [it["objects"] for it in items if len(it["objects"]) > 1]
    assert 0.3 < len(pairs) / len(items) < 0.7  # about half the images have a second object
    for objects in pairs:
        assert objects[1]["area"] <= 0.65 * objects[0]["area"]
        assert objects[0]["size_word"] == "large" or objects[1]["size_word"] == "small"


def test_every_class_appears(world):
    _, items = world
    counts = np.bincount([it["label"] for it in items], minlength=len(ShapesWorld.SHAPES))
    assert counts.min() >= 0.4 * counts.mean()  # no shape is starved by the "largest" rule


def test_caption_mentions_every_object_in_the_vocabulary(world):
    _, items = world
    vocab = set(ShapesWorld.vocabulary())
    for item in items[:50]:
        caption = item["caption"]
        assert set(caption.split()) <= vocab
        for obj in item["objects"]:
            assert f"{obj['size_word']} {obj['color']} {obj['shape']}" in caption
        first = item["objects"][0]
        assert caption.startswith(f"a {first['size_word']} {first['color']} {first['shape']}")


def test_caption_relations():
    obj = lambda x, y: {"position": (x, y)}
    assert ShapesWorld._relation(obj(30, 10), obj(32, 50)) == "above"
    assert ShapesWorld._relation(obj(30, 50), obj(32, 10)) == "below"
    assert ShapesWorld._relation(obj(5, 30), obj(50, 32)) == "to the left of"
    assert ShapesWorld._relation(obj(50, 30), obj(5, 32)) == "to the right of"


def test_objects_cover_at_least_a_fifth_of_the_image(world):
    _, items = world
    fraction = torch.stack([it["foreground"].float().mean() for it in items]).mean()
    assert 0.20 <= fraction <= 0.40


def test_held_out_compositions_never_in_train_and_always_in_held_out_split(world):
    _, items = world
    held = set(ShapesWorld.HELD_OUT)
    assert {s for _, s in held} == set(ShapesWorld.SHAPES)  # every shape still seen in train
    assert not any((o["color"], o["shape"]) in held for it in items for o in it["objects"])
    for item in ShapesWorld(20, split="held_out"):
        assert all(ShapesWorld.is_held_out(o["color"], o["shape"]) for o in item["objects"])
    test_objects = [o for it in ShapesWorld(150, split="test") for o in it["objects"]]
    assert any((o["color"], o["shape"]) in held for o in test_objects)


def test_batch_matches_items(world):
    ds, items = world
    batch = ds.batch([3, 5, 8])
    assert batch["image"].shape == (3, 3, 64, 64) and batch["foreground"].shape == (3, 64, 64)
    assert batch["label"].dtype == torch.long
    for row, i in enumerate([3, 5, 8]):
        assert torch.equal(batch["image"][row], items[i]["image"])
        assert torch.equal(batch["foreground"][row], items[i]["foreground"])
        assert batch["label"][row] == items[i]["label"] and batch["caption"][row] == items[i]["caption"]


def test_dataloader_with_collate():
    ds = ShapesWorld(10)
    loader = torch.utils.data.DataLoader(ds, batch_size=4, collate_fn=ShapesWorld.collate)
    batch = next(iter(loader))
    assert batch["image"].shape == (4, 3, 64, 64) and len(batch["objects"]) == len(batch["caption"]) == 4
    assert torch.equal(batch["image"], ds.batch(range(4))["image"])


@pytest.mark.parametrize("img_size", [32, 96])
def test_sizes_scale_with_image_size(img_size):
    items = list(ShapesWorld(40, img_size=img_size))
    assert items[0]["image"].shape == (3, img_size, img_size)
    fraction = torch.stack([it["foreground"].float().mean() for it in items]).mean()
    assert 0.18 <= fraction <= 0.42
    assert all(it["objects"][0]["size"] <= 46 * img_size / 64 + 1e-6 for it in items)


def test_difficulty_knob():
    easy = ShapesWorld(30, difficulty="easy")
    hard = ShapesWorld(30, difficulty="hard")
    assert all(len(it["objects"]) == 1 and it["objects"][0]["pattern"] == "solid" for it in easy)
    assert max(len(it["objects"]) for it in hard) == 3
    assert set(DIFFICULTIES) == {"easy", "medium", "hard"}
    with pytest.raises(ValueError, match="difficulty"):
        ShapesWorld(3, difficulty="impossible")
    with pytest.raises(ValueError, match="split"):
        ShapesWorld(3, split="training")
    with pytest.raises(IndexError):
        ShapesWorld(3)[3]


@pytest.mark.parametrize("shape", list(SHAPE_TESTS))
def test_shape_tests_are_centred_and_fill_their_square(shape):
    x, y = np.meshgrid(np.linspace(-1.2, 1.2, 241), np.linspace(-1.2, 1.2, 241))
    inside = SHAPE_TESTS[shape](x, y)
    assert inside[120, 120]  # the centre is inside
    assert not inside[np.maximum(np.abs(x), np.abs(y)) > 1.01].any()  # within [-1, 1]²
    fill = inside.mean() * 2.4**2 / 4  # the fraction of [-1, 1]² inside the shape
    assert abs(fill - FILL[shape]) < 0.01


# ---------------------------------------------------------------- augmentations


def _white_object(size=64):
    """An image that is its own mask: a white rectangle on black."""
    mask = torch.zeros(size, size, dtype=torch.bool)
    mask[10:40, 20:56] = True
    return mask.float().expand(3, -1, -1).clone(), mask


@pytest.mark.parametrize("make", [
    lambda: augment.mae_transform(48),
    lambda: augment.simclr_transform(48, color=False, blur_p=0),
    lambda: augment.MultiCrop(64, 32, n_local=2).local.transforms[0],  # its crop step
])
def test_masks_follow_the_crops(make):
    image, mask = _white_object()
    transform = make()
    for _ in range(10):
        out, out_mask = augment.apply(transform, image, mask)
        assert out.shape[-2:] == out_mask.shape and out_mask.dtype == torch.bool
        agree = ((out.mean(0) > 0.5) == out_mask).float().mean()
        assert agree > 0.95


def test_two_views_differ_and_keep_size():
    image = ShapesWorld(1)[0]["image"]
    a, b = augment.TwoViews(48)(image)
    assert a.shape == b.shape == (3, 48, 48) and not torch.equal(a, b)
    assert 0 <= a.min() and a.max() <= 1


def test_multicrop_returns_globals_then_locals_with_masks():
    item = ShapesWorld(1)[0]
    crops, masks = augment.MultiCrop(64, 32, n_local=5)(item["image"], item["foreground"])
    assert [c.shape[-1] for c in crops] == [64, 64, 32, 32, 32, 32, 32]
    assert [m.shape for m in masks] == [c.shape[-2:] for c in crops]
    assert len(augment.MultiCrop(n_local=3)(item["image"])) == 5


def test_views_are_reproducible_from_torch_seed():
    image = ShapesWorld(1)[0]["image"]
    torch.manual_seed(7)
    a = augment.MultiCrop(n_local=2)(image)
    torch.manual_seed(7)
    b = augment.MultiCrop(n_local=2)(image)
    assert all(torch.equal(x, y) for x, y in zip(a, b))


def test_mae_transform_stays_in_range():
    out = augment.apply(augment.mae_transform(64), ShapesWorld(1)[0]["image"])
    assert out.shape == (3, 64, 64) and 0 <= out.min() and out.max() <= 1


# ---------------------------------------------------------------- dataset entry point


def test_get_dataset_shapes_default():
    train, val = get_datasets("shapes", 32, size=8)
    assert len(train) == len(val) == 8 and train[0]["image"].shape == (3, 32, 32)
    assert not torch.equal(train[0]["image"], val[0]["image"])
    cropped = get_dataset("shapes", "train", 64, size=4, transform=augment.mae_transform(40))
    item = cropped[0]
    assert item["image"].shape == (3, 40, 40) and item["foreground"].shape == (40, 40)
    union = torch.zeros(40, 40, dtype=torch.bool)
    for obj in item["objects"]:
        assert obj["mask"].shape == (40, 40)
        union |= obj["mask"]
    assert torch.equal(union, item["foreground"])  # every mask got the same crop


@pytest.mark.parametrize("name", ["cifar10", "stl10", "pets"])
def test_missing_real_dataset_is_one_sentence(name, tmp_path):
    with pytest.raises(DatasetError) as error:
        get_dataset(name, "train", 32, root=tmp_path)
    message = str(error.value)
    assert "download=True" in message and str(tmp_path) in message and message.count(".") <= 3
    assert "\n" not in message


def test_unknown_names_are_one_sentence(tmp_path):
    with pytest.raises(ValueError, match="Unknown data set"):
        get_dataset("imagenet")
    with pytest.raises(ValueError, match="no split"):
        get_dataset("cifar10", "unlabeled", root=tmp_path)
    with pytest.raises(DatasetError, match="does not exist"):
        get_dataset("folder", root=tmp_path / "nowhere")
    with pytest.raises(DatasetError, match="No images"):
        get_dataset("folder", root=tmp_path)


def test_image_folder_classes_and_split(tmp_path):
    rng = np.random.default_rng(0)
    for cls in ("cat", "dog"):
        (tmp_path / cls).mkdir()
        for i in range(10):
            pixels = rng.integers(0, 255, (20 + i, 30, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / cls / f"{i}.png")
    train, val = get_dataset("folder", "train", 16, root=tmp_path), get_dataset(tmp_path, "val", 16)
    assert len(train) == 18 and len(val) == 2 and train.classes == ["cat", "dog"]
    item = val[1]
    assert item["image"].shape == (3, 16, 16) and item["label"] == 1 and item["image"].max() <= 1


def test_pets_items_carry_foreground_masks(tmp_path):
    """A two-image stand-in with the Oxford-IIIT Pets layout: trimap 1 pet, 2 background, 3 border."""
    base = tmp_path / "oxford-iiit-pet"
    (base / "images").mkdir(parents=True)
    (base / "annotations" / "trimaps").mkdir(parents=True)
    lines = []
    for i, name in enumerate(["Abyssinian_1", "beagle_2"]):
        Image.fromarray(np.full((40, 60, 3), 200, np.uint8)).save(base / "images" / f"{name}.jpg")
        trimap = np.full((40, 60), 2, np.uint8)
        trimap[10:30, 20:40], trimap[10, 20:40] = 1, 3
        Image.fromarray(trimap).save(base / "annotations" / "trimaps" / f"{name}.png")
        lines.append(f"{name} {i + 1} {i + 1} 1")
    for split in ("trainval", "test"):
        (base / "annotations" / f"{split}.txt").write_text("\n".join(lines) + "\n")
    item = get_dataset("pets", "train", 20, root=tmp_path)[1]
    assert item["image"].shape == (3, 20, 20) and item["label"] == 1
    assert item["foreground"].shape == (20, 20) and item["foreground"].dtype == torch.bool
    # resize to short side 20 (40x60 → 20x30), centre crop 20: the pet spans the middle 10 x 10
    assert item["foreground"][5:15, 5:15].all() and item["foreground"].sum() == 100


# ---------------------------------------------------------------- figures


def test_figures_draw():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from course_lib.viz import data as viz

    ds = ShapesWorld(6, split="test")
    item = ds[0]
    figures = [
        viz.shapes_gallery(ds, n=6, cols=3, show_masks=True),
        viz.shapes_gallery(ds, n=4, captions=False),
        viz.object_masks_figure(item),
        viz.views_grid(item["image"], augment.mae_transform(48), n=3, mask=item["foreground"]),
        viz.views_grid(item["image"], augment.simclr_transform(48), n=2),
        viz.multicrop_figure(item["image"], augment.MultiCrop(64, 32, n_local=3)),
    ]
    assert len(figures[0].axes) == 4 * 3 and len(figures[2].axes) == 1 + len(item["objects"])
    overlay = viz.mask_overlay(item["image"], item["foreground"])
    assert overlay.shape == (64, 64, 3) and 0 <= overlay.min() and overlay.max() <= 1
    for fig in figures:
        plt.close(fig)
