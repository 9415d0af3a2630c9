"""MAE reconstructions: the four panels of the demo and the masked-pixel errors, for any MAE.

    images in [0, 1] → standardize → mask, encode, decode → un-standardize
      → original | masked (removed patches grey) | reconstruction | reconstruction + visible

`reconstruct` is what the app page, notebook 08 and the recipe's evaluation call; `fixed_noise`
gives masks that are the same from run to run, so errors of two models are comparable. Models
and tensors in, numbers and images out: nothing here loads a checkpoint or draws a figure.
"""

from dataclasses import dataclass

import torch

from course_lib.data.rendered import IMAGENET_MEAN, IMAGENET_STD, standardize
from course_lib.patches import patchify, unpatchify


@dataclass
class Reconstruction:
    """The four panels of the MAE demo, as images (B, 3, H, W) in [0, 1], and the errors."""

    original: torch.Tensor
    masked: torch.Tensor  # removed patches shown dark grey
    reconstruction: torch.Tensor  # the decoder's prediction for every patch
    pasted: torch.Tensor  # reconstruction where removed, the original where visible
    mask: torch.Tensor  # (B, L) 1 = removed
    loss: float  # the training loss (normalized inputs; norm-pix targets if the model uses them)
    pixel_mse: torch.Tensor  # (B,) MSE over the removed pixels, in [0, 1] units


def fixed_noise(batch, num_patches, seed=0, device="cpu"):
    """Masking noise (batch, num_patches) drawn from its own generator: the same masks every call."""
    return torch.rand(batch, num_patches, generator=torch.Generator().manual_seed(seed)).to(device)


def unnormalize_with_visible(pred, target, mask, eps=1e-6):
    """Turn norm-pix predictions back into pixels using statistics of the VISIBLE patches.

    A norm-pix model predicts each patch up to its own mean and standard deviation. The masked
    patch's own statistics would put back exactly the information the model was asked to guess
    (its brightness and contrast): that leaks the answer. We use what the model was allowed to see:
    the average mean and the average variance of the visible patches of the same image.

    Args:
        pred: (B, L, P) predictions in normalized units.
        target: (B, L, P) the patchified input.
        mask: (B, L) 1 = removed.
    Returns:
        (B, L, P) predictions in the input's units.
    """
    visible = (1 - mask).unsqueeze(-1)  # (B, L, 1)
    count = visible.sum(dim=1).clamp(min=1)  # (B, 1)
    mean = (target.mean(-1, keepdim=True) * visible).sum(1) / count  # (B, 1) mean of patch means
    var = (target.var(-1, keepdim=True) * visible).sum(1) / count  # (B, 1) mean of patch variances
    return pred * (var.unsqueeze(1) + eps).sqrt() + mean.unsqueeze(1)  # (B, L, P)


@torch.no_grad()
def reconstruct(model, images, mask_ratio=0.75, noise=None, mask=None, mean=IMAGENET_MEAN,
                std=IMAGENET_STD, grey=0.15):
    """Mask, encode, decode: the four panels of the MAE demo.

    Args:
        model: a `MaskedAutoencoderViT` trained on inputs standardized with `mean`, `std`.
        images: (B, 3, H, W) in [0, 1].
        mask_ratio, noise, mask: as in `MaskedAutoencoderViT.forward`.
    Returns:
        a `Reconstruction`.
    """
    p = model.config.patch_size
    x = standardize(images, mean, std)  # (B, 3, H, W)
    loss, pred, mask = model(x, mask_ratio, noise=noise, mask=mask)  # pred (B, L, p*p*3)
    if model.config.norm_pix_loss:
        pred = unnormalize_with_visible(pred, patchify(x, p), mask)
    mean_t = torch.as_tensor(mean, device=images.device).view(1, -1, 1, 1)  # (1, 3, 1, 1)
    std_t = torch.as_tensor(std, device=images.device).view(1, -1, 1, 1)
    recon = (unpatchify(pred, p) * std_t + mean_t).clamp(0, 1)  # (B, 3, H, W) in [0, 1]
    pixel_mask = unpatchify(mask.unsqueeze(-1).expand(-1, -1, p * p * 3), p)  # (B, 3, H, W) 1 = removed
    pixel_mse = ((recon - images) ** 2 * pixel_mask).sum((1, 2, 3)) / pixel_mask.sum((1, 2, 3))  # (B,)
    return Reconstruction(
        original=images,
        masked=images * (1 - pixel_mask) + grey * pixel_mask,
        reconstruction=recon,
        pasted=images * (1 - pixel_mask) + recon * pixel_mask,
        mask=mask,
        loss=float(loss),
        pixel_mse=pixel_mse,
    )


def reconstruction_errors(model, images, mask_ratio, mean, std, seed=0):
    """Masked MSE of held-out images with fixed masks (noise `seed`), at `mask_ratio` and at 75%.

    Returns {"masked_mse", "masked_mse_75"} in standardized units (the training loss) and
    "pixel_mse_75", the error on the removed pixels in [0, 1] units.
    """
    noise = fixed_noise(len(images), model.config.num_patches, seed, images.device)  # (N, L)
    out = {}
    for name, ratio in (("masked_mse", mask_ratio), ("masked_mse_75", 0.75)):
        rec = reconstruct(model, images, ratio, noise=noise, mean=mean, std=std)
        out[name] = rec.loss
    out["pixel_mse_75"] = float(rec.pixel_mse.mean())
    return out
