"""The Swin Transformer: its config, the network of stages, and the paper's presets.

    SwinPatchEmbed → BasicLayer × 4 (SwinTransformerBlocks, then PatchMerging) → LayerNorm → mean → head

The state-dict keys are Microsoft's (`patch_embed.*`, `layers.i.blocks.j.*`, `layers.i.downsample.*`
at the END of stage i, `norm.*`, `head.*`): the published weights load with `strict=True`.
"""

from dataclasses import dataclass, fields, replace

from torch import nn

from course_lib.patches import PatchEmbed
from course_lib.swin.layers import PatchMerging, SwinTransformerBlock


@dataclass
class SwinConfig:
    img_size: int = 224
    patch_size: int = 4
    in_chans: int = 3
    num_classes: int = 1000  # 0 = no head: forward returns the pooled feature (B, 8C)
    embed_dim: int = 96  # C, the channels of stage 1; doubled by each PatchMerging
    depths: tuple = (2, 2, 6, 2)  # blocks per stage (even: W-MSA and SW-MSA alternate)
    num_heads: tuple = (3, 6, 12, 24)  # heads per stage (head dim 32 everywhere)
    window_size: int = 7  # M: attention runs inside M × M windows
    mlp_ratio: float = 4.0
    qkv_bias: bool = True
    drop_path_rate: float = 0.0  # stochastic depth, linearly increasing over all blocks

    def resolution(self, stage):
        """Token grid (h, w) seen by `stage` (0-based): the patch grid halved once per stage."""
        side = self.img_size // self.patch_size // 2**stage
        return side, side


class BasicLayer(nn.Module):
    """One stage: `depth` blocks alternating W-MSA and SW-MSA, then PatchMerging (official layout)."""

    def __init__(self, dim, input_resolution, depth, num_heads, window_size, mlp_ratio, qkv_bias,
                 drop_path, downsample):
        super().__init__()
        self.blocks = nn.ModuleList(
            SwinTransformerBlock(dim, input_resolution, num_heads, window_size,
                                 shift_size=0 if i % 2 == 0 else window_size // 2,
                                 mlp_ratio=mlp_ratio, qkv_bias=qkv_bias, drop_path=drop_path[i])
            for i in range(depth)
        )
        self.downsample = PatchMerging(input_resolution, dim) if downsample else None

    def forward(self, x):
        for blk in self.blocks:
            x = blk(x)
        return self.downsample(x) if self.downsample is not None else x


class SwinPatchEmbed(PatchEmbed):
    """The kit's patch embedding followed by a LayerNorm (`patch_embed.proj`, `patch_embed.norm`)."""

    def __init__(self, patch_size=4, in_chans=3, embed_dim=96):
        super().__init__(patch_size, in_chans, embed_dim)
        self.norm = nn.LayerNorm(embed_dim)

    def forward(self, x):
        return self.norm(super().forward(x))  # (B, L, C)


class SwinTransformer(nn.Module):
    """Patch tokens → 4 stages of (shifted) window attention, halving the grid → pooled logits."""

    def __init__(self, config: SwinConfig | None = None, **overrides):
        super().__init__()
        cfg = replace(config or SwinConfig(), **overrides)
        check_config(cfg)
        self.config = cfg
        self.patch_embed = SwinPatchEmbed(cfg.patch_size, cfg.in_chans, cfg.embed_dim)
        total = sum(cfg.depths)
        rates = [cfg.drop_path_rate * i / max(total - 1, 1) for i in range(total)]  # linear in depth
        n = len(cfg.depths)
        self.layers = nn.ModuleList(
            BasicLayer(cfg.embed_dim * 2**i, cfg.resolution(i), cfg.depths[i], cfg.num_heads[i],
                       cfg.window_size, cfg.mlp_ratio, cfg.qkv_bias,
                       rates[sum(cfg.depths[:i]):sum(cfg.depths[:i + 1])], downsample=i < n - 1)
            for i in range(n)
        )
        self.num_features = cfg.embed_dim * 2 ** (n - 1)
        self.norm = nn.LayerNorm(self.num_features)
        self.head = nn.Linear(self.num_features, cfg.num_classes) if cfg.num_classes > 0 else nn.Identity()
        self.apply(init_weights)

    def embed(self, x):
        """(B, C, H, W) → patch tokens (B, H/p · W/p, C); the image must have the configured size."""
        size = self.config.img_size
        if tuple(x.shape[-2:]) != (size, size):
            raise ValueError(f"This Swin was built for {size}×{size} images (its windows and masks depend "
                             f"on it), got {x.shape[-2]}×{x.shape[-1]}: resize the input or build the "
                             f"model with img_size={x.shape[-1]}.")
        return self.patch_embed(x)

    def forward_features(self, x):
        """(B, C, H, W) → normalized last-stage tokens (B, h·w, 8C)."""
        x = self.embed(x)  # (B, H/4 · W/4, C)
        for layer in self.layers:
            x = layer(x)
        return self.norm(x)

    def forward_head(self, features):
        """(B, L, 8C) → average over tokens → logits (B, classes), or the feature (B, 8C)."""
        return self.head(features.mean(dim=1))

    def forward(self, x):
        return self.forward_head(self.forward_features(x))

    def get_window_attention(self, x, stage=0, block=0):
        """Window attention maps of one block: (B·nW, heads, M², M²), windows in row order."""
        x = self.embed(x)
        for i, layer in enumerate(self.layers[:stage + 1]):
            blocks = layer.blocks if i < stage else layer.blocks[:block]
            for blk in blocks:
                x = blk(x)
            if i < stage:
                x = layer.downsample(x)
        _, attn = self.layers[stage].blocks[block](x, return_attention=True)
        return attn


