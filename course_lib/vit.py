"""Vision Transformer (Dosovitskiy et al. 2021), with the timm / official DINO key layout.

    image (B, 3, H, W)
      → patches (B, L, D)          PatchEmbed: a p×p patch becomes one token
      → [CLS] + patches (B, 1+L, D) + positional table
      → depth × pre-norm Block
      → LayerNorm → head([CLS])   logits (B, num_classes), or the [CLS] feature if num_classes=0

State-dict keys equal timm's `vit_*_patch*_224` and DINO's backbones, so their weights load with
`strict=True`. Any input whose sides are multiples of the patch size works: the positional table
is resized to the new grid on the fly.
"""

from dataclasses import dataclass, fields, replace

import torch
from torch import nn

from course_lib.blocks import Block
from course_lib.patches import PatchEmbed, check_divisible
from course_lib.positions import resize_grid_table


@dataclass
class ViTConfig:
    img_size: int = 224
    patch_size: int = 16
    in_chans: int = 3
    num_classes: int = 1000  # 0 = no head: forward returns the [CLS] feature
    embed_dim: int = 768
    depth: int = 12
    num_heads: int = 12
    mlp_ratio: float = 4.0
    qkv_bias: bool = True
    drop_path_rate: float = 0.0  # stochastic depth, linearly increasing over the blocks
    init_values: float | None = None  # LayerScale init (DINOv2: 1e-5); None = no LayerScale
    ffn: str = "mlp"  # "mlp" (GELU) or "swiglu" (DINOv2)
    fused_attn: bool = False  # True: scaled_dot_product_attention (faster, no maps)

    @property
    def grid_size(self):
        return self.img_size // self.patch_size


class VisionTransformer(nn.Module):
    def __init__(self, config: ViTConfig | None = None, **overrides):
        super().__init__()
        cfg = replace(config or ViTConfig(), **overrides)
        check_divisible(cfg.img_size, cfg.img_size, cfg.patch_size)
        self.config = cfg
        D = cfg.embed_dim
        self.num_prefix_tokens = 1
        self.patch_embed = PatchEmbed(cfg.patch_size, cfg.in_chans, D)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, D))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + cfg.grid_size**2, D))
        rates = drop_path_rates(cfg.drop_path_rate, cfg.depth)
        self.blocks = nn.ModuleList(
            Block(D, cfg.num_heads, cfg.mlp_ratio, cfg.qkv_bias, rates[i], cfg.init_values, cfg.ffn,
                  fused_attn=cfg.fused_attn)
            for i in range(cfg.depth)
        )
        self.norm = nn.LayerNorm(D, eps=1e-6)
        self.head = nn.Linear(D, cfg.num_classes) if cfg.num_classes > 0 else nn.Identity()
        self.init_weights()

    def init_weights(self):
        init_vit_weights(self)

    def set_fused_attn(self, fused: bool):
        """Switch every block between the fused kernel and the explicit softmax path."""
        for blk in self.blocks:
            blk.attn.fused = fused
        self.config = replace(self.config, fused_attn=fused)

    # -- forward, step by step -------------------------------------------------------------
    def positional_table(self, h, w):
        """The positional table for an (h × w) patch grid: (1, 1 + h*w, D)."""
        return resize_grid_table(self.pos_embed, (h, w), self.num_prefix_tokens)

    def prepare_tokens(self, x):
        """Image (B, C, H, W) → tokens with [CLS] and positions (B, 1 + L, D)."""
        B, C, H, W = x.shape
        p = self.config.patch_size
        check_divisible(H, W, p)
        tokens = self.patch_embed(x)  # (B, L, D)
        cls = self.cls_token.expand(B, -1, -1)  # (B, 1, D)
        tokens = torch.cat([cls, tokens], dim=1)  # (B, 1+L, D)
        return tokens + self.positional_table(H // p, W // p)

    def forward_features(self, x):
        """(B, C, H, W) → normalized tokens (B, 1 + L, D); token 0 is [CLS]."""
        x = self.prepare_tokens(x)
        for blk in self.blocks:
            x = blk(x)
        return self.norm(x)

    def forward_head(self, features):
        """Normalized tokens (B, 1 + L, D) → logits (B, classes), or the [CLS] feature (B, D)."""
        return self.head(features[:, 0])

    def forward(self, x):
        return self.forward_head(self.forward_features(x))

    # -- attention maps ---------------------------------------------------------------------
    def get_selfattention(self, x):
        """Attention maps of every layer: a list of `depth` tensors (B, heads, N, N), N = 1 + L."""
        x = self.prepare_tokens(x)
        maps = []
        for blk in self.blocks:
            x, attn = blk(x, return_attention=True)
            maps.append(attn)
        return maps

    def get_last_selfattention(self, x):
        """The last layer's attention (B, heads, N, N), as in DINO's `visualize_attention.py`."""
        x = self.prepare_tokens(x)
        for blk in self.blocks[:-1]:
            x = blk(x)
        _, attn = self.blocks[-1](x, return_attention=True)
        return attn


def drop_path_rates(rate, depth):
    """Stochastic-depth rate of each block, growing linearly from 0 to `rate` (DeiT)."""
    return [rate * i / max(depth - 1, 1) for i in range(depth)]


def init_vit_weights(model):
    """ViT/DeiT initialization: truncated normal (std 0.02) for the [CLS] token, the positional
    table and every linear layer; zero biases. Shared by every ViT-shaped model of the kit."""
    nn.init.trunc_normal_(model.pos_embed, std=0.02)
    nn.init.trunc_normal_(model.cls_token, std=0.02)
    for m in model.modules():
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


# -- presets (ViT paper Table 1; "tiny"/"small" from DeiT) ---------------------------------------
PRESETS = {
    "tiny": dict(embed_dim=192, depth=12, num_heads=3),
    "small": dict(embed_dim=384, depth=12, num_heads=6),
    "base": dict(embed_dim=768, depth=12, num_heads=12),
    "large": dict(embed_dim=1024, depth=24, num_heads=16),
    "huge": dict(embed_dim=1280, depth=32, num_heads=16),
}


def make_vit(preset, patch_size=16, **overrides):
    """Build a preset ViT; `overrides` are any `ViTConfig` fields (img_size=, num_classes=, ...)."""
    if preset not in PRESETS:
        raise ValueError(f"Unknown ViT preset {preset!r}: choose one of {sorted(PRESETS)}.")
    names = {f.name for f in fields(ViTConfig)}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise ValueError(f"Unknown ViT option(s) {unknown}: valid options are {sorted(names)}.")
    return VisionTransformer(ViTConfig(patch_size=patch_size, **{**PRESETS[preset], **overrides}))


def vit_tiny(patch_size=16, **overrides):
    return make_vit("tiny", patch_size, **overrides)


def vit_small(patch_size=16, **overrides):
    return make_vit("small", patch_size, **overrides)


def vit_base(patch_size=16, **overrides):
    return make_vit("base", patch_size, **overrides)


def vit_large(patch_size=16, **overrides):
    return make_vit("large", patch_size, **overrides)


def vit_huge(patch_size=14, **overrides):
    return make_vit("huge", patch_size, **overrides)
