"""The Audio Spectrogram Transformer (Gong et al. 2021, "AST"): a ViT over log-mel patches.

    log-mel (B, n_mels, n_frames)          course_lib.data.spectrogram.model_input(waveform)
      → 16×16 patches with stride 10 (overlapping) → tokens (B, L, D)
      → [CLS] + tokens + positions (B, 1 + L, D)
      → ViT blocks → norm → head on [CLS] → logits (B, num_classes)

The AST treats the log-mel spectrogram as a one-channel image: frequency runs down the rows, time
along the columns. `ast_from_vit` starts it from image ViT weights, the paper's trick. State-dict
keys follow timm/DINO ViTs (`cls_token`, `pos_embed`, `patch_embed.proj.*`, `blocks.N.*`, `norm.*`,
`head.*`). The spectrogram front end is in course_lib/data/spectrogram.py, pitch tracking in
course_lib/data/pitch.py, the training recipe in course_lib/train/recipes/ast.py.
"""

from dataclasses import dataclass, replace

import torch
from torch import nn

from course_lib.blocks import Block
from course_lib.positions import resize_grid_table
from course_lib.vit import drop_path_rates, init_vit_weights


@dataclass
class ASTConfig:
    """One AST: its input size, overlapping patches, and a ViT trunk (the presets below)."""

    n_mels: int = 128  # input rows (frequency)
    n_frames: int = 101  # input columns (time): 1 s at a 10 ms hop
    patch_size: int = 16
    fstride: int = 10  # patches overlap by 6 bins in frequency ...
    tstride: int = 10  # ... and by 6 frames in time
    num_classes: int = 9
    embed_dim: int = 192
    depth: int = 12
    num_heads: int = 3
    mlp_ratio: float = 4.0
    qkv_bias: bool = True
    drop_path_rate: float = 0.0
    fused_attn: bool = False

    @property
    def grid_size(self):
        """(f_dim, t_dim) patches along frequency and time."""
        f_dim = (self.n_mels - self.patch_size) // self.fstride + 1
        t_dim = (self.n_frames - self.patch_size) // self.tstride + 1
        return f_dim, t_dim


class OverlappingPatchEmbed(nn.Module):
    """A one-channel conv with kernel p and stride (fstride, tstride) < p: overlapping patches."""

    def __init__(self, patch_size, fstride, tstride, embed_dim):
        super().__init__()
        self.proj = nn.Conv2d(1, embed_dim, kernel_size=patch_size, stride=(fstride, tstride))

    def forward(self, spec):
        """spec: (B, n_mels, n_frames) → tokens (B, f_dim·t_dim, D), frequency-major order."""
        x = self.proj(spec.unsqueeze(1))  # (B, D, f_dim, t_dim)
        return x.flatten(2).transpose(1, 2)  # (B, L, D)


class AudioSpectrogramTransformer(nn.Module):
    """A ViT over a log-mel spectrogram: overlapping patches, [CLS], pre-norm blocks, a linear head."""

    def __init__(self, config: ASTConfig | None = None, **overrides):
        super().__init__()
        cfg = replace(config or ASTConfig(), **overrides)
        self.config = cfg
        D = cfg.embed_dim
        f_dim, t_dim = cfg.grid_size
        if f_dim < 1 or t_dim < 1:
            raise ValueError(f"A {cfg.n_mels}×{cfg.n_frames} spectrogram is smaller than one patch.")
        self.patch_embed = OverlappingPatchEmbed(cfg.patch_size, cfg.fstride, cfg.tstride, D)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, D))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + f_dim * t_dim, D))
        rates = drop_path_rates(cfg.drop_path_rate, cfg.depth)
        self.blocks = nn.ModuleList(
            Block(D, cfg.num_heads, cfg.mlp_ratio, cfg.qkv_bias, rates[i], fused_attn=cfg.fused_attn)
            for i in range(cfg.depth)
        )
        self.norm = nn.LayerNorm(D, eps=1e-6)
        self.head = nn.Linear(D, cfg.num_classes) if cfg.num_classes > 0 else nn.Identity()
        self.init_weights()

    def init_weights(self):
        init_vit_weights(self)  # the same initialization as the image ViT

    def prepare_tokens(self, spec):
        """Log-mel (B, n_mels, n_frames) → [CLS] + patch tokens with positions (B, 1 + L, D)."""
        B, M, T = spec.shape
        cfg = self.config
        if (M, T) != (cfg.n_mels, cfg.n_frames):
            raise ValueError(f"Expected a {cfg.n_mels}×{cfg.n_frames} log-mel spectrogram, got {M}×{T}.")
        tokens = self.patch_embed(spec)  # (B, L, D)
        cls = self.cls_token.expand(B, -1, -1)  # (B, 1, D)
        return torch.cat([cls, tokens], dim=1) + self.pos_embed  # (B, 1 + L, D)

    def forward_features(self, spec):
        """(B, n_mels, n_frames) → normalized tokens (B, 1 + L, D); token 0 is [CLS]."""
        x = self.prepare_tokens(spec)
        for blk in self.blocks:
            x = blk(x)
        return self.norm(x)

    def forward(self, spec):
        """(B, n_mels, n_frames) → logits (B, num_classes) from the [CLS] token."""
        return self.head(self.forward_features(spec)[:, 0])

    def get_selfattention(self, spec):
        """Every layer's attention: a list of `depth` tensors (B, heads, N, N), N = 1 + L."""
        x = self.prepare_tokens(spec)
        maps = []
        for blk in self.blocks:
            x, attn = blk(x, return_attention=True)
            maps.append(attn)
        return maps

    def get_last_selfattention(self, spec):
        """The last layer's attention (B, heads, N, N)."""
        return self.get_selfattention(spec)[-1]

    def cls_attention_map(self, spec):
        """The last layer's [CLS]→patch attention, averaged over heads, as a (B, f_dim, t_dim) grid."""
        attn = self.get_last_selfattention(spec)  # (B, heads, N, N)
        f_dim, t_dim = self.config.grid_size
        return attn[:, :, 0, 1:].mean(1).reshape(-1, f_dim, t_dim)  # (B, f_dim, t_dim)


