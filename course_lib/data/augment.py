"""Augmentations of the self-supervised methods: one implementation, on whole batches.

    SimCLR  TwoViews:    t, t′ ~ T = random resized crop + flip → colour distortion (→ blur)
    DINO    MultiCrop:   2 global crops (blurred; the second sometimes solarized) + N local crops
    MAE     mae_transform: random resized crop + flip only (masking is the hard part of the task)
    CLIP    random_shift: a few pixels of translation only (captions name left, right, above)

Every step draws its own random parameters *per image* but computes the whole batch at once, on
whatever device the images are on, so a GPU is not starved by per-image CPU work. Randomness comes
from torch's global generator (the engine seeds it per step). Hand-written rather than taken from
kornia.augmentation: each step is a few lines of the paper's recipe, which is the lesson, and
`python benchmarks/augment_speed.py` measures both on this machine (see its docstring).

Images are float (B, 3, H, W) in [0, 1], or one image (3, H, W). A step may also take boolean
masks (an object's, or the foreground): it gets the same crop and flip
(nearest neighbour) and no colour change, so attention maps of a crop can still be scored.
"""

import math

import torch
import torch.nn.functional as F

from course_lib.data.color import color_distortion, gaussian_blur, solarize


# -- the operations, per sample on a batch ------------------------------------------------------
def crop_boxes(B, scale, ratio=(3 / 4, 4 / 3), flip=True, device="cpu", turn="none"):
    """Random boxes as affine maps: theta (B, 2, 3) from output to input coordinates in [-1, 1].

    A box keeps a fraction `scale` of the area with aspect ∈ `ratio`, lies inside the image, and is
    mirrored half the time: x_in = ±w·x_out + cx, y_in = h·y_out + cy (w, h: fractions of the side).
    `turn` also rotates each view: "quarter" by a random multiple of 90° (R maps the square
    [-1, 1]² onto itself), "any" by a random angle, shrunk by 1 / (|cos| + |sin|) so that the turned
    square still fits in the box: x_in = A·R·x_out + c.
    """
    area = torch.empty(B, device=device).uniform_(*scale)  # (B,) fraction of the image kept
    log_r = torch.empty(B, device=device).uniform_(math.log(ratio[0]), math.log(ratio[1]))
    w = (area * log_r.exp()).sqrt().clamp(max=1.0)  # (B,) box width / image width
    h = (area / log_r.exp()).sqrt().clamp(max=1.0)
    cx = (torch.rand(B, device=device) * 2 - 1) * (1 - w)  # box centre, inside the image
    cy = (torch.rand(B, device=device) * 2 - 1) * (1 - h)
    sign = torch.ones(B, device=device)
    if flip:
        sign = torch.where(torch.rand(B, device=device) < 0.5, -1.0, 1.0)
    theta = torch.zeros(B, 2, 3, device=device)
    theta[:, 0, 0], theta[:, 0, 2] = w * sign, cx
    theta[:, 1, 1], theta[:, 1, 2] = h, cy
    if turn and turn != "none":
        theta[:, :, :2] = theta[:, :, :2] @ rotations(B, turn, device)  # (B, 2, 2) · (B, 2, 2)
    return theta


def rotations(B, turn="quarter", device="cpu"):
    """B random rotation matrices (B, 2, 2): by k · 90° ("quarter", exact 0 and ±1) or by any angle
    ("any", scaled by 1 / (|cos| + |sin|) so that a turned square fits in the original)."""
    if turn == "quarter":
        angle = torch.randint(0, 4, (B,), device=device) * (math.pi / 2)
        cos, sin = angle.cos().round(), angle.sin().round()
    else:
        angle = torch.rand(B, device=device) * (2 * math.pi)
        cos, sin = angle.cos(), angle.sin()
        fit = 1 / (cos.abs() + sin.abs())  # (B,) ≤ 1
        cos, sin = cos * fit, sin * fit
    return torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)


def warp(x, theta, size, mode="bilinear"):
    """Sample x (B, C, H, W) on the boxes `theta` (B, 2, 3) → (B, C, size, size)."""
    grid = F.affine_grid(theta, (x.shape[0], x.shape[1], size, size), align_corners=False)  # (B, s, s, 2)
    return F.grid_sample(x, grid, mode=mode, padding_mode="border", align_corners=False)


