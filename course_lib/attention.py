"""Multi-head self-attention, written out step by step, and the non-local block's core.

Attention(Q, K, V) = softmax(Q Kᵀ / √d) V, computed per head.

The explicit path (the default) builds the (N × N) attention matrix so it can be returned and
shown; the fused path calls `F.scaled_dot_product_attention` for speed and never materializes the
matrix. Both give the same numbers (tested to 1e-6).
"""

import torch
import torch.nn.functional as F
from torch import nn


def attention_weights(q, k, scale):
    """The attention map softmax(q kᵀ · scale).

    Args:
        q: (B, heads, N, d) queries.
        k: (B, heads, M, d) keys.
        scale: float, usually 1/√d so the scores' variance does not grow with d.
    Returns:
        (B, heads, N, M), each row a probability distribution over the M keys.
    """
    scores = (q @ k.transpose(-2, -1)) * scale  # (B, heads, N, M)
    return scores.softmax(dim=-1)


class Attention(nn.Module):
    """Multi-head self-attention with the timm/DINO layout: one `qkv` linear, one `proj` linear.

    `fused=False` (default) is the explicit softmax path that can return the attention map;
    `fused=True` uses `scaled_dot_product_attention` (faster; no map).
    """

    def __init__(self, dim, num_heads=8, qkv_bias=True, attn_drop=0.0, proj_drop=0.0, fused=False):
        super().__init__()
        if dim % num_heads != 0:
            raise ValueError(f"dim={dim} must be divisible by num_heads={num_heads}.")
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim**-0.5
        self.fused = fused
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x, return_attention=False):
        """x: (B, N, C) → (B, N, C), and the map (B, heads, N, N) if `return_attention`."""
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, self.head_dim)  # (B, N, 3, h, d)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # each (B, h, N, d)

        attn = None
        if self.fused and not return_attention:
            drop = self.attn_drop.p if self.training else 0.0
            x = F.scaled_dot_product_attention(q, k, v, dropout_p=drop)  # (B, h, N, d)
        else:
            attn = attention_weights(q, k, self.scale)  # (B, h, N, N)
            x = self.attn_drop(attn) @ v  # (B, h, N, d)

        x = x.transpose(1, 2).reshape(B, N, C)  # (B, N, h*d): heads side by side again
        x = self.proj_drop(self.proj(x))
        return (x, attn) if return_attention else x
