"""Rasterising ShapesWorld's pictures: shapes as pixel tests, patterns, strokes, smooth noise.

Everything here is deterministic geometry on numpy grids: the random choices (which shape, where,
which colour) are made by `course_lib.data.shapes.ShapesWorld`, which calls these functions.
A shape is a boolean test on local coordinates, so a whole object is drawn in a few vectorized
operations (a few hundred microseconds per image, benchmarks/shapes_speed.py).
"""

import numpy as np

# ---------------------------------------------------------------- shapes as pixel tests
# Each test takes local coordinates (x, y), in units of half the object's size (the shape fills
# the square [-1, 1]²; y points up), and returns a boolean mask.


def circle(x, y):
    return x * x + y * y <= 1.0


def square(x, y):
    return np.maximum(np.abs(x), np.abs(y)) <= 1.0


def triangle(x, y):
    # apex at (0, 1), base from (-1, -0.9) to (1, -0.9)
    return (y >= -0.9) & (np.abs(x) <= (1.0 - y) / 1.9)


def star(x, y, points=5, inner=0.5):
    # Fold every angle into the half-sector [0, pi/points] between an outer tip P1 = (1, 0) and
    # an inner corner P2; inside means on the origin's side of the edge P1 -> P2.
    rho = np.sqrt(x * x + y * y)
    half = np.pi / points
    phi = np.mod(np.arctan2(x, y), 2 * half)  # angle from "up", within one sector
    phi = np.minimum(phi, 2 * half - phi)  # mirror into [0, half]
    dx, dy = inner * np.cos(half) - 1.0, inner * np.sin(half)  # P2 - P1
    return dx * rho * np.sin(phi) - dy * (rho * np.cos(phi) - 1.0) >= 0


def cross(x, y, arm=1.0 / 3.0):
    ax, ay = np.abs(x), np.abs(y)
    return ((ax <= arm) & (ay <= 1.0)) | ((ay <= arm) & (ax <= 1.0))


def heart(x, y):
    # (x² + y² - 1)³ - x² y³ <= 0 spans x in ±1.14 and y in [-1, 1.24]: rescale to [-1, 1]².
    x, y = 1.14 * x, 1.14 * y + 0.118
    x2, r = x * x, x * x + y * y - 1.0
    return r * r * r - x2 * y * y * y <= 0  # products: much faster than ** on float arrays


SHAPE_TESTS = {
    "circle": circle,
    "square": square,
    "triangle": triangle,
    "star": star,
    "cross": cross,
    "heart": heart,
}

# Fraction of its square [-1, 1]² that each shape covers (tested against the pixel tests): the
# expected area of a shape of side S is FILL[shape] · S².
FILL = {"circle": np.pi / 4, "square": 1.0, "triangle": 0.475, "star": 0.367, "cross": 5 / 9, "heart": 0.70}


# ---------------------------------------------------------------- an object in its own frame


def local_frame(grid, position, size, rotation):
    """The pixels an object may cover, in the object's rotated coordinates.

    Args:
        grid: (n,) pixel centres of the image.
        position: (x, y) centre in pixels; size: side of the object's square; rotation: degrees.
    Returns:
        (rows, cols) slices of the image, and x, y: (h, w) local coordinates in units of half
        the size, y pointing up (the frame of the pixel tests).
    """
    n, half = len(grid), size / 2
    cx, cy = position
    reach = 1.5 * half  # covers the corners of any rotated shape
    r0, r1 = max(int(cy - reach), 0), min(int(cy + reach) + 1, n)
    c0, c1 = max(int(cx - reach), 0), min(int(cx + reach) + 1, n)
    dx = (grid[None, c0:c1] - cx) / half  # (1, w) in units of half the size
    dy = (grid[r0:r1, None] - cy) / half  # (h, 1), pointing down
    angle = np.deg2rad(rotation)
    cos, sin = float(np.cos(angle)), float(np.sin(angle))
    x = cos * dx + sin * dy  # (h, w): local coordinates, rotated with the object
    y = sin * dx - cos * dy  # (h, w), pointing up
    return (slice(r0, r1), slice(c0, c1)), x, y


def pattern_field(kind, x, y, freq):
    """Where the pattern shows its second colour: (h, w) float32 in [0, 1]; `freq` periods per half-size."""
    if kind == "solid":
        return np.zeros_like(x)
    if kind == "stripes":
        return (np.mod(x * freq, 1.0) < 0.5).astype(np.float32)
    if kind == "dots":
        fx, fy = np.mod(x * freq, 1.0) - 0.5, np.mod(y * freq, 1.0) - 0.5
        return (fx * fx + fy * fy < 0.09).astype(np.float32)
    if kind == "checker":
        return np.mod(np.floor(x * freq) + np.floor(y * freq), 2).astype(np.float32)
    return np.clip((x + 1) / 2, 0, 1).astype(np.float32)  # gradient, along the object's own x axis


def pattern_colors(base, kind, x, y, freq):
    """The object's colour field (3, h, w): `base` (3,) mixed with a shade of it by the pattern."""
    luminance = base @ np.array([0.3, 0.59, 0.11], np.float32)
    shade = base * 0.6 if luminance > 0.35 else base + 0.4 * (1 - base)  # darker, or lighter if dark
    m = pattern_field(kind, x, y, freq)[None]  # (1, h, w)
    return (1 - m) * base[:, None, None] + m * shade[:, None, None]  # (3, h, w)


# ---------------------------------------------------------------- background and strokes


def interpolation_matrix(n_out, n_in):
    """(n_out, n_in) bilinear weights: M @ v upsamples a length-n_in signal to n_out samples."""
    pos = (np.arange(n_out) + 0.5) * (n_in - 1) / n_out
    lo = np.minimum(pos.astype(int), n_in - 2)
    frac = pos - lo
    m = np.zeros((n_out, n_in), np.float32)
    m[np.arange(n_out), lo] = 1 - frac
    m[np.arange(n_out), lo + 1] = frac
    return m


def segment_distance(grid, p0, p1):
    """Distance of every pixel centre to the segment p0 -> p1 (points as (x, y)): (H, W)."""
    x, y = grid[None, :], grid[:, None]  # (1, W), (H, 1)
    d = p1 - p0
    t = ((x - p0[0]) * d[0] + (y - p0[1]) * d[1]) / max(float(d @ d), 1e-6)
    t = np.clip(t, 0.0, 1.0)  # (H, W): position of the nearest point along the segment
    return np.hypot(x - p0[0] - t * d[0], y - p0[1] - t * d[1])


def blend_line(image, grid, p0, p1, half_width, color, alpha):
    """Blend a straight line p0 -> p1 of `color` (3,) into `image` (3, H, W), in place."""
    line = segment_distance(grid, p0, p1) <= half_width  # (H, W)
    image[:, line] = (1 - alpha) * image[:, line] + alpha * color[:, None]
