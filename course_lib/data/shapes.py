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

Drawing is vectorized numpy: each shape is a boolean test on a grid of pixel coordinates, so an
image costs a few hundred microseconds (benchmarks/shapes_speed.py).
"""

import hashlib
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

SPLITS = ("train", "val", "test", "held_out")


# ---------------------------------------------------------------- shapes as pixel tests
# Each test takes local coordinates (x, y), in units of half the object's size (the shape fills
# the square [-1, 1]²; y points up), and returns a boolean mask.


def _circle(x, y):
    return x * x + y * y <= 1.0


def _square(x, y):
    return np.maximum(np.abs(x), np.abs(y)) <= 1.0


def _triangle(x, y):
    # apex at (0, 1), base from (-1, -0.9) to (1, -0.9)
    return (y >= -0.9) & (np.abs(x) <= (1.0 - y) / 1.9)


def _star(x, y, points=5, inner=0.5):
    # Fold every angle into the half-sector [0, pi/points] between an outer tip P1 = (1, 0) and
    # an inner corner P2; inside means on the origin's side of the edge P1 -> P2.
    rho = np.sqrt(x * x + y * y)
    half = np.pi / points
    phi = np.mod(np.arctan2(x, y), 2 * half)  # angle from "up", within one sector
    phi = np.minimum(phi, 2 * half - phi)  # mirror into [0, half]
    dx, dy = inner * np.cos(half) - 1.0, inner * np.sin(half)  # P2 - P1
    return dx * rho * np.sin(phi) - dy * (rho * np.cos(phi) - 1.0) >= 0


def _cross(x, y, arm=1.0 / 3.0):
    ax, ay = np.abs(x), np.abs(y)
    return ((ax <= arm) & (ay <= 1.0)) | ((ay <= arm) & (ax <= 1.0))


def _heart(x, y):
    # (x² + y² - 1)³ - x² y³ <= 0 spans x in ±1.14 and y in [-1, 1.24]: rescale to [-1, 1]².
    x, y = 1.14 * x, 1.14 * y + 0.118
    x2, r = x * x, x * x + y * y - 1.0
    return r * r * r - x2 * y * y * y <= 0  # products: much faster than ** on float arrays


SHAPE_TESTS = {
    "circle": _circle,
    "square": _square,
    "triangle": _triangle,
    "star": _star,
    "cross": _cross,
    "heart": _heart,
}

# Fraction of its square [-1, 1]² that each shape covers (tested against the pixel tests): the
# expected area of a shape of side S is FILL[shape] · S².
FILL = {"circle": np.pi / 4, "square": 1.0, "triangle": 0.475, "star": 0.367, "cross": 5 / 9, "heart": 0.70}

COLOR_RGB = {
    "red": (0.86, 0.12, 0.12),
    "orange": (0.97, 0.53, 0.07),
    "yellow": (0.97, 0.88, 0.16),
    "lime": (0.62, 0.92, 0.22),
    "green": (0.10, 0.55, 0.22),
    "cyan": (0.16, 0.82, 0.88),
    "blue": (0.16, 0.30, 0.92),
    "navy": (0.07, 0.10, 0.45),
    "purple": (0.53, 0.20, 0.76),
    "pink": (0.98, 0.56, 0.76),
    "brown": (0.50, 0.30, 0.12),
    "white": (0.97, 0.97, 0.97),
}

PATTERNS = ("solid", "stripes", "dots", "checker", "gradient")

# Colour x shape pairs the train split never shows (each colour and each shape still appears in
# train with other partners): CLIP can be tested on compositions it never saw.
HELD_OUT = (
    ("purple", "circle"),
    ("green", "square"),
    ("blue", "triangle"),
    ("red", "star"),
    ("orange", "cross"),
    ("yellow", "heart"),
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


def _interpolation_matrix(n_out, n_in):
    """(n_out, n_in) bilinear weights: M @ v upsamples a length-n_in signal to n_out samples."""
    pos = (np.arange(n_out) + 0.5) * (n_in - 1) / n_out
    lo = np.minimum(pos.astype(int), n_in - 2)
    frac = pos - lo
    m = np.zeros((n_out, n_in), np.float32)
    m[np.arange(n_out), lo] = 1 - frac
    m[np.arange(n_out), lo + 1] = frac
    return m


class ShapesWorld(Dataset):
    """Procedural images of shapes with exact masks, labels and captions.

    Args:
        size: number of items, `len(ds)`.
        image_size: side H = W in pixels; object sizes scale with it (defined at 64 px).
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

    def __init__(self, size, image_size=64, seed=0, split="train", difficulty="medium"):
        if split not in SPLITS:
            raise ValueError(f"Unknown split {split!r}: choose one of {', '.join(SPLITS)}.")
        if isinstance(difficulty, str):
            if difficulty not in DIFFICULTIES:
                choices = ", ".join(DIFFICULTIES)
                raise ValueError(f"Unknown difficulty {difficulty!r}: choose one of {choices}.")
            difficulty = DIFFICULTIES[difficulty]
        self.size, self.image_size, self.seed, self.split = int(size), int(image_size), seed, split
        self.difficulty = difficulty
        self.scale = self.image_size / 64.0
        n = self.image_size
        self._grid = np.arange(n, dtype=np.float32) + 0.5  # pixel centres
        self._upsample = _interpolation_matrix(n, 5)  # smooth noise: 5 x 5 control points
        self._colors = self._allowed_colors()
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
        words = {"a", "large", "small", "above", "below", "to", "the", "left", "right", "of", "and"}
        return sorted(words | set(cls.SHAPES) | set(cls.COLORS))

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

    def render(self, index):
        """Draw item `index`: returns image (3, H, W) float32 numpy and the objects (masks numpy)."""
        rng = np.random.default_rng(item_seed(self.seed, self.split, int(index)))
        image = self._background(rng)
        for _ in range(rng.integers(0, self.difficulty.strokes + 1)):
            self._draw_stroke(image, rng)
        objects = self._place_objects(rng)
        covered = np.zeros((self.image_size,) * 2, bool)
        for obj in objects:
            self._draw_object(image, obj, rng)
        for obj in reversed(objects):  # the last drawn is on top: earlier masks lose what it covers
            obj["mask"] &= ~covered
            covered |= obj["mask"]
            obj["area"] = int(obj["mask"].sum())
        np.clip(image, 0.0, 1.0, out=image)
        objects.sort(key=lambda o: -o["area"])  # largest visible object first
        return image, objects

    def caption(self, objects):
        """"a large red triangle above a small blue circle": objects by visible area, largest first."""
        phrases = [f"a {o['size_word']} {o['color']} {o['shape']}" for o in objects]
        if len(objects) == 1:
            return phrases[0]
        text = f"{phrases[0]} {self._relation(objects[0], objects[1])} {phrases[1]}"
        return " and ".join([text] + phrases[2:])

    # ------------------------------------------------------------------ drawing

    def _background(self, rng):
        """Grey with a small tint, smooth low-amplitude noise and fine grain: (3, H, W) float32."""
        d, n = self.difficulty, self.image_size
        level = 0.5 + rng.uniform(-0.08, 0.08) + rng.uniform(-d.tint, d.tint, size=(3, 1, 1))
        control = rng.standard_normal((3, 5, 5), dtype=np.float32) * d.noise  # (3, 5, 5)
        smooth = self._upsample @ control @ self._upsample.T  # (3, H, W)
        grain = (rng.random((n, n), dtype=np.float32) - 0.5) * (2 * d.grain)  # (H, W), all channels
        return (smooth + grain + level).astype(np.float32)

    def _draw_stroke(self, image, rng):
        """A faint straight line of random colour, about 1.5 px wide (at 64 px)."""
        n = self.image_size
        p0, p1 = rng.uniform(0, n, size=2), rng.uniform(0, n, size=2)
        dist = self._segment_distance(p0, p1)  # (H, W)
        line = dist <= 0.75 * self.scale
        color = np.asarray(COLOR_RGB[self.COLORS[rng.integers(len(self.COLORS))]], np.float32)
        alpha = self.difficulty.stroke_alpha
        image[:, line] = (1 - alpha) * image[:, line] + alpha * color[:, None]

    def _segment_distance(self, p0, p1):
        """Distance of every pixel centre to the segment p0 -> p1 (points as (x, y)): (H, W)."""
        x, y = self._grid[None, :], self._grid[:, None]  # (1, W), (H, 1)
        d = p1 - p0
        t = ((x - p0[0]) * d[0] + (y - p0[1]) * d[1]) / max(float(d @ d), 1e-6)
        t = np.clip(t, 0.0, 1.0)  # (H, W): position of the nearest point along the segment
        return np.hypot(x - p0[0] - t * d[0], y - p0[1] - t * d[1])

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
        n, d = self.image_size, self.difficulty
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

    def _allowed_colors(self):
        """Per shape, the colours this split may draw (train never draws a HELD_OUT pair)."""
        allowed = {}
        for shape in self.SHAPES:
            held = [c for c in self.COLORS if (c, shape) in HELD_OUT]
            if self.split == "train":
                allowed[shape] = [c for c in self.COLORS if c not in held]
            elif self.split == "held_out":
                allowed[shape] = held
            else:
                allowed[shape] = list(self.COLORS)
        return allowed

    def _draw_object(self, image, obj, rng):
        """Paint one object into `image` (in place) and store its full mask in obj["mask"]."""
        n, half = self.image_size, obj["size"] / 2
        cx, cy = obj["position"]
        reach = 1.5 * half  # covers the corners of any rotated shape
        r0, r1 = max(int(cy - reach), 0), min(int(cy + reach) + 1, n)
        c0, c1 = max(int(cx - reach), 0), min(int(cx + reach) + 1, n)
        dx = (self._grid[None, c0:c1] - cx) / half  # (1, w) in units of half the size
        dy = (self._grid[r0:r1, None] - cy) / half  # (h, 1), pointing down
        angle = np.deg2rad(obj["rotation"])
        cos, sin = float(np.cos(angle)), float(np.sin(angle))
        x = cos * dx + sin * dy  # (h, w): local coordinates, rotated with the object
        y = sin * dx - cos * dy  # (h, w), pointing up
        inside = SHAPE_TESTS[obj["shape"]](x, y)  # (h, w) bool
        paint = self._pattern_colors(obj, x, y, rng)  # (3, h, w)
        np.copyto(image[:, r0:r1, c0:c1], paint, where=inside[None])  # paint inside the shape only
        obj["mask"] = np.zeros((n, n), bool)
        obj["mask"][r0:r1, c0:c1] = inside

    def _pattern_colors(self, obj, x, y, rng):
        """The object's colour field (3, h, w): its colour mixed with a shade by the pattern."""
        base = np.asarray(COLOR_RGB[obj["color"]], np.float32) + rng.normal(0, 0.03, 3).astype(np.float32)
        luminance = base @ np.array([0.3, 0.59, 0.11], np.float32)
        shade = base * 0.6 if luminance > 0.35 else base + 0.4 * (1 - base)  # darker, or lighter if dark
        freq = rng.uniform(1.5, 2.5)  # pattern periods per half-size
        kind = obj["pattern"]
        if kind == "solid":
            m = np.zeros_like(x)
        elif kind == "stripes":
            m = (np.mod(x * freq, 1.0) < 0.5).astype(np.float32)
        elif kind == "dots":
            fx, fy = np.mod(x * freq, 1.0) - 0.5, np.mod(y * freq, 1.0) - 0.5
            m = (fx * fx + fy * fy < 0.09).astype(np.float32)
        elif kind == "checker":
            m = np.mod(np.floor(x * freq) + np.floor(y * freq), 2).astype(np.float32)
        else:  # gradient, along the object's own x axis
            m = np.clip((x + 1) / 2, 0, 1).astype(np.float32)
        m = m[None]  # (1, h, w)
        return (1 - m) * base[:, None, None] + m * shade[:, None, None]  # (3, h, w)

    # ------------------------------------------------------------------ items

    def _foreground(self, objects):
        fg = np.zeros((self.image_size,) * 2, bool)
        for o in objects:
            fg |= o["mask"]
        return fg

    def _label(self, objects):
        return self.SHAPES.index(objects[0]["shape"])  # objects are sorted by visible area

    @staticmethod
    def _relation(a, b):
        """Where a is relative to b, from the image's point of view (y grows downwards)."""
        dx, dy = a["position"][0] - b["position"][0], a["position"][1] - b["position"][1]
        if abs(dy) >= abs(dx):
            return "above" if dy < 0 else "below"
        return "to the left of" if dx < 0 else "to the right of"

    def _to_item(self, image, objects):
        fg = self._foreground(objects)
        label, caption = self._label(objects), self.caption(objects)
        for o in objects:
            o["mask"] = torch.from_numpy(o["mask"])
        return {
            "image": torch.from_numpy(image),
            "foreground": torch.from_numpy(fg),
            "objects": objects,
            "label": label,
            "caption": caption,
        }
