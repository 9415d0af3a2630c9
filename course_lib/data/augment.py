"""Augmentation pipelines of the three self-supervised methods, with torchvision.transforms.v2.

- SimCLR: random resized crop, flip, colour jitter (p = 0.8), grayscale (p = 0.2), blur; two
  independent draws t, t' give the two views of an image.
- DINO multi-crop: 2 global crops (large scale, full resolution) + N local crops (small scale,
  low resolution); the teacher sees only the global ones, the student sees all.
- MAE: random resized crop + flip only; masking 75% of the patches is the hard part of the task.

Images are float tensors (3, H, W) in [0, 1]. Every pipeline also takes an optional boolean mask
(H, W) (an object's or the foreground): wrapped as `tv_tensors.Mask`, it receives the same crop
and flip as the image (nearest-neighbour resize) and no colour change, so that attention maps of
a crop can still be scored against the ground truth. Randomness comes from torch's generator:
seed it (the engine does, per sample) for reproducible views.
"""

import torch
from torchvision import tv_tensors
from torchvision.transforms import v2


def _blur(size, p):
    """Gaussian blur with a kernel of about 10% of the image side (odd), sigma in [0.1, 2]."""
    kernel = max(3, int(0.1 * size) // 2 * 2 + 1)
    return v2.RandomApply([v2.GaussianBlur(kernel, sigma=(0.1, 2.0))], p=p)


def _color(strength, jitter_p=0.8, gray_p=0.2):
    """SimCLR's colour distortion: jitter of `strength` with probability 0.8, then grayscale."""
    s = strength
    jitter = v2.ColorJitter(brightness=0.8 * s, contrast=0.8 * s, saturation=0.8 * s, hue=0.2 * s)
    return [v2.RandomApply([jitter], p=jitter_p), v2.RandomGrayscale(p=gray_p)]


def apply(transform, image, mask=None):
    """Run a v2 transform on an image, and on a mask with the same geometry if one is given.

    Args:
        image: (3, H, W) float in [0, 1].
        mask: None or (H, W) bool.
    Returns:
        the transformed image (3, h, w) as a plain tensor, or (image, mask (h, w) bool).
    """
    if mask is None:
        return transform(tv_tensors.Image(image)).as_subclass(torch.Tensor)
    out, out_mask = transform(tv_tensors.Image(image), tv_tensors.Mask(mask.bool()))
    return out.as_subclass(torch.Tensor), out_mask.as_subclass(torch.Tensor).bool()


def simclr_transform(size, min_scale=0.08, strength=0.5, blur_p=0.5, crop=True, color=True):
    """One random SimCLR view t ~ T (the paper's Appendix A, strength 0.5 as for CIFAR).

    `crop=False` / `color=False` drop one family of augmentations (Figure 5's ablation).
    """
    steps = []
    if crop:
        steps += [v2.RandomResizedCrop(size, scale=(min_scale, 1.0), antialias=True),
                  v2.RandomHorizontalFlip()]
    else:
        steps += [v2.Resize((size, size), antialias=True)]
    if color:
        steps += _color(strength)
    if blur_p > 0:
        steps += [_blur(size, blur_p)]
    return v2.Compose(steps)


class TwoViews:
    """t, t' ~ T: `TwoViews(size)(image)` → (view_a, view_b), each (3, size, size).

    With a mask, returns ((view_a, mask_a), (view_b, mask_b)).
    """

    def __init__(self, size, **options):
        self.transform = simclr_transform(size, **options)

    def __call__(self, image, mask=None):
        return apply(self.transform, image, mask), apply(self.transform, image, mask)


class MultiCrop:
    """DINO's multi-crop: 2 global crops and `n_local` local crops of one image.

    Args:
        global_size, local_size: output sides in pixels (DINO: 224 and 96 for 224-px images).
        n_local: number of local crops (DINO: 6 to 10).
        global_scale, local_scale: ranges of the crops' area as a fraction of the image (DINO:
            (0.4, 1) and (0.05, 0.4); the two ranges meet, so local crops are "smaller parts").
    Call: `crops = multicrop(image)` → list of 2 + n_local tensors, global ones first; with a mask,
    `crops, masks = multicrop(image, mask)`.
    """

    def __init__(self, global_size=64, local_size=32, n_local=6, global_scale=(0.4, 1.0),
                 local_scale=(0.05, 0.4), strength=0.5):
        self.n_local = n_local
        flip_color = [v2.RandomHorizontalFlip(), *_color(strength)]

        def crop(size, scale):
            return v2.RandomResizedCrop(size, scale=scale, antialias=True)

        # as in DINO: the first global view is always blurred, the second rarely but may be solarized
        self.global_1 = v2.Compose([crop(global_size, global_scale), *flip_color, _blur(global_size, 1.0)])
        self.global_2 = v2.Compose([crop(global_size, global_scale), *flip_color, _blur(global_size, 0.1),
                                    v2.RandomSolarize(threshold=0.5, p=0.2)])
        self.local = v2.Compose([crop(local_size, local_scale), *flip_color, _blur(local_size, 0.5)])

    def __call__(self, image, mask=None):
        transforms = [self.global_1, self.global_2] + [self.local] * self.n_local
        views = [apply(t, image, mask) for t in transforms]
        if mask is None:
            return views
        return [v for v, _ in views], [m for _, m in views]


def mae_transform(size, scale=(0.2, 1.0)):
    """MAE's pre-training augmentation: random resized crop (bicubic) and horizontal flip only."""
    crop = v2.RandomResizedCrop(size, scale=scale, interpolation=v2.InterpolationMode.BICUBIC, antialias=True)
    # bicubic can overshoot [0, 1]: clamp so that the pixel targets stay images
    return v2.Compose([crop, v2.RandomHorizontalFlip(), v2.Lambda(_clamp01, tv_tensors.Image)])


def _clamp01(image):
    return image.clamp(0.0, 1.0)


def eval_transform(size):
    """Deterministic evaluation view: resize the short side to `size`, then centre-crop a square."""
    return v2.Compose([v2.Resize(size, antialias=True), v2.CenterCrop(size)])
