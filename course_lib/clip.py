"""CLIP (Radford et al. 2021): an image encoder and a text encoder trained to agree.

    image (B, 3, H, W) → ViT → [CLS] → ln_post → @ proj            → image embedding (B, E)
    text  (B, T) ids   → Transformer (causal) → ln_final → token at <end_of_text> → @ text_projection
                                                                   → text embedding (B, E)
    logits_per_image = exp(logit_scale) · normalize(image) @ normalize(text)ᵀ     (B_img, B_txt)

State-dict keys equal OpenAI's checkpoints (`visual.conv1`, `visual.transformer.resblocks.N.attn
.in_proj_weight`, `token_embedding`, `text_projection`, `logit_scale`, ...), so the released
weights load with `strict=True`. Three details each silently break parity if missed:
`visual.proj` and `text_projection` are raw matrices used as `x @ proj` (not `nn.Linear`, which
would transpose), `logit_scale` stores log(1/τ) not τ, and OpenAI's MLPs use QuickGELU.

Images go in already normalized (`preprocess`). This file holds the model only: zero-shot,
ranking, retrieval and patch maps are in `evaluate.clip`, OpenAI's weights in `official.clip`.
"""

import math
from collections import OrderedDict
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from course_lib.data.rendered import OPENAI_MEAN, OPENAI_STD, standardize


@dataclass
class CLIPConfig:
    embed_dim: int = 512  # the shared image–text space
    # image tower (a ViT)
    img_size: int = 224
    patch_size: int = 32
    vision_width: int = 768
    vision_layers: int = 12
    vision_heads: int = 12
    # text tower (a causal Transformer)
    context_length: int = 77
    vocab_size: int = 49408
    text_width: int = 512
    text_layers: int = 12
    text_heads: int = 8
    mlp_ratio: float = 4.0
    quick_gelu: bool = True  # OpenAI's weights were trained with QuickGELU; open_clip's default is GELU
    init_logit_scale: float = math.log(1 / 0.07)  # τ = 0.07 at the start
    max_logit_scale: float = 100.0  # the paper clips exp(logit_scale) at 100

    @property
    def grid_size(self):
        return self.img_size // self.patch_size


class QuickGELU(nn.Module):
    """x · σ(1.702 x): OpenAI's fast approximation of GELU."""

    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class MultiheadSelfAttention(nn.Module):
    """Self-attention with `nn.MultiheadAttention`'s parameter names (one packed `in_proj_weight`
    for q, k, v and an `out_proj` linear), which is what OpenAI's checkpoints store; it can return
    the attention map (B, h, N, N) as well."""

    def __init__(self, dim, num_heads):
        super().__init__()
        self.num_heads, self.head_dim = num_heads, dim // num_heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * dim, dim))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * dim))
        self.out_proj = nn.Linear(dim, dim)

    def forward(self, x, attn_mask=None, return_attention=False):
        """x: (B, N, C); attn_mask: (N, N) added to the scores (−inf = may not look)."""
        B, N, C = x.shape
        qkv = F.linear(x, self.in_proj_weight, self.in_proj_bias)  # (B, N, 3C)
        q, k, v = qkv.reshape(B, N, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)  # 3×(B, h, N, d)
        # PyTorch's kernel (the formula is the homework); softmax(q kᵀ/√d + mask) @ I is the map
        x = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)  # (B, h, N, d)
        attn = None
        if return_attention:
            eye = torch.eye(N, dtype=q.dtype, device=q.device).expand(B, self.num_heads, N, N)
            attn = F.scaled_dot_product_attention(q, k, eye, attn_mask=attn_mask)  # (B, h, N, N)
        x = x.transpose(1, 2).reshape(B, N, C)  # (B, N, h·d)
        x = self.out_proj(x)
        return (x, attn) if return_attention else x


class ResidualAttentionBlock(nn.Module):
    """Pre-norm block: x + attn(ln_1(x)), then x + mlp(ln_2(x)) with `c_fc` → act → `c_proj`."""

    def __init__(self, dim, num_heads, mlp_ratio=4.0, quick_gelu=True):
        super().__init__()
        hidden = int(dim * mlp_ratio)
        self.ln_1 = nn.LayerNorm(dim)
        self.attn = MultiheadSelfAttention(dim, num_heads)
        self.ln_2 = nn.LayerNorm(dim)
        act = QuickGELU() if quick_gelu else nn.GELU()
        layers = OrderedDict(c_fc=nn.Linear(dim, hidden), gelu=act, c_proj=nn.Linear(hidden, dim))
        self.mlp = nn.Sequential(layers)

    def forward(self, x, attn_mask=None, return_attention=False):
        out = self.attn(self.ln_1(x), attn_mask, return_attention)
        h, attn = out if return_attention else (out, None)  # the map only when it is asked for
        x = x + h
        x = x + self.mlp(self.ln_2(x))
        return (x, attn) if return_attention else x