def init_weights(m):
    """Official initialization: truncated normal (std 0.02) for linear layers, LayerNorm = identity."""
    if isinstance(m, nn.Linear):
        nn.init.trunc_normal_(m.weight, std=0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.LayerNorm):
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)


def check_config(cfg):
    """One clear sentence when the image, patch and window sizes do not fit together."""
    if len(cfg.depths) != len(cfg.num_heads):
        raise ValueError(f"depths {cfg.depths} and num_heads {cfg.num_heads} must have the same length.")
    grid = cfg.img_size // cfg.patch_size
    if cfg.img_size % cfg.patch_size or grid % 2 ** (len(cfg.depths) - 1):
        raise ValueError(f"img_size={cfg.img_size} must be a multiple of patch_size × 2^(stages−1) = "
                         f"{cfg.patch_size * 2 ** (len(cfg.depths) - 1)}.")
    for i in range(len(cfg.depths)):
        side = cfg.resolution(i)[0]
        if side > cfg.window_size and side % cfg.window_size:
            raise ValueError(f"Stage {i + 1} has a {side}×{side} token grid, which windows of "
                             f"{cfg.window_size} do not tile: choose a window size that divides it.")


# -- presets (Swin paper, Sec. 3.3; drop-path rates of the official configs) --------------------
PRESETS = {
    "tiny": dict(embed_dim=96, depths=(2, 2, 6, 2), num_heads=(3, 6, 12, 24), drop_path_rate=0.2),
    "small": dict(embed_dim=96, depths=(2, 2, 18, 2), num_heads=(3, 6, 12, 24), drop_path_rate=0.3),
    "base": dict(embed_dim=128, depths=(2, 2, 18, 2), num_heads=(4, 8, 16, 32), drop_path_rate=0.5),
    "large": dict(embed_dim=192, depths=(2, 2, 18, 2), num_heads=(6, 12, 24, 48), drop_path_rate=0.2),
}
PAPER_WINDOW = {224: 7, 384: 12}  # the paper's window size at each image size


def make_swin(preset, img_size=224, window_size=None, **overrides):
    """Build a preset Swin; `window_size=None` takes the paper's (7 at 224, 12 at 384)."""
    if preset not in PRESETS:
        raise ValueError(f"Unknown Swin preset {preset!r}: choose one of {sorted(PRESETS)}.")
    names = {f.name for f in fields(SwinConfig)}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise ValueError(f"Unknown Swin option(s) {unknown}: valid options are {sorted(names)}.")
    window_size = window_size or PAPER_WINDOW.get(img_size, 7)
    return SwinTransformer(SwinConfig(img_size=img_size, window_size=window_size,
                                      **{**PRESETS[preset], **overrides}))


def swin_tiny(**kw):
    return make_swin("tiny", **kw)


def swin_small(**kw):
    return make_swin("small", **kw)


def swin_base(**kw):
    return make_swin("base", **kw)


def swin_large(**kw):
    return make_swin("large", **kw)