def resized_crop(x, size, scale=(0.2, 1.0), ratio=(3 / 4, 4 / 3), flip=True, mode="bilinear", turn="none"):
    """Per image: a random box of `scale` of the area, resized to size², flipped half the time
    (and turned, with `turn` "quarter" or "any"; see `crop_boxes`)."""
    return warp(x, crop_boxes(x.shape[0], scale, ratio, flip, x.device, turn), size, mode)


def resize(x, size):
    """(B, C, H, W) → (B, C, size, size); a no-op when the size already matches."""
    if x.shape[-2:] == (size, size):
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)


def shift(x, offsets, max_shift):
    """Translate each image of x (B, C, H, W), repeating the edge pixels. `offsets` (2, B): row and
    column of each image's window in x padded by `max_shift`, in [0, 2·max_shift] (max_shift: no move)."""
    B, C, H, W = x.shape
    p, (dy, dx) = max_shift, offsets.to(x.device)  # dy, dx: (B,)
    padded = F.pad(x, (p, p, p, p), mode="replicate")  # (B, C, H + 2p, W + 2p)
    rows = (dy[:, None] + torch.arange(H, device=x.device))[:, None, :, None]  # (B, 1, H, 1)
    cols = (dx[:, None] + torch.arange(W, device=x.device))[:, None, None, :]  # (B, 1, 1, W)
    b = torch.arange(B, device=x.device)[:, None, None, None]  # (B, 1, 1, 1)
    c = torch.arange(C, device=x.device)[None, :, None, None]  # (1, C, 1, 1)
    return padded[b, c, rows, cols]  # (B, C, H, W)


def random_shift(x, max_shift):
    """Shift each image of (B, C, H, W) by up to `max_shift` px in x and y, repeating the edges.
    CLIP on ShapesWorld uses it alone: no flips or turns, the captions say "left of" and "above"."""
    offsets = torch.randint(0, 2 * max_shift + 1, (2, x.shape[0]), device=x.device)  # (2, B)
    return shift(x, offsets, max_shift)


# -- steps: the operations as objects that carry a mask along -----------------------------------
class RandomResizedCrop:
    """A geometric step: the same box for the image and its mask (nearest neighbour)."""

    def __init__(self, size, scale=(0.2, 1.0), ratio=(3 / 4, 4 / 3), flip=True, mode="bilinear", turn="none"):
        self.size, self.scale, self.ratio, self.flip, self.mode = size, scale, ratio, flip, mode
        self.turn = turn

    def __call__(self, x, mask=None):
        size = self.size or x.shape[-1]  # size None: keep the input's size
        theta = crop_boxes(x.shape[0], self.scale, self.ratio, self.flip, x.device, self.turn)  # (B, 2, 3)
        out = warp(x, theta, size, self.mode)
        if self.mode == "bicubic":  # bicubic can overshoot [0, 1]: keep the pixels images
            out = out.clamp(0, 1)
        return out, _masks(mask, lambda m: warp(m, theta, size, "nearest"))


class CenterView:
    """Deterministic evaluation view: resize the short side to `size`, centre-crop a square."""

    def __init__(self, size):
        self.size = size

    def __call__(self, x, mask=None):
        H, W = x.shape[-2:]
        scale = self.size / min(H, W)
        h, w = max(self.size, round(H * scale)), max(self.size, round(W * scale))
        top, left = (h - self.size) // 2, (w - self.size) // 2
        box = (slice(None), slice(None), slice(top, top + self.size), slice(left, left + self.size))
        out = F.interpolate(x, size=(h, w), mode="bilinear", antialias=True, align_corners=False)[box]
        return out, _masks(mask, lambda m: F.interpolate(m, size=(h, w), mode="nearest")[box])


def _masks(mask, geometry):
    """Apply an image step's geometry to bool masks (B, H, W) or (B, K, H, W); None stays None."""
    if mask is None:
        return None
    m = mask.float() if mask.dim() == 4 else mask.float()[:, None]  # (B, K, H, W)
    out = geometry(m) > 0.5  # (B, K, h, w)
    return out if mask.dim() == 4 else out[:, 0]


class Pixelwise:
    """A photometric step (colour, blur, solarize): changes the image, leaves the mask alone."""

    def __init__(self, fn, **options):
        self.fn, self.options = fn, options

    def __call__(self, x, mask=None):
        return self.fn(x, **self.options), mask


class Compose:
    """Steps in order: `Compose([crop, colour])(x, mask)` → (x, mask)."""

    def __init__(self, transforms):
        self.transforms = list(transforms)

    def __call__(self, x, mask=None):
        for t in self.transforms:
            x, mask = t(x, mask)
        return x, mask


