"""ShapesWorld's vocabulary: its colours, patterns and splits, the compositions held out of
training, and the captions that put them into words ("a large red triangle above a small blue
circle").

`course_lib.data.shapes.ShapesWorld` draws from these tables (its `SHAPES` are the pixel tests of
`course_lib.data.drawing`); CLIP's word tokenizer is built over `vocabulary(...)`.
"""

SPLITS = ("train", "val", "test", "held_out")

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

# The words of a caption other than shapes and colours
CAPTION_WORDS = ("a", "large", "small", "above", "below", "to", "the", "left", "right", "of", "and")


def allowed_colors(split, shapes, colors):
    """Per shape, the colours `split` may draw: train never draws a HELD_OUT pair, held_out only those."""
    allowed = {}
    for shape in shapes:
        held = [c for c in colors if (c, shape) in HELD_OUT]
        if split == "train":
            allowed[shape] = [c for c in colors if c not in held]
        elif split == "held_out":
            allowed[shape] = held
        else:
            allowed[shape] = list(colors)
    return allowed


def vocabulary(shapes, colors):
    """Every word a caption can use, sorted: a word-level tokenizer over this covers them all."""
    return sorted(set(CAPTION_WORDS) | set(shapes) | set(colors))


def relation(a, b):
    """Where object a is relative to object b, from the image's point of view (y grows downwards)."""
    dx, dy = a["position"][0] - b["position"][0], a["position"][1] - b["position"][1]
    if abs(dy) >= abs(dx):
        return "above" if dy < 0 else "below"
    return "to the left of" if dx < 0 else "to the right of"


def caption(objects):
    """"a large red triangle above a small blue circle": objects by visible area, largest first."""
    phrases = [f"a {o['size_word']} {o['color']} {o['shape']}" for o in objects]
    if len(objects) == 1:
        return phrases[0]
    text = f"{phrases[0]} {relation(objects[0], objects[1])} {phrases[1]}"
    return " and ".join([text] + phrases[2:])
