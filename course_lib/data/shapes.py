"""ShapesWorld: the kit's embedded data set, drawn on the fly from a seed.

Every image holds one or a few coloured, patterned shapes on a plain grey background. Each item
is a dict with the image, the exact mask of every object, a label (the shape of the largest
object) and a caption ("a large red triangle above a small blue circle").

Object-centric by design: what tells one image from another must be its objects, not its
background. A first version with small objects on image-specific backgrounds (gradients,
stripes, blotches) taught DINO to separate images by background, and its attention avoided the
objects. So here objects are large (a main object of 28-46 px at 64 px, sometimes a smaller
second one: a quarter of the pixels on average), carry the variety (6 shapes, 12 colours, 5
patterns, any rotation), and every background is drawn from the same statistics: grey with a
small tint, smooth low-amplitude noise, fine grain and at most two faint strokes. The second
object covers at most 60% of the main one's area and lies under it, so the label (the shape of
the largest object) is always decided by a clear margin.

This module samples the scenes (which objects, where, in which colours) and assembles the items;
`course_lib.data.drawing` rasterises them (each shape a boolean test on a grid of pixel
coordinates: a few hundred microseconds per image) and `course_lib.data.vocabulary` holds the
colours, patterns, held-out compositions and captions.
"""

import hashlib
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from course_lib.data.drawing import (
    FILL,
    SHAPE_TESTS,
    blend_line,
    interpolation_matrix,
    local_frame,
    pattern_colors,
)
from course_lib.data.vocabulary import (
    COLOR_RGB,
    HELD_OUT,
    PATTERNS,
    SPLITS,
    allowed_colors,
    caption,
    relation,
    vocabulary,
)


@dataclass(frozen=True)
class Difficulty:
    """How hard the images are. Sizes are in pixels at 64 px and scale with the image size."""

    objects: tuple = (1, 2)  # min, max number of objects
    size: tuple = (28, 46)  # min, max side of the main (largest) object's square
    small_size: float = 14  # smallest side of the other objects
    # The other objects cover at most this fraction of the main object's area, and lie under it:
    # "the shape of the largest object" (the label) is never a close call.
    area_ratio: float = 0.6
    patterns: tuple = PATTERNS
    strokes: int = 2  # at most this many faint strokes of clutter
    stroke_alpha: float = 0.2
    tint: float = 0.03  # background: grey level 0.5 ± 0.08, plus ± tint per channel
    noise: float = 0.04  # amplitude of the smooth background noise
    grain: float = 0.03  # amplitude of the per-pixel grain
    min_distance: float = 0.85  # objects' centres at least this × their mean size apart


DIFFICULTIES = {
    "easy": Difficulty(objects=(1, 1), size=(30, 46), patterns=("solid",), strokes=0, noise=0.02, grain=0.01),
    "medium": Difficulty(),  # the setting that made DINO attend to objects (issue 3)
    "hard": Difficulty(objects=(1, 3), size=(20, 40), small_size=12, area_ratio=0.75, strokes=4,
                       stroke_alpha=0.35, tint=0.06, noise=0.08, grain=0.05, min_distance=0.6),
}


