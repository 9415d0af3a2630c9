"""The layers of the Swin paper: window attention with a relative position bias (W-MSA), the
block that shifts its windows every other time (SW-MSA), and patch merging.

Names and buffers are Microsoft's (`attn.relative_position_bias_table`, saved
`relative_position_index` and `attn_mask`), so the official checkpoints load with `strict=True`.
"""

import torch
from torch import nn

from course_lib.blocks import DropPath, Mlp
from course_lib.swin.windows import (
    relative_position_index,
    shifted_window_mask,
    window_partition,
    window_reverse,
)


class WindowAttention(nn.Module):
    """Multi-head self-attention inside each window, plus a learned relative position bias.

        Attention(Q, K, V) = softmax(Q Kᵀ / √d + B) V,  B[i, j] = table[index[i, j]] (one per head)

    Written with explicit matmuls (never the fused kernel) so the map can be returned and
    FLOP counters see the attention products.
    """

    def __init__(self, dim, window_size, num_heads, qkv_bias=True):
        super().__init__()
        self.window_size = window_size
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window_size - 1) ** 2, num_heads))
        self.register_buffer("relative_position_index", relative_position_index(window_size))
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)

    def relative_position_bias(self):
        """The bias B of every head: (heads, M², M²)."""
        N = self.window_size**2
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)]  # (N·N, heads)
        return bias.view(N, N, -1).permute(2, 0, 1)  # (heads, N, N)

    def forward(self, x, mask=None, return_attention=False):
        """x: (B·nW, N, C) windows of N = M² tokens; mask: (nW, N, N) or None.

        Returns (B·nW, N, C), and the map (B·nW, heads, N, N) if `return_attention`.
        """
        Bw, N, C = x.shape
        h = self.num_heads
        qkv = self.qkv(x).reshape(Bw, N, 3, h, C // h).permute(2, 0, 3, 1, 4)  # (3, B·nW, h, N, d)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = (q * self.scale) @ k.transpose(-2, -1)  # (B·nW, h, N, N)
        attn = attn + self.relative_position_bias()[None]  # same bias in every window
        if mask is not None:
            nW = mask.shape[0]
            attn = attn.view(Bw // nW, nW, h, N, N) + mask[None, :, None]  # (B, nW, h, N, N)
            attn = attn.view(Bw, h, N, N)
        attn = attn.softmax(dim=-1)
        x = (attn @ v).transpose(1, 2).reshape(Bw, N, C)  # (B·nW, N, h·d)
        x = self.proj(x)
        return (x, attn) if return_attention else x


class SwinTransformerBlock(nn.Module):
    """Pre-norm block whose attention runs in (shifted) windows.

    `shift_size=0` gives W-MSA, `shift_size=M//2` gives SW-MSA. When the feature map is no larger
    than a window, there is one window and nothing to shift (as in the official code).
    """

    def __init__(self, dim, input_resolution, num_heads, window_size=7, shift_size=0, mlp_ratio=4.0,
                 qkv_bias=True, drop_path=0.0):
        super().__init__()
        self.input_resolution = input_resolution
        if min(input_resolution) <= window_size:
            window_size, shift_size = min(input_resolution), 0
        self.window_size, self.shift_size = window_size, shift_size
        H, W = input_resolution
        mask = shifted_window_mask(H, W, window_size, shift_size) if shift_size > 0 else None
        self.register_buffer("attn_mask", mask)  # saved in official checkpoints: keep it persistent
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, window_size, num_heads, qkv_bias)
        self.drop_path = DropPath(drop_path)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def window_attention(self, x, return_attention=False):
        """(Shifted) window attention on tokens x: (B, L, C) → (B, L, C) [, map (B·nW, h, M², M²)]."""
        H, W = self.input_resolution
        B, L, C = x.shape
        M, s = self.window_size, self.shift_size
        x = x.view(B, H, W, C)
        if s > 0:
            x = torch.roll(x, shifts=(-s, -s), dims=(1, 2))  # cyclic shift up and left
        windows = window_partition(x, M).view(-1, M * M, C)  # (B·nW, M², C)
        out = self.attn(windows, mask=self.attn_mask, return_attention=return_attention)
        windows, attn = out if return_attention else (out, None)
        x = window_reverse(windows.view(-1, M, M, C), M, H, W)  # (B, H, W, C)
        if s > 0:
            x = torch.roll(x, shifts=(s, s), dims=(1, 2))  # undo the shift
        x = x.reshape(B, L, C)
        return (x, attn) if return_attention else x

    def forward(self, x, return_attention=False):
        """x: (B, L, C) → (B, L, C); with `return_attention`, also the window maps."""
        y = self.window_attention(self.norm1(x), return_attention)
        y, attn = y if return_attention else (y, None)
        x = x + self.drop_path(y)
        x = x + self.drop_path(self.mlp(self.norm2(x)))
        return (x, attn) if return_attention else x


class PatchMerging(nn.Module):
    """Downsampling: each 2 × 2 group of tokens → one token, (B, H·W, C) → (B, H/2·W/2, 2C).

    The four neighbours are concatenated in the official order: (0,0), (1,0), (0,1), (1,1) as
    (row, column) offsets, then LayerNorm(4C) and a linear 4C → 2C without bias.
    """

    def __init__(self, input_resolution, dim):
        super().__init__()
        self.input_resolution = input_resolution
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)
        self.norm = nn.LayerNorm(4 * dim)

    def forward(self, x):
        H, W = self.input_resolution
        B, L, C = x.shape
        x = x.view(B, H, W, C)
        x0 = x[:, 0::2, 0::2]  # (B, H/2, W/2, C): even rows, even columns
        x1 = x[:, 1::2, 0::2]  # odd rows, even columns
        x2 = x[:, 0::2, 1::2]  # even rows, odd columns
        x3 = x[:, 1::2, 1::2]  # odd rows, odd columns
        x = torch.cat([x0, x1, x2, x3], dim=-1).view(B, -1, 4 * C)  # (B, H/2·W/2, 4C)
        return self.reduction(self.norm(x))  # (B, H/2·W/2, 2C)
