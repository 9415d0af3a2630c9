"""Multi-head self-attention, written out step by step, and the non-local block's core.

Attention(Q, K, V) = softmax(Q Kᵀ / √d) V, computed per head.

The explicit path (the default) builds the (N × N) attention matrix so it can be returned and
shown; the fused path calls `F.scaled_dot_product_attention` for speed and never materializes the
matrix. Both give the same numbers (tested to 1e-6).
"""

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
    # the map of `explicit_attention` (the homework), with zero-width values: no second copy of
    # the formula, and the product with v costs nothing
    return explicit_attention(q, k, k[..., :0], scale)[1]


def explicit_attention(q, k, v, scale, attn_drop=None):
    """softmax(q kᵀ · scale) v, step by step, returning the map too.

    Args:
        q: (B, heads, N, d) queries; k, v: (B, heads, M, d) keys and values.
        scale: float, 1/√d.
        attn_drop: optional dropout applied to the map before it weights the values.
    Returns:
        out (B, heads, N, d) and the attention map (B, heads, N, M) (before dropout).
    """
    # BEGIN SOLUTION
    scores = (q @ k.transpose(-2, -1)) * scale  # (B, heads, N, M): similarity of each query to each key
    attn = scores.softmax(dim=-1)  # each row sums to 1 over the keys
    weights = attn_drop(attn) if attn_drop is not None else attn
    out = weights @ v  # (B, heads, N, d): weighted sum of the values
    return out, attn
    # END SOLUTION


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
            x, attn = explicit_attention(q, k, v, self.scale, self.attn_drop)  # (B, h, N, d), (B, h, N, N)

        x = x.transpose(1, 2).reshape(B, N, C)  # (B, N, h*d): heads side by side again
        x = self.proj_drop(self.proj(x))
        return (x, attn) if return_attention else x


class NonLocalBlock(nn.Module):
    """Non-local block, embedded Gaussian version (Wang et al. 2018): attention added to a CNN.

        y_i = Σ_j softmax_j(θ(x_i)ᵀ φ(x_j)) g(x_j)        every position i looks at every j
        z_i = W_z y_i + x_i                                 residual: a drop-in block for any stage

    θ, φ, g and W_z are 1 × 1 convolutions; θ, φ, g halve the channels (`inner_dim`). W_z starts
    at zero, so a freshly inserted block is the identity and does not disturb a trained network
    (the paper zero-initializes a BatchNorm after W_z to the same effect). There is no 1/√d
    scale: the paper's embedded Gaussian is exactly softmax(θᵀφ). `subsample=True` max-pools φ
    and g by 2 (the paper's trick to cut the cost by 4).
    """

    def __init__(self, channels, inner_dim=None, subsample=False):
        super().__init__()
        inner = inner_dim or max(channels // 2, 1)
        self.theta = nn.Conv2d(channels, inner, kernel_size=1)
        self.phi = nn.Conv2d(channels, inner, kernel_size=1)
        self.g = nn.Conv2d(channels, inner, kernel_size=1)
        self.w_z = nn.Conv2d(inner, channels, kernel_size=1)
        self.pool = nn.MaxPool2d(2) if subsample else nn.Identity()
        nn.init.zeros_(self.w_z.weight)  # the block starts as the identity: z = x
        nn.init.zeros_(self.w_z.bias)

    def forward(self, x, return_attention=False):
        """x: (B, C, H, W) → (B, C, H, W), and the map (B, H·W, H'·W') if `return_attention`.

        Row i of the map is where position i (row-major over H × W) looks; H'·W' = H·W, or
        H/2·W/2 with `subsample`.
        """
        B, C, H, W = x.shape
        q = self.theta(x).flatten(2).transpose(1, 2)  # (B, HW, inner)
        k = self.pool(self.phi(x)).flatten(2)  # (B, inner, H'W')
        v = self.pool(self.g(x)).flatten(2).transpose(1, 2)  # (B, H'W', inner)
        attn = (q @ k).softmax(dim=-1)  # (B, HW, H'W')
        y = (attn @ v).transpose(1, 2).reshape(B, -1, H, W)  # (B, inner, H, W)
        z = self.w_z(y) + x  # (B, C, H, W)
        return (z, attn) if return_attention else z