PRESETS = {
    "mini": dict(embed_dim=64, depth=4, num_heads=4),  # the bundled classifier, CPU-trainable
    "tiny": dict(embed_dim=192, depth=12, num_heads=3),  # AST's "tiny224" (DeiT-Ti)
    "small": dict(embed_dim=384, depth=12, num_heads=6),
    "base": dict(embed_dim=768, depth=12, num_heads=12),  # the paper's model (DeiT-B, no dist token)
}


def make_ast(preset, **overrides):
    """Build a preset AST; `overrides` are any `ASTConfig` fields (n_frames=, num_classes=, ...)."""
    if preset not in PRESETS:
        raise ValueError(f"Unknown AST preset {preset!r}: choose one of {sorted(PRESETS)}.")
    return AudioSpectrogramTransformer(ASTConfig(**{**PRESETS[preset], **overrides}))


def ast_mini(**overrides):
    return make_ast("mini", **overrides)


def ast_tiny(**overrides):
    return make_ast("tiny", **overrides)


def ast_small(**overrides):
    return make_ast("small", **overrides)


def ast_base(**overrides):
    return make_ast("base", **overrides)


def ast_from_vit(vit, **overrides):
    """The AST trick: start an audio transformer from an image ViT's weights.

    1. The patch kernel (D, 3, p, p) is summed over RGB → (D, 1, p, p): a grey image with the same
       value v in every channel then gives the same response as the RGB model did.
    2. The square positional table is resized (bicubic) to the (f_dim × t_dim) grid of the
       spectrogram; the [CLS] row is kept.
    3. The blocks and the final norm are copied as they are; the head is new.

    Args:
        vit: a `course_lib.vit.VisionTransformer` (patch size p = the AST's patch size).
        overrides: `ASTConfig` fields (n_frames=, num_classes=, strides ...).
    Returns:
        an `AudioSpectrogramTransformer`, loaded strictly except for the new head.
    """
    vcfg = vit.config
    cfg = ASTConfig(patch_size=vcfg.patch_size, embed_dim=vcfg.embed_dim, depth=vcfg.depth,
                    num_heads=vcfg.num_heads, mlp_ratio=vcfg.mlp_ratio, qkv_bias=vcfg.qkv_bias)
    model = AudioSpectrogramTransformer(replace(cfg, **overrides))
    state = {k: v for k, v in vit.state_dict().items() if not k.startswith("head.")}
    state["patch_embed.proj.weight"] = state["patch_embed.proj.weight"].sum(1, keepdim=True)  # (D, 1, p, p)
    state["pos_embed"] = resize_grid_table(state["pos_embed"], model.config.grid_size)  # (1, 1+L, D)
    missing, unexpected = model.load_state_dict(state, strict=False)
    expected_missing = {k for k in model.state_dict() if k.startswith("head.")}
    if set(missing) != expected_missing or unexpected:
        raise RuntimeError(f"ViT → AST transfer: missing {missing}, unexpected {unexpected}.")
    return model
