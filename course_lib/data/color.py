"""Photometric augmentations on whole batches: colour distortion, blur, solarization.

SimCLR's lesson is that colour distortion is what stops colour histograms from solving the
contrastive task; DINO adds blur and solarization. Each operation draws its random parameters per
image and computes the batch at once. Images are float (B, 3, H, W) in [0, 1]. The pipelines that
combine these with crops are in `course_lib.data.augment`.
"""

import math

import torch
import torch.nn.functional as F

LUMA = (0.299, 0.587, 0.114)  # ITU-R 601 weights, as torchvision's grayscale
RGB_TO_YIQ = ((0.299, 0.587, 0.114), (0.596, -0.274, -0.322), (0.211, -0.523, 0.312))


def grayscale(x):
    """(B, 3, H, W) → (B, 1, H, W) luma."""
    return LUMA[0] * x[:, 0:1] + LUMA[1] * x[:, 1:2] + LUMA[2] * x[:, 2:3]


def hue_shift(x, angle):
    """Rotate the chroma of RGB (B, 3, H, W) by `angle` (B, 1, 1, 1) radians, in YIQ space."""
    to_yiq = torch.tensor(RGB_TO_YIQ, device=x.device, dtype=x.dtype)
    yiq = torch.einsum("ij,bjhw->bihw", to_yiq, x)  # (B, 3, H, W): luma Y, chroma (I, Q)
    cos, sin = angle.cos()[:, 0], angle.sin()[:, 0]  # (B, 1, 1)
    i, q = yiq[:, 1] * cos - yiq[:, 2] * sin, yiq[:, 1] * sin + yiq[:, 2] * cos  # (B, H, W) each
    rotated = torch.stack([yiq[:, 0], i, q], dim=1)  # (B, 3, H, W)
    return torch.einsum("ij,bjhw->bihw", torch.linalg.inv(to_yiq), rotated).clamp(0, 1)


def color_distortion(x, strength=0.5, p_jitter=0.8, p_gray=0.2, hue=None):
    """SimCLR's colour distortion, per image: brightness, contrast, saturation, hue, then grayscale.

    Factors are uniform in [1 − 0.8s, 1 + 0.8s] (hue: a shift of up to ±0.2s of the colour wheel),
    as torchvision's ColorJitter(0.8s, 0.8s, 0.8s, 0.2s) applied with probability `p_jitter`; the
    paper uses s = 1 on ImageNet and 0.5 on CIFAR-10. `hue` overrides the hue range (0.5 = the
    whole wheel, 0 = none).
    """
    B = x.shape[0]

    def factor(spread):  # (B, 1, 1, 1) uniform in [1 − spread, 1 + spread]
        return 1 + spread * (torch.rand(B, 1, 1, 1, device=x.device) * 2 - 1)

    jittered = (x * factor(0.8 * strength)).clamp(0, 1)  # brightness
    mean = grayscale(jittered).mean(dim=(2, 3), keepdim=True)  # (B, 1, 1, 1)
    jittered = ((jittered - mean) * factor(0.8 * strength) + mean).clamp(0, 1)  # contrast
    gray = grayscale(jittered)
    jittered = ((jittered - gray) * factor(0.8 * strength) + gray).clamp(0, 1)  # saturation
    hue = 0.2 * strength if hue is None else hue
    jittered = hue_shift(jittered, (factor(hue) - 1) * 2 * math.pi)  # hue 0: the identity
    x = torch.where(torch.rand(B, 1, 1, 1, device=x.device) < p_jitter, jittered, x)
    return torch.where(torch.rand(B, 1, 1, 1, device=x.device) < p_gray, grayscale(x).expand_as(x), x)


def gaussian_blur(x, p, sigma=(0.1, 2.0)):
    """Blur with probability p and a per-image sigma; kernel ≈ 10% of the side (odd)."""
    B, C, H, W = x.shape
    k = max(3, int(0.1 * H) // 2 * 2 + 1)
    s = torch.empty(B, device=x.device).uniform_(*sigma)  # (B,)
    r = torch.arange(k, device=x.device) - k // 2
    kernel = torch.exp(-(r[None] ** 2) / (2 * s[:, None] ** 2))  # (B, k)
    kernel = (kernel / kernel.sum(1, keepdim=True)).repeat_interleave(C, 0)  # (B·C, k)
    y = x.reshape(1, B * C, H, W)  # every channel of every image side by side: one grouped conv
    y = F.pad(y, (k // 2,) * 4, mode="reflect")
    y = F.conv2d(y, kernel[:, None, :, None], groups=B * C)  # vertical pass
    y = F.conv2d(y, kernel[:, None, None, :], groups=B * C)  # horizontal pass
    blur = torch.rand(B, 1, 1, 1, device=x.device) < p
    return torch.where(blur, y.reshape(B, C, H, W), x)


def solarize(x, p, threshold=0.5):
    """With probability p per image, invert the pixels at or above `threshold`."""
    hit = torch.rand(x.shape[0], 1, 1, 1, device=x.device) < p
    return torch.where(hit & (x >= threshold), 1.0 - x, x)
