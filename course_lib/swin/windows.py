"""Swin's windows as pure tensor functions: cut a feature map into M × M windows and glue it back,
index the relative position bias, and build the mask of the shifted windows.

    (B, H, W, C) ──window_partition──▶ (B·nW, M, M, C) ──window_reverse──▶ (B, H, W, C)

After the cyclic shift by s = ⌊M/2⌋, the last window row and column mix tokens from parts of the
image that were not neighbours; `shift_regions` labels those parts and `shifted_window_mask`
puts −100 (exp(−100) ≈ 0 after the softmax) between tokens of different parts.
"""

import torch
import torch.nn.functional as F


def window_partition(x, window_size):
    """Cut a feature map into non-overlapping square windows.

    Args:
        x: (B, H, W, C), H and W multiples of `window_size`.
        window_size: M.
    Returns:
        (B · H/M · W/M, M, M, C): windows of image 0 first, row by row.
    """
    # BEGIN SOLUTION
    B, H, W, C = x.shape
    M = window_size
    x = x.view(B, H // M, M, W // M, M, C)  # (B, H/M, M, W/M, M, C)
    x = x.permute(0, 1, 3, 2, 4, 5)  # (B, H/M, W/M, M, M, C): window row, window column first
    return x.reshape(-1, M, M, C)  # (B·nW, M, M, C)
    # END SOLUTION


def window_reverse(windows, window_size, H, W):
    """Inverse of `window_partition`: glue the windows back into feature maps.

    Args:
        windows: (B · H/M · W/M, M, M, C).
        window_size: M.
        H, W: height and width of the feature map.
    Returns:
        (B, H, W, C).
    """
    M = window_size
    C = windows.shape[-1]
    n = (H // M) * (W // M)  # windows per map, in row-major order
    # F.fold is the inverse of cutting a map into blocks: it takes each window as one column of
    # C·M·M numbers (channel-major), so the exercise's reshapes are not written out twice
    cols = windows.reshape(-1, n, M * M, C).transpose(1, 3).reshape(-1, C * M * M, n)  # (B, C·M·M, n)
    x = F.fold(cols, (H, W), kernel_size=M, stride=M)  # (B, C, H, W)
    return x.permute(0, 2, 3, 1).contiguous()  # (B, H, W, C)


def relative_position_index(window_size):
    """Index into the bias table for every (query, key) pair of one M × M window.

    Two tokens at (y1, x1) and (y2, x2) are (y1 − y2, x1 − x2) apart, each in [−(M−1), M−1]:
    (2M − 1)² possible offsets, one row of the table each.
    Returns:
        (M², M²) long tensor with values in [0, (2M − 1)²).
    """
    M = window_size
    ys, xs = torch.meshgrid(torch.arange(M), torch.arange(M), indexing="ij")
    coords = torch.stack([ys.flatten(), xs.flatten()])  # (2, M²): row and column of each token
    rel = coords[:, :, None] - coords[:, None, :]  # (2, M², M²): offsets between all pairs
    rel = rel.permute(1, 2, 0) + (M - 1)  # (M², M², 2), shifted to start at 0
    return rel[..., 0] * (2 * M - 1) + rel[..., 1]  # (M², M²): row-major index of the offset


def shift_regions(H, W, window_size, shift_size):
    """Label the regions of a feature map after the cyclic shift (Swin paper, Fig. 4).

    Rolling by `shift_size` brings the top rows and left columns to the bottom and right: the
    last window row and column then mix tokens from up to 3 × 3 = 9 regions that were not
    neighbours in the image. Returns an (H, W) long tensor of region labels 0..8.
    """
    M, s = window_size, shift_size
    labels = torch.zeros(H, W, dtype=torch.long)
    bands = (slice(0, -M), slice(-M, -s), slice(-s, None))  # inside, last window, wrapped part
    for i, rows in enumerate(bands):
        for j, cols in enumerate(bands):
            labels[rows, cols] = 3 * i + j
    return labels


def shifted_window_mask(H, W, window_size, shift_size):
    """The SW-MSA attention mask: 0 inside a region, −100 between regions (exp(−100) ≈ 0).

    Returns:
        (nW, M², M²) float tensor, nW = (H/M)(W/M); added to the scores of each window.
    """
    # BEGIN SOLUTION
    M = window_size
    labels = shift_regions(H, W, window_size, shift_size)[None, :, :, None]  # (1, H, W, 1)
    labels = window_partition(labels, M).reshape(-1, M * M)  # (nW, M²)
    same = labels[:, None, :] == labels[:, :, None]  # (nW, M², M²): same region?
    return torch.zeros(same.shape).masked_fill(~same, -100.0)
    # END SOLUTION