class Transformer(nn.Module):
    """A stack of `ResidualAttentionBlock`s (keys `resblocks.N.*`), batch first."""

    def __init__(self, width, layers, heads, mlp_ratio=4.0, quick_gelu=True):
        super().__init__()
        self.width, self.layers = width, layers
        self.resblocks = nn.ModuleList(
            ResidualAttentionBlock(width, heads, mlp_ratio, quick_gelu) for _ in range(layers)
        )

    def forward(self, x, attn_mask=None):
        for block in self.resblocks:
            x = block(x, attn_mask)
        return x


class CLIPVisionTransformer(nn.Module):
    """CLIP's image tower: OpenAI's ViT layout (`conv1` without bias, `class_embedding`,
    `ln_pre` before the blocks, `ln_post` after, `proj` a raw (width, embed_dim) matrix)."""

    def __init__(self, cfg: CLIPConfig):
        super().__init__()
        W, scale = cfg.vision_width, cfg.vision_width**-0.5
        self.patch_size = cfg.patch_size
        self.conv1 = nn.Conv2d(3, W, kernel_size=cfg.patch_size, stride=cfg.patch_size, bias=False)
        self.class_embedding = nn.Parameter(scale * torch.randn(W))
        self.positional_embedding = nn.Parameter(scale * torch.randn(cfg.grid_size**2 + 1, W))
        self.ln_pre = nn.LayerNorm(W)
        self.transformer = Transformer(W, cfg.vision_layers, cfg.vision_heads, cfg.mlp_ratio, cfg.quick_gelu)
        self.ln_post = nn.LayerNorm(W)
        self.proj = nn.Parameter(scale * torch.randn(W, cfg.embed_dim))

    def tokens(self, x):
        """Images (B, 3, H, W) → [CLS] + patch tokens with positions, after ln_pre: (B, 1+L, W)."""
        x = self.conv1(x)  # (B, W, H/p, W/p)
        x = x.flatten(2).transpose(1, 2)  # (B, L, W), patches in row-major order
        cls = self.class_embedding.expand(x.shape[0], 1, -1)  # (B, 1, W)
        x = torch.cat([cls, x], dim=1) + self.positional_embedding  # (B, 1+L, W)
        return self.ln_pre(x)

    def forward(self, x):
        """(B, 3, H, W) → image embeddings (B, embed_dim), not normalized."""
        x = self.transformer(self.tokens(x))  # (B, 1+L, W)
        return self.ln_post(x[:, 0]) @ self.proj  # (B, E)

    def forward_patches(self, x):
        """Every token through ln_post and proj: (B, 1+L, embed_dim). Index 0 is the image
        embedding; the others put each patch in the text space (for patch-level maps)."""
        x = self.transformer(self.tokens(x))  # (B, 1+L, W)
        return self.ln_post(x) @ self.proj  # (B, 1+L, E)

    def get_selfattention(self, x):
        """The attention maps of every block: a list of (B, heads, 1+L, 1+L)."""
        x, maps = self.tokens(x), []
        for block in self.transformer.resblocks:
            x, attn = block(x, return_attention=True)
            maps.append(attn)
        return maps


class CLIP(nn.Module):
    """The two towers and the learned temperature; keys as in OpenAI's checkpoints."""

    def __init__(self, config: CLIPConfig | None = None, **overrides):
        super().__init__()
        cfg = replace(config or CLIPConfig(), **overrides)
        self.config = cfg
        self.visual = CLIPVisionTransformer(cfg)
        self.transformer = Transformer(cfg.text_width, cfg.text_layers, cfg.text_heads, cfg.mlp_ratio,
                                       cfg.quick_gelu)
        self.token_embedding = nn.Embedding(cfg.vocab_size, cfg.text_width)
        self.positional_embedding = nn.Parameter(torch.empty(cfg.context_length, cfg.text_width))
        self.ln_final = nn.LayerNorm(cfg.text_width)
        self.text_projection = nn.Parameter(torch.empty(cfg.text_width, cfg.embed_dim))
        self.logit_scale = nn.Parameter(torch.tensor(cfg.init_logit_scale))  # log(1/τ), a 0-d tensor
        self.init_weights()

    def init_weights(self):
        """OpenAI's initialization: small embeddings; residual projections scaled by 1/√(2·layers)."""
        nn.init.normal_(self.token_embedding.weight, std=0.02)
        nn.init.normal_(self.positional_embedding, std=0.01)
        for tower in (self.visual.transformer, self.transformer):
            attn_std = tower.width**-0.5
            proj_std = attn_std * (2 * tower.layers) ** -0.5
            for block in tower.resblocks:
                nn.init.normal_(block.attn.in_proj_weight, std=attn_std)
                nn.init.normal_(block.attn.out_proj.weight, std=proj_std)
                nn.init.zeros_(block.attn.out_proj.bias)
                nn.init.normal_(block.mlp.c_fc.weight, std=(2 * tower.width) ** -0.5)
                nn.init.normal_(block.mlp.c_proj.weight, std=proj_std)
        nn.init.normal_(self.text_projection, std=self.config.text_width**-0.5)

    def encode_image(self, images, normalize=False):
        """(B, 3, H, W), normalized with `preprocess` → (B, E)."""
        x = self.visual(images)
        return F.normalize(x, dim=-1) if normalize else x

    def encode_text(self, tokens, normalize=False):
        """(B, T) token ids, T ≤ context_length, `<end_of_text>` the largest id → (B, E)."""
        B, T = tokens.shape
        x = self.token_embedding(tokens) + self.positional_embedding[:T]  # (B, T, D)
        x = self.transformer(x, attn_mask=causal_mask(T, x.device))  # (B, T, D), causal
        x = self.ln_final(x)
        eot = tokens.argmax(dim=-1)  # (B,) position of <end_of_text>: it has seen the whole text
        x = x[torch.arange(B, device=x.device), eot] @ self.text_projection  # (B, E)
        return F.normalize(x, dim=-1) if normalize else x

    def temperature_scale(self):
        """exp(logit_scale) = 1/τ, clipped at `max_logit_scale` (100) as in the paper."""
        return self.logit_scale.clamp(max=math.log(self.config.max_logit_scale)).exp()

    def forward(self, images, texts):
        """→ (logits_per_image (B_img, B_txt), logits_per_text (B_txt, B_img))."""
        image = self.encode_image(images, normalize=True)  # (B_img, E)
        text = self.encode_text(texts, normalize=True)  # (B_txt, E)
        logits_per_image = self.temperature_scale() * image @ text.T  # (B_img, B_txt)
        return logits_per_image, logits_per_image.T


