"""Positional embeddings: learned, 1-D and 2-D sin-cos, and resizing a table to a new grid.

Attention is permutation-invariant, so without positions a ViT sees a bag of patches. The
sin-cos tables follow "Attention is all you need" (1-D) and the official MAE code (2-D).
"""

import math

import torch
import torch.nn.functional as F
from torch import nn


def sincos_1d(embed_dim, positions):
    """1-D sin-cos embedding.

    PE(pos, i) = sin(pos / 10000^(i/(D/2))) for the first D/2 columns, cos(...) for the last D/2.

    Args:
        embed_dim: D (even).
        positions: (M,) positions (any float values).
    Returns:
        (M, D) float64-computed, returned as float32.
    """
    if embed_dim % 2:
        raise ValueError(f"embed_dim={embed_dim} must be even for a sin-cos table.")
    omega = torch.arange(embed_dim // 2, dtype=torch.float64) / (embed_dim / 2.0)
    omega = 1.0 / 10000**omega  # (D/2,) frequencies, from 1 down to 1/10000
    angles = positions.reshape(-1).to(torch.float64)[:, None] * omega[None, :]  # (M, D/2)
    return torch.cat([angles.sin(), angles.cos()], dim=1).float()  # (M, D)


def sincos_2d(embed_dim, grid_size, cls_token=False):
    """2-D sin-cos table, identical to the official MAE `get_2d_sincos_pos_embed`.

    The first D/2 columns encode the patch's *column* (x), the last D/2 its *row* (y). (In the MAE
    code the first half is called `emb_h`, but it is computed from the column index.)

    Args:
        embed_dim: D, a multiple of 4.
        grid_size: int or (h, w) patches per column and per row.
        cls_token: if True, prepend a row of zeros for the [CLS] token.
    Returns:
        (h*w, D), or (1 + h*w, D) with `cls_token`; rows in row-major patch order.
    """
    if embed_dim % 4:
        raise ValueError(f"embed_dim={embed_dim} must be a multiple of 4 for a 2-D sin-cos table.")
    # BEGIN SOLUTION
    h, w = (grid_size, grid_size) if isinstance(grid_size, int) else grid_size
    rows = torch.arange(h).repeat_interleave(w)  # (h*w,) 0,0,..,1,1,..
    cols = torch.arange(w).repeat(h)  # (h*w,) 0,1,..,0,1,..
    table = torch.cat([sincos_1d(embed_dim // 2, cols), sincos_1d(embed_dim // 2, rows)], dim=1)
    if cls_token:
        table = torch.cat([torch.zeros(1, embed_dim), table], dim=0)
    return table
    # END SOLUTION


def learned_1d(num_tokens, embed_dim, std=0.02):
    """A learned table (1, N, D), initialized from a truncated normal as in ViT/DeiT."""
    table = nn.Parameter(torch.zeros(1, num_tokens, embed_dim))
    nn.init.trunc_normal_(table, std=std)
    return table


def resize_grid_table(table, new_grid, num_prefix_tokens=1, mode="bicubic"):
    """Resize a positional table to a new patch grid (as DINO does to run at 480 px).

    The [CLS] row(s) are kept; the patch rows are viewed as an image (D channels, h × w) and
    interpolated to the new grid.

    Args:
        table: (1, prefix + h*w, D) with a square old grid h = w.
        new_grid: (h', w') patches.
        num_prefix_tokens: rows at the front that are not patches ([CLS]).
    Returns:
        (1, prefix + h'*w', D).
    """
    prefix, patches = table[:, :num_prefix_tokens], table[:, num_prefix_tokens:]
    _, L, D = patches.shape
    old = int(math.isqrt(L))
    if old * old != L:
        raise ValueError(f"The table's {L} patch positions do not form a square grid.")
    new_h, new_w = new_grid
    if (new_h, new_w) == (old, old):
        return table
    grid = patches.reshape(1, old, old, D).permute(0, 3, 1, 2)  # (1, D, h, w)
    grid = F.interpolate(grid.float(), size=(new_h, new_w), mode=mode, align_corners=False)
    patches = grid.permute(0, 2, 3, 1).reshape(1, new_h * new_w, D).to(table.dtype)  # (1, h'w', D)
    return torch.cat([prefix, patches], dim=1)


def embedding_similarity(table, grid_size):
    """Cosine similarity of each patch's positional embedding with every other's.

    The ViT paper's Figure 7 (centre): tile (i, j) shows how similar patch (i, j)'s embedding is to
    all others; learned tables rediscover rows and columns.

    Args:
        table: (h*w, D) patch rows only (no [CLS]).
        grid_size: (h, w).
    Returns:
        (h, w, h, w): [i, j] is the similarity map for patch (i, j).
    """
    h, w = grid_size
    unit = F.normalize(table.float(), dim=-1)  # (L, D)
    sim = unit @ unit.T  # (L, L)
    return sim.reshape(h, w, h, w)
