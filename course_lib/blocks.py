"""The pieces of a transformer block: MLP, SwiGLU, LayerScale, DropPath, and the pre-norm block.

    x = x + DropPath(LayerScale(Attention(LayerNorm(x))))
    x = x + DropPath(LayerScale(MLP(LayerNorm(x))))

Key names follow timm/DINO (`norm1`, `attn`, `ls1`, `norm2`, `mlp.fc1`, `mlp.fc2`, `ls2`).
"""

import torch
import torch.nn.functional as F
from torch import nn

from course_lib.attention import Attention


class Mlp(nn.Module):
    """Two linear layers with a GELU between: (B, N, C) → (B, N, hidden) → (B, N, C)."""

    def __init__(self, dim, hidden_dim, drop=0.0):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_dim, dim)
        self.drop = nn.Dropout(drop)

    def forward(self, x):
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class SwiGLU(nn.Module):
    """SwiGLU feed-forward (Shazeer 2020; used by DINOv2): W3 · (SiLU(x W1) ⊙ x W2).

    `w12` computes both x W1 and x W2 in one matmul, as in DINOv2's `SwiGLUFFN`. DINOv2 shrinks the
    hidden size to 2/3 so the parameter count matches a GELU MLP of the same ratio.
    """

    def __init__(self, dim, hidden_dim):
        super().__init__()
        self.w12 = nn.Linear(dim, 2 * hidden_dim)
        self.w3 = nn.Linear(hidden_dim, dim)

    def forward(self, x):
        x1, x2 = self.w12(x).chunk(2, dim=-1)  # each (B, N, hidden)
        return self.w3(F.silu(x1) * x2)


class LayerScale(nn.Module):
    """Per-channel learned scale γ ⊙ x, γ initialized small (CaiT; DINOv2 uses 1e-5).

    Starting each residual branch near zero lets deep ViTs train stably.
    """

    def __init__(self, dim, init_values=1e-5):
        super().__init__()
        self.gamma = nn.Parameter(init_values * torch.ones(dim))

    def forward(self, x):
        return x * self.gamma


def drop_path(x, drop_prob, training):
    """Stochastic depth: zero a whole residual branch for a random subset of samples.

    Kept samples are scaled by 1/(1 − p) so the expected value is unchanged.
    x: (B, ...) → (B, ...).
    """
    if drop_prob == 0.0 or not training:
        return x
    keep = 1.0 - drop_prob
    shape = (x.shape[0],) + (1,) * (x.ndim - 1)  # one coin per sample
    mask = x.new_empty(shape).bernoulli_(keep)
    return x * mask / keep


class DropPath(nn.Module):
    """Module wrapper of `drop_path` (no parameters, so no keys in the state dict)."""

    def __init__(self, drop_prob=0.0):
        super().__init__()
        self.drop_prob = drop_prob

    def forward(self, x):
        return drop_path(x, self.drop_prob, self.training)


class Block(nn.Module):
    """Pre-norm transformer block (ViT, DINO, MAE, DINOv2 options)."""

    def __init__(
        self,
        dim,
        num_heads,
        mlp_ratio=4.0,
        qkv_bias=True,
        drop_path=0.0,
        init_values=None,
        ffn="mlp",
        norm_eps=1e-6,
        fused_attn=False,
    ):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=norm_eps)
        self.attn = Attention(dim, num_heads, qkv_bias=qkv_bias, fused=fused_attn)
        self.ls1 = LayerScale(dim, init_values) if init_values else nn.Identity()
        self.norm2 = nn.LayerNorm(dim, eps=norm_eps)
        hidden = int(dim * mlp_ratio)
        if ffn == "swiglu":
            self.mlp = SwiGLU(dim, int(hidden * 2 / 3))
        elif ffn == "mlp":
            self.mlp = Mlp(dim, hidden)
        else:
            raise ValueError(f"Unknown ffn {ffn!r}: choose 'mlp' or 'swiglu'.")
        self.ls2 = LayerScale(dim, init_values) if init_values else nn.Identity()
        self.drop_path = DropPath(drop_path)

    def forward(self, x, return_attention=False):
        """x: (B, N, C) → (B, N, C); with `return_attention`, also the map (B, heads, N, N)."""
        if return_attention:
            y, attn = self.attn(self.norm1(x), return_attention=True)
        else:
            y, attn = self.attn(self.norm1(x)), None
        x = x + self.drop_path(self.ls1(y))
        x = x + self.drop_path(self.ls2(self.mlp(self.norm2(x))))
        return (x, attn) if return_attention else x