def apply(transform, image, mask=None):
    """Run a transform on one image (3, H, W) or a batch (B, 3, H, W), with an optional mask.

    The mask is (H, W) or (K, H, W) for one image (K masks drawn with the same crop), (B, H, W)
    or (B, K, H, W) for a batch. Returns the transformed image (as given: one or a batch), or
    (image, mask) when a mask is given.
    """
    single = image.dim() == 3
    x = image[None] if single else image
    m = None if mask is None else (mask[None] if single else mask).bool()
    out, out_mask = transform(x, m)
    if single:
        out, out_mask = out[0], None if out_mask is None else out_mask[0]
    return out if mask is None else (out, out_mask)


# -- the methods' pipelines -----------------------------------------------------------------------
def simclr_transform(size, min_scale=0.2, strength=0.5, blur_p=0.0, crop=True, color=True, hue=None,
                     turn="none", blur_sigma=(0.1, 2.0)):
    """One random SimCLR view t ~ T, scaled to small images (the paper's Appendix A).

    Random resized crop (area `min_scale`–100%, aspect 3/4–4/3) with a flip (and a random turn
    with `turn` = "quarter" or "any"), then colour distortion of strength 0.5 (as for CIFAR), then blur with
    probability `blur_p`. `crop=False` / `color=False` drop one family of augmentations (the
    paper's Figure 5).
    """
    steps = [RandomResizedCrop(size, (min_scale, 1.0), turn=turn)] if crop else [Pixelwise(resize, size=size)]
    if color:
        steps.append(Pixelwise(color_distortion, strength=strength, hue=hue))
    if blur_p > 0:
        steps.append(Pixelwise(gaussian_blur, p=blur_p, sigma=blur_sigma))
    return Compose(steps)


class TwoViews:
    """t, t′ ~ T: `TwoViews(size)(images)` → (view_a, view_b), two independent draws per image.

    Takes one image (3, H, W) or a batch (B, 3, H, W); with a mask, returns ((view_a, mask_a),
    (view_b, mask_b)). Options are those of `simclr_transform`.
    """

    def __init__(self, size, crop=True, color=True, min_scale=0.2, strength=0.5, hue=None, blur_p=0.0,
                 turn="none", blur_sigma=(0.1, 2.0)):
        self.transform = simclr_transform(size, min_scale, strength, blur_p, crop, color, hue, turn,
                                          blur_sigma)

    def __call__(self, images, mask=None):
        return apply(self.transform, images, mask), apply(self.transform, images, mask)


class MultiCrop:
    """DINO's multi-crop: 2 global crops and `n_local` local crops of every image.

    Args:
        global_size, local_size: output sides in pixels (DINO: 224 and 96 for 224-px images).
        n_local: number of local crops (DINO: 6 to 10).
        global_scale, local_scale: ranges of the crops' area as a fraction of the image (DINO:
            (0.4, 1) and (0.05, 0.4); the two ranges meet, so local crops are "smaller parts").
    Call: `crops = multicrop(images)` → list of 2 + n_local tensors, global ones first; with a
    mask, `crops, masks = multicrop(images, mask)`.
    """

    def __init__(self, global_size=64, local_size=32, n_local=6, global_scale=(0.4, 1.0),
                 local_scale=(0.05, 0.4), strength=0.5):
        self.n_local = n_local
        color = Pixelwise(color_distortion, strength=strength)
        # as in DINO: the first global view is always blurred, the second rarely but may be solarized
        self.global_1 = Compose([RandomResizedCrop(global_size, global_scale), color,
                                 Pixelwise(gaussian_blur, p=1.0)])
        self.global_2 = Compose([RandomResizedCrop(global_size, global_scale), color,
                                 Pixelwise(gaussian_blur, p=0.1), Pixelwise(solarize, p=0.2)])
        self.local = Compose([RandomResizedCrop(local_size, local_scale), color,
                              Pixelwise(gaussian_blur, p=0.5)])

    def __call__(self, images, mask=None):
        transforms = [self.global_1, self.global_2] + [self.local] * self.n_local
        views = [apply(t, images, mask) for t in transforms]
        if mask is None:
            return views
        return [v for v, _ in views], [m for _, m in views]


def mae_transform(size, scale=(0.2, 1.0)):
    """MAE's pre-training augmentation: random resized crop (bicubic) and horizontal flip only."""
    return Compose([RandomResizedCrop(size, scale, mode="bicubic")])


def eval_transform(size):
    """Deterministic evaluation view: resize the short side to `size`, then centre-crop a square."""
    return Compose([CenterView(size)])
