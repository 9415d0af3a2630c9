"""DINO's multi-crop augmentation for whole batches, on the training device."""

import math

import torch
import torch.nn.functional as F


# -- multi-crop on whole batches (on the training device) -------------------------------------
# The same augmentation as `course_lib.data.augment.MultiCrop` (random resized crop, flip, colour
# jitter p = 0.8, grayscale p = 0.2, blur; the first global view always blurred, the second
# sometimes solarized), drawn per sample but computed for the whole batch at once, so that a GPU
# is not starved by per-image CPU transforms (those run at ~60 images/s per core).
def batch_resized_crop(x, size, scale, ratio=(3 / 4, 4 / 3)):
    """Per-sample random resized crop + horizontal flip: (B, C, H, W) → (B, C, size, size)."""
    B = x.shape[0]
    dev = x.device
    area = torch.empty(B, device=dev).uniform_(*scale)  # fraction of the image
    log_r = torch.empty(B, device=dev).uniform_(math.log(ratio[0]), math.log(ratio[1]))
    w = (area * log_r.exp()).sqrt().clamp(max=1.0)  # crop width, as a fraction of the image
    h = (area / log_r.exp()).sqrt().clamp(max=1.0)
    cx = (torch.rand(B, device=dev) * 2 - 1) * (1 - w)  # centre in [-1, 1] coordinates
    cy = (torch.rand(B, device=dev) * 2 - 1) * (1 - h)
    flip = torch.where(torch.rand(B, device=dev) < 0.5, -1.0, 1.0)
    theta = torch.zeros(B, 2, 3, device=dev)
    theta[:, 0, 0], theta[:, 0, 2] = w * flip, cx
    theta[:, 1, 1], theta[:, 1, 2] = h, cy
    grid = F.affine_grid(theta, (B, x.shape[1], size, size), align_corners=False)  # (B, size, size, 2)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def _per_sample(B, low, high, device):
    return torch.empty(B, 1, 1, 1, device=device).uniform_(low, high)


def batch_color(x, strength=0.5, jitter_p=0.8, gray_p=0.2):
    """SimCLR colour distortion per sample: brightness, contrast, saturation, hue, grayscale."""
    B, dev, s = x.shape[0], x.device, strength
    gray = (x * torch.tensor([0.299, 0.587, 0.114], device=dev)[:, None, None]).sum(1, keepdim=True)
    y = x * _per_sample(B, 1 - 0.8 * s, 1 + 0.8 * s, dev)  # brightness
    mean = y.mean(dim=(1, 2, 3), keepdim=True)
    y = (y - mean) * _per_sample(B, 1 - 0.8 * s, 1 + 0.8 * s, dev) + mean  # contrast
    g = (y * torch.tensor([0.299, 0.587, 0.114], device=dev)[:, None, None]).sum(1, keepdim=True)
    y = (y - g) * _per_sample(B, 1 - 0.8 * s, 1 + 0.8 * s, dev) + g  # saturation
    y = rotate_hue(y.clamp(0, 1), _per_sample(B, -0.2 * s, 0.2 * s, dev) * 2 * math.pi)
    jitter = torch.rand(B, 1, 1, 1, device=dev) < jitter_p
    y = torch.where(jitter, y, x)
    to_gray = torch.rand(B, 1, 1, 1, device=dev) < gray_p
    gray = (y * torch.tensor([0.299, 0.587, 0.114], device=dev)[:, None, None]).sum(1, keepdim=True)
    return torch.where(to_gray, gray.expand_as(y), y).clamp(0, 1)


RGB_TO_YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
YIQ_TO_RGB = torch.linalg.inv(RGB_TO_YIQ.double()).float()


def rotate_hue(x, angle):
    """Rotate the chroma of RGB images by `angle` radians (B, 1, 1, 1): x ↦ T⁻¹ R(angle) T x.

    T maps RGB to YIQ (Y = brightness, I/Q = colour plane); R rotates the I/Q plane.
    """
    B = x.shape[0]
    cos, sin = angle.reshape(B).cos(), angle.reshape(B).sin()  # (B,)
    rot = torch.zeros(B, 3, 3, device=x.device)
    rot[:, 0, 0] = 1.0  # brightness unchanged
    rot[:, 1, 1], rot[:, 1, 2], rot[:, 2, 1], rot[:, 2, 2] = cos, -sin, sin, cos
    m = YIQ_TO_RGB.to(x.device) @ rot @ RGB_TO_YIQ.to(x.device)  # (B, 3, 3)
    return torch.einsum("bij,bjhw->bihw", m, x)  # (B, 3, H, W)


def batch_blur(x, p, sigma=(0.1, 2.0)):
    """Gaussian blur with probability p and a per-sample sigma; kernel ≈ 10% of the side (odd)."""
    B, C, H, W = x.shape
    k = max(3, int(0.1 * H) // 2 * 2 + 1)
    s = torch.empty(B, device=x.device).uniform_(*sigma)  # (B,)
    r = torch.arange(k, device=x.device) - k // 2
    kernel = torch.exp(-(r[None] ** 2) / (2 * s[:, None] ** 2))  # (B, k)
    kernel = kernel / kernel.sum(1, keepdim=True)
    kernel = kernel.repeat_interleave(C, 0)  # (B*C, k): one kernel per image and channel
    y = x.reshape(1, B * C, H, W)  # channels of all images side by side, for a grouped conv
    y = F.pad(y, (k // 2,) * 4, mode="reflect")
    y = F.conv2d(y, kernel[:, None, :, None], groups=B * C)  # vertical pass
    y = F.conv2d(y, kernel[:, None, None, :], groups=B * C)  # horizontal pass
    blur = torch.rand(B, 1, 1, 1, device=x.device) < p
    return torch.where(blur, y.reshape(B, C, H, W), x)


def batch_multicrop(
    images,
    global_size=64,
    local_size=32,
    n_local=6,
    global_scale=(0.4, 1.0),
    local_scale=(0.05, 0.4),
    strength=0.5,
):
    """DINO's multi-crop for a batch: images (B, 3, H, W) in [0, 1] → list of 2 + n_local crops."""
    g1 = batch_blur(batch_color(batch_resized_crop(images, global_size, global_scale), strength), 1.0)
    g2 = batch_blur(batch_color(batch_resized_crop(images, global_size, global_scale), strength), 0.1)
    solarize = torch.rand(g2.shape[0], 1, 1, 1, device=g2.device) < 0.2
    g2 = torch.where(solarize & (g2 >= 0.5), 1.0 - g2, g2)
    crops = [g1, g2]
    for _ in range(n_local):
        local = batch_color(batch_resized_crop(images, local_size, local_scale), strength)
        crops.append(batch_blur(local, 0.5))
    return crops