def causal_mask(n, device=None):
    """(n, n) additive mask: 0 on and below the diagonal, −inf above (token i sees tokens ≤ i)."""
    return torch.full((n, n), float("-inf"), device=device).triu(1)


def preprocess(images, size=None, mean=OPENAI_MEAN, std=OPENAI_STD):
    """Images in [0, 1], (B, 3, H, W) or (3, H, W) → resized to `size` (if given) and normalized
    with the statistics OpenAI trained with: (B, 3, size, size)."""
    images = images[None] if images.dim() == 3 else images
    if size is not None and images.shape[-2:] != (size, size):
        images = F.interpolate(images, size=(size, size), mode="bicubic", align_corners=False,
                               antialias=True).clamp(0, 1)
    return standardize(images, mean, std)


# ---------------------------------------------------------------------------------------------
# Presets
# ---------------------------------------------------------------------------------------------

PRESETS = {
    "clip_vit_b32": dict(patch_size=32),
    "clip_vit_b16": dict(patch_size=16),
    "clip_vit_l14": dict(embed_dim=768, patch_size=14, vision_width=1024, vision_layers=24, vision_heads=16,
                         text_width=768, text_heads=12),
    # ShapesWorld: 64×64 images, a ~40-word vocabulary, captions of ≤ 16 tokens, GELU.
    "clip_shapes_tiny": dict(embed_dim=128, img_size=64, patch_size=8, vision_width=128, vision_layers=4,
                             vision_heads=4, context_length=16, vocab_size=64, text_width=128, text_layers=3,
                             text_heads=4, quick_gelu=False),
}


def make_clip(preset, **overrides):
    """Build a preset CLIP; `overrides` are any `CLIPConfig` fields (img_size=, vocab_size=, ...)."""
    return CLIP(CLIPConfig(**{**PRESETS[preset], **overrides}))


def clip_vit_b32(**overrides):
    """OpenAI ViT-B/32: 151 M parameters, 224×224 images, 7×7 patches of 32 px."""
    return make_clip("clip_vit_b32", **overrides)


def clip_vit_b16(**overrides):
    """OpenAI ViT-B/16: 150 M parameters, 14×14 patches of 16 px."""
    return make_clip("clip_vit_b16", **overrides)


def clip_vit_l14(**overrides):
    """OpenAI ViT-L/14: 428 M parameters, 16×16 patches of 14 px, a 768-wide text tower."""
    return make_clip("clip_vit_l14", **overrides)


def clip_shapes_tiny(**overrides):
    """A small CLIP for ShapesWorld (~2 M parameters), trainable on a CPU."""
    return make_clip("clip_shapes_tiny", **overrides)


def config_from_state_dict(state_dict):
    """Read a CLIPConfig off a checkpoint's shapes (as OpenAI's `build_model` does)."""
    sd = state_dict
    vision_width = sd["visual.conv1.weight"].shape[0]
    patch_size = sd["visual.conv1.weight"].shape[-1]
    grid = round((sd["visual.positional_embedding"].shape[0] - 1) ** 0.5)
    text_width = sd["ln_final.weight"].shape[0]
    count = lambda prefix: len({k[len(prefix):].split(".")[0] for k in sd if k.startswith(prefix)})
    return CLIPConfig(
        embed_dim=sd["text_projection"].shape[1], img_size=grid * patch_size, patch_size=patch_size,
        vision_width=vision_width, vision_layers=count("visual.transformer.resblocks."),
        vision_heads=vision_width // 64, context_length=sd["positional_embedding"].shape[0],
        vocab_size=sd["token_embedding.weight"].shape[0], text_width=text_width,
        text_layers=count("transformer.resblocks."), text_heads=text_width // 64,
    )
