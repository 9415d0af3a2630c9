"""Images as sequences of patches: patchify / unpatchify and the patch embedding.

An image of H × W pixels cut into p × p patches gives L = (H/p)(W/p) tokens. Each token is the
patch's p·p·C numbers, in the order MAE uses: rows of the patch, then columns, then channels.
"""

from torch import nn


def check_divisible(height, width, patch_size):
    """Raise one clear sentence when the patch size does not tile the image."""
    if height % patch_size or width % patch_size:
        raise ValueError(
            f"Image size {height}×{width} is not a multiple of the patch size {patch_size}: "
            f"resize or crop the image to a multiple of {patch_size} pixels."
        )


def patchify(imgs, patch_size):
    """Cut images into flattened patches.

    Args:
        imgs: (B, C, H, W), with H and W multiples of `patch_size`.
        patch_size: p, the side of a square patch.
    Returns:
        (B, L, p*p*C) with L = (H/p)·(W/p), patches in row-major order; within a patch the
        values are ordered (row, column, channel), as in the official MAE code.
    """
    # BEGIN SOLUTION
    B, C, H, W = imgs.shape
    p = patch_size
    check_divisible(H, W, p)
    h, w = H // p, W // p
    x = imgs.reshape(B, C, h, p, w, p)  # (B, C, h, p, w, p)
    x = x.permute(0, 2, 4, 3, 5, 1)  # (B, h, w, p, p, C)
    return x.reshape(B, h * w, p * p * C)  # (B, L, p*p*C)
    # END SOLUTION


def unpatchify(x, patch_size, grid_size=None, channels=3):
    """Inverse of `patchify`.

    Args:
        x: (B, L, p*p*C).
        patch_size: p.
        grid_size: (h, w) patches per column and row; if None the grid is square.
        channels: C.
    Returns:
        (B, C, h*p, w*p).
    """
    B, L, D = x.shape
    p = patch_size
    if D != p * p * channels:
        raise ValueError(f"Last dimension {D} is not p*p*C = {p}*{p}*{channels}.")
    if grid_size is None:
        h = w = int(round(L**0.5))
        if h * w != L:
            raise ValueError(f"{L} patches do not form a square grid: pass grid_size=(h, w).")
    else:
        h, w = grid_size
    x = x.reshape(B, h, w, p, p, channels)  # (B, h, w, p, p, C)
    x = x.permute(0, 5, 1, 3, 2, 4)  # (B, C, h, p, w, p)
    return x.reshape(B, channels, h * p, w * p)


class PatchEmbed(nn.Module):
    """Linear projection of each p × p patch to a D-dim token, as a convolution with stride p.

    A conv with kernel p and stride p is exactly a linear layer applied to each flattened patch
    (tested), just faster. Key names follow timm/DINO: `proj.weight`, `proj.bias`.
    """

    def __init__(self, patch_size=16, in_chans=3, embed_dim=768, bias=True):
        super().__init__()
        self.patch_size = patch_size
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size, bias=bias)

    def forward(self, x):
        """x: (B, C, H, W) → (B, L, D) tokens, L = (H/p)(W/p)."""
        B, C, H, W = x.shape
        check_divisible(H, W, self.patch_size)
        x = self.proj(x)  # (B, D, H/p, W/p)
        return x.flatten(2).transpose(1, 2)  # (B, L, D)