def item_seed(seed, split, index):
    """A 64-bit seed from a hash of (seed, split, index): splits never share a random stream."""
    digest = hashlib.blake2b(f"shapesworld/{seed}/{split}/{index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


class ShapesWorld(Dataset):
    """Procedural images of shapes with exact masks, labels and captions.

    Args:
        size: number of items, `len(ds)`.
        img_size: side H = W in pixels; object sizes scale with it (defined at 64 px).
        seed: the world's seed; item i of a split is a pure function of (seed, split, i).
        split: "train", "val", "test", or "held_out" (every object is a HELD_OUT composition;
            "train" never draws those).
        difficulty: "easy", "medium" (default) or "hard", or a `Difficulty`.

    `ds[i]` is a dict: image (3, H, W) float in [0, 1]; foreground (H, W) bool, the union of the
    objects' masks; objects, a list of dicts (shape, color, pattern, size in px, size_word,
    position (x, y) of the centre in px, rotation in degrees, mask (H, W) bool of the visible
    pixels, area); label, the index in SHAPES of the object with the largest visible area;
    caption, a sentence over `ShapesWorld.vocabulary()`.
    """

    SHAPES = tuple(SHAPE_TESTS)
    COLORS = tuple(COLOR_RGB)
    PATTERNS = PATTERNS
    HELD_OUT = HELD_OUT
    SPLITS = SPLITS
    num_classes = len(SHAPE_TESTS)

    def __init__(self, size, img_size=64, seed=0, split="train", difficulty="medium"):
        if split not in SPLITS:
            raise ValueError(f"Unknown split {split!r}: choose one of {', '.join(SPLITS)}.")
        if isinstance(difficulty, str):
            if difficulty not in DIFFICULTIES:
                choices = ", ".join(DIFFICULTIES)
                raise ValueError(f"Unknown difficulty {difficulty!r}: choose one of {choices}.")
            difficulty = DIFFICULTIES[difficulty]
        self.size, self.img_size, self.seed, self.split = int(size), int(img_size), seed, split
        self.difficulty = difficulty
        self.scale = self.img_size / 64.0
        n = self.img_size
        self._grid = np.arange(n, dtype=np.float32) + 0.5  # pixel centres
        self._upsample = interpolation_matrix(n, 5)  # smooth noise: 5 x 5 control points
        self._colors = allowed_colors(split, self.SHAPES, self.COLORS)
        # "large" = more area than the median main object (area, not side: a star of side 40
        # covers less than a square of side 30), so that about half the main objects are "large"
        sides = np.linspace(*difficulty.size, 101) * self.scale
        self._large_area = float(np.median(np.array(list(FILL.values()))[:, None] * sides**2))

    def __len__(self):
        return self.size

    def __getitem__(self, index):
        index = int(index)  # a numpy or torch integer names the same item as the int
        if not -self.size <= index < self.size:
            raise IndexError(f"Index {index} is out of range for a ShapesWorld of {self.size} items.")
        image, objects = self.render(index % self.size)
        return self._to_item(image, objects)

    # ------------------------------------------------------------------ public helpers

    @classmethod
    def vocabulary(cls):
        """Every word a caption can use, sorted: a word-level tokenizer over this covers them all."""
        return vocabulary(cls.SHAPES, cls.COLORS)

    @classmethod
    def is_held_out(cls, color, shape):
        return (color, shape) in cls.HELD_OUT

    def batch(self, indices):
        """Many items at once, stacked for training.

        Returns a dict: image (B, 3, H, W) float, foreground (B, H, W) bool, label (B,) long,
        caption (list of B str), objects (list of B lists).
        """
        return self.collate([self._to_item(*self.render(int(i))) for i in indices])

    @staticmethod
    def collate(items):
        """`collate_fn` for a DataLoader over ShapesWorld items (their object lists differ in length)."""
        return {
            "image": torch.stack([it["image"] for it in items]),  # (B, 3, H, W)
            "foreground": torch.stack([it["foreground"] for it in items]),  # (B, H, W)
            "label": torch.tensor([it["label"] for it in items], dtype=torch.long),  # (B,)
            "caption": [it["caption"] for it in items],
            "objects": [it["objects"] for it in items],
        }

    caption = staticmethod(caption)  # "a large red triangle above a small blue circle"
    _relation = staticmethod(relation)  # "above", "below", "to the left of", "to the right of"

    def render(self, index):
        """Draw item `index`: returns image (3, H, W) float32 numpy and the objects (masks numpy)."""
        rng = np.random.default_rng(item_seed(self.seed, self.split, int(index)))
        image = self._background(rng)
        for _ in range(rng.integers(0, self.difficulty.strokes + 1)):
            self._draw_stroke(image, rng)
        objects = self._place_objects(rng)
        covered = np.zeros((self.img_size,) * 2, bool)
        for obj in objects:
            self._draw_object(image, obj, rng)
        for obj in reversed(objects):  # the last drawn is on top: earlier masks lose what it covers
            obj["mask"] &= ~covered
            covered |= obj["mask"]
            obj["area"] = int(obj["mask"].sum())
        np.clip(image, 0.0, 1.0, out=image)
        objects.sort(key=lambda o: -o["area"])  # largest visible object first
        return image, objects

    # ------------------------------------------------------------------ drawing

    def _background(self, rng):
        """Grey with a small tint, smooth low-amplitude noise and fine grain: (3, H, W) float32."""
        d, n = self.difficulty, self.img_size
        level = 0.5 + rng.uniform(-0.08, 0.08) + rng.uniform(-d.tint, d.tint, size=(3, 1, 1))
        control = rng.standard_normal((3, 5, 5), dtype=np.float32) * d.noise  # (3, 5, 5)
        smooth = self._upsample @ control @ self._upsample.T  # (3, H, W)
        grain = (rng.random((n, n), dtype=np.float32) - 0.5) * (2 * d.grain)  # (H, W), all channels
        return (smooth + grain + level).astype(np.float32)

    def _draw_stroke(self, image, rng):
        """A faint straight line of random colour, about 1.5 px wide (at 64 px)."""
        n = self.img_size
        p0, p1 = rng.uniform(0, n, size=2), rng.uniform(0, n, size=2)
        color = np.asarray(COLOR_RGB[self.COLORS[rng.integers(len(self.COLORS))]], np.float32)
        blend_line(image, self._grid, p0, p1, 0.75 * self.scale, color, self.difficulty.stroke_alpha)

    def _place_objects(self, rng):
        """Sample the objects' attributes: one main object, then smaller ones (listed first, so drawn
        under it) whose centres keep away from the others' so that they are rarely hidden."""
        d = self.difficulty
        lo, hi = d.size[0] * self.scale, d.size[1] * self.scale
        shape, color = self._sample_composition(rng)
        large = self._large_area
        main = self._new_object(rng, shape, color, rng.uniform(lo, hi), [], large)
        objects = [main]
        for _ in range(rng.integers(d.objects[0], d.objects[1] + 1) - 1):
            shape, color = self._sample_composition(rng)
            max_area = d.area_ratio * FILL[main["shape"]] * main["size"] ** 2
            largest = min(hi, np.sqrt(max_area / FILL[shape]))  # side at which it reaches max_area
            if largest < d.small_size * self.scale:
                continue  # no room for a clearly smaller object of this shape
            size = rng.uniform(d.small_size * self.scale, largest)
            objects.insert(0, self._new_object(rng, shape, color, size, objects, large))
        return objects

    def _new_object(self, rng, shape, color, size, others, large_area):
        x, y = self._sample_position(rng, size, others)
        patterns = self.difficulty.patterns
        return {
            "shape": shape, "color": color, "pattern": patterns[rng.integers(len(patterns))],
            "size": float(size), "size_word": "large" if FILL[shape] * size**2 >= large_area else "small",
            "position": (float(x), float(y)), "rotation": float(rng.uniform(0, 360)),
        }

    def _sample_position(self, rng, size, objects, tries=48):
        """A centre (x, y) keeping the object inside the image and away from the others' centres."""
        n, d = self.img_size, self.difficulty
        candidates = rng.uniform(size / 2, n - size / 2, size=(tries, 2))  # (tries, 2)
        if not objects:
            return candidates[0]
        centres = np.array([o["position"] for o in objects])  # (K, 2)
        needed = d.min_distance * (size + np.array([o["size"] for o in objects])) / 2  # (K,)
        dist = np.linalg.norm(candidates[:, None] - centres[None], axis=-1)  # (tries, K)
        ok = np.flatnonzero((dist >= needed).all(axis=1))
        # the first candidate far enough from everyone, else the one farthest from its nearest
        return candidates[ok[0]] if len(ok) else candidates[np.argmax((dist - needed).min(axis=1))]

    def _sample_composition(self, rng):
        shape = self.SHAPES[rng.integers(len(self.SHAPES))]
        colors = self._colors[shape]
        return shape, colors[rng.integers(len(colors))]

    def _draw_object(self, image, obj, rng):
        """Paint one object into `image` (in place) and store its full mask in obj["mask"]."""
        n = self.img_size
        (rows, cols), x, y = local_frame(self._grid, obj["position"], obj["size"], obj["rotation"])
        inside = SHAPE_TESTS[obj["shape"]](x, y)  # (h, w) bool
        base = np.asarray(COLOR_RGB[obj["color"]], np.float32) + rng.normal(0, 0.03, 3).astype(np.float32)
        freq = rng.uniform(1.5, 2.5)  # pattern periods per half-size
        paint = pattern_colors(base, obj["pattern"], x, y, freq)  # (3, h, w)
        np.copyto(image[:, rows, cols], paint, where=inside[None])  # paint inside the shape only
        obj["mask"] = np.zeros((n, n), bool)
        obj["mask"][rows, cols] = inside

    # ------------------------------------------------------------------ items

    def _foreground(self, objects):
        fg = np.zeros((self.img_size,) * 2, bool)
        for o in objects:
            fg |= o["mask"]
        return fg

    def _label(self, objects):
        return self.SHAPES.index(objects[0]["shape"])  # objects are sorted by visible area

    def _to_item(self, image, objects):
        fg = self._foreground(objects)
        label, text = self._label(objects), self.caption(objects)
        for o in objects:
            o["mask"] = torch.from_numpy(o["mask"])
        return {
            "image": torch.from_numpy(image),
            "foreground": torch.from_numpy(fg),
            "objects": objects,
            "label": label,
            "caption": text,
        }
