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

Images go in already normalized (`preprocess`). Zero-shot classification, ranking and retrieval
are at the end of the file.
"""

import math
import warnings
from collections import OrderedDict
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclass
class CLIPConfig:
    embed_dim: int = 512  # the shared image–text space
    # image tower (a ViT)
    image_size: int = 224
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
        return self.image_size // self.patch_size


class QuickGELU(nn.Module):
    """x · σ(1.702 x): OpenAI's fast approximation of GELU."""

    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class MultiheadSelfAttention(nn.Module):
    """Self-attention with `nn.MultiheadAttention`'s parameter names (one packed `in_proj_weight`
    for q, k, v and an `out_proj` linear), which is what OpenAI's checkpoints store; written out
    so the attention map can be returned."""

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
        scores = (q @ k.transpose(-2, -1)) / math.sqrt(self.head_dim)  # (B, h, N, N)
        if attn_mask is not None:
            scores = scores + attn_mask
        attn = scores.softmax(dim=-1)  # (B, h, N, N)
        x = (attn @ v).transpose(1, 2).reshape(B, N, C)  # (B, N, h·d)
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
        h, attn = self.attn(self.ln_1(x), attn_mask, return_attention=True)
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


class VisionTransformer(nn.Module):
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
    def __init__(self, config: CLIPConfig | None = None, **overrides):
        super().__init__()
        cfg = replace(config or CLIPConfig(), **overrides)
        self.config = cfg
        self.visual = VisionTransformer(cfg)
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
    mean = torch.tensor(mean, device=images.device).view(1, 3, 1, 1)
    std = torch.tensor(std, device=images.device).view(1, 3, 1, 1)
    return (images - mean) / std


# ---------------------------------------------------------------------------------------------
# Presets
# ---------------------------------------------------------------------------------------------

PRESETS = {
    "clip_vit_b32": dict(patch_size=32),
    "clip_vit_b16": dict(patch_size=16),
    "clip_vit_l14": dict(embed_dim=768, patch_size=14, vision_width=1024, vision_layers=24, vision_heads=16,
                         text_width=768, text_heads=12),
    # ShapesWorld: 64×64 images, a ~40-word vocabulary, captions of ≤ 16 tokens, GELU.
    "clip_shapes_tiny": dict(embed_dim=128, image_size=64, patch_size=8, vision_width=128, vision_layers=4,
                             vision_heads=4, context_length=16, vocab_size=64, text_width=128, text_layers=3,
                             text_heads=4, quick_gelu=False),
}


def make_clip(preset, **overrides):
    return CLIP(CLIPConfig(**{**PRESETS[preset], **overrides}))


def clip_vit_b32(**overrides):
    """OpenAI ViT-B/32: 151 M parameters, 224×224 images, 7×7 patches of 32 px."""
    return make_clip("clip_vit_b32", **overrides)


def clip_vit_b16(**overrides):
    """OpenAI ViT-B/16: 150 M parameters, 14×14 patches of 16 px."""
    return make_clip("clip_vit_b16", **overrides)


def clip_vit_l14(**overrides):
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
        embed_dim=sd["text_projection"].shape[1], image_size=grid * patch_size, patch_size=patch_size,
        vision_width=vision_width, vision_layers=count("visual.transformer.resblocks."),
        vision_heads=vision_width // 64, context_length=sd["positional_embedding"].shape[0],
        vocab_size=sd["token_embedding.weight"].shape[0], text_width=text_width,
        text_layers=count("transformer.resblocks."), text_heads=text_width // 64,
    )


# ---------------------------------------------------------------------------------------------
# Zero-shot classification, ranking, retrieval
# ---------------------------------------------------------------------------------------------

DEFAULT_TEMPLATES = ("a photo of a {}.",)


@torch.no_grad()
def class_embeddings(model, tokenizer, classnames, templates=None):
    """One unit vector per class: every template filled with the class name, encoded and
    normalized, averaged over templates (prompt ensembling), renormalized.

    Returns:
        (C, E) unit rows.
    """
    # BEGIN SOLUTION
    templates = list(templates or DEFAULT_TEMPLATES)
    texts = [t.format(c) for c in classnames for t in templates]  # C·K texts, class-major
    device = next(model.parameters()).device
    emb = model.encode_text(tokenizer(texts).to(device), normalize=True)  # (C·K, E)
    emb = emb.view(len(classnames), len(templates), -1).mean(dim=1)  # (C, E) mean over templates
    return F.normalize(emb, dim=-1)
    # END SOLUTION


@torch.no_grad()
def zero_shot_classify(model, images, classnames, templates=None, tokenizer=None, text_features=None):
    """CLIP's zero-shot classifier: the class whose prompt embedding is closest to the image.

    Args:
        images: (B, 3, H, W), already preprocessed for `model`.
        classnames: C names; `templates`: prompts with `{}` (default "a photo of a {}.").
        tokenizer: text → ids (default: CLIP's BPE); `text_features`: precomputed (C, E)
            `class_embeddings`, to skip the text tower.
    Returns:
        (B, C) probabilities: softmax of exp(logit_scale) · cosine similarities.
    """
    if not classnames:
        raise ValueError("zero_shot_classify needs at least one class name.")
    # BEGIN SOLUTION
    if text_features is None:
        text_features = class_embeddings(model, tokenizer or default_tokenizer(), classnames, templates)
    image = model.encode_image(images, normalize=True)  # (B, E)
    logits = model.temperature_scale() * image @ text_features.T  # (B, C)
    return logits.softmax(dim=-1)
    # END SOLUTION


def default_tokenizer():
    from course_lib.tokenizers import BPETokenizer

    return BPETokenizer()


def rank_of(scores, target):
    """1-based rank of `target` in one row of scores (1 = highest)."""
    return int((scores > scores[target]).sum()) + 1


def ranking_sentence(scores, target, name=None):
    """"Ranked k out of N" (the paper's figure: "a photo of guacamole ... ranked 1 out of 101")."""
    prefix = f"{name}: ranked" if name else "Ranked"
    return f"{prefix} {rank_of(scores, target)} out of {len(scores)}"


def retrieval_recall(similarity, ks=(1, 5), positives=None):
    """Recall@k both ways for a square similarity (N images × N texts, pair i ↔ i).

    Args:
        similarity: (N, N), [i, j] = score of image i with text j.
        positives: optional (N, N) bool, which pairs count as correct (default: the diagonal),
            for data where several captions fit one image.
    Returns:
        {"image_to_text_R@1": ..., "text_to_image_R@1": ..., ...}: the fraction of queries with a
        correct item among the k best.
    """
    n = similarity.shape[0]
    if positives is None:
        positives = torch.eye(n, dtype=torch.bool, device=similarity.device)
    out = {}
    directions = (("image_to_text", similarity, positives), ("text_to_image", similarity.T, positives.T))
    for name, sim, pos in directions:
        best_correct = sim.masked_fill(~pos, float("-inf")).max(dim=1, keepdim=True).values  # (N, 1)
        ranks = ((sim > best_correct) & ~pos).sum(dim=1)  # (N,) wrong items above: 0 = first
        for k in ks:
            out[f"{name}_R@{k}"] = (ranks < k).float().mean().item()
    return out


@torch.no_grad()
def patch_text_similarity(model, images, text_features):
    """Cosine similarity of every patch token (through ln_post and proj) with one text embedding.

    CLIP only trains the [CLS] token to match texts, so this map is a weak guide (on ShapesWorld
    its best patch lies on the named object 14% of the time, a random patch 17%); use
    `occlusion_text_map` (54%).

    Args:
        images: (B, 3, H, W) preprocessed; text_features: (E,) or (1, E).
    Returns:
        (B, H/p, W/p) similarities in [-1, 1], patch grid in image layout.
    """
    B, _, H, W = images.shape
    p = model.config.patch_size
    patches = F.normalize(model.visual.forward_patches(images)[:, 1:], dim=-1)  # (B, L, E)
    sim = patches @ F.normalize(text_features.reshape(-1), dim=0)  # (B, L)
    return sim.view(B, H // p, W // p)  # (B, h, w)


@torch.no_grad()
def occlusion_text_map(model, images, text_features, fill=0.0):
    """How much the image–text similarity drops when each patch is hidden: where the text's
    evidence is. (On ShapesWorld its best patch lies on the named object 54% of the time.)

    Args:
        images: (B, 3, H, W) preprocessed; text_features: (E,) or (1, E); fill: the value a
            hidden patch gets (0 = the mean colour, after `preprocess`).
    Returns:
        (B, H/p, W/p): similarity of the image minus similarity with that patch hidden.
    """
    B, _, H, W = images.shape
    p = model.config.patch_size
    h, w = H // p, W // p
    text = F.normalize(text_features.reshape(-1), dim=0)  # (E,)
    hide = torch.eye(h * w, device=images.device).view(h * w, 1, h, w)  # (L, 1, h, w): one patch each
    hide = hide.repeat_interleave(p, dim=2).repeat_interleave(p, dim=3)  # (L, 1, H, W)
    maps = []
    for image in images:
        base = model.encode_image(image[None], normalize=True) @ text  # (1,)
        hidden = image[None] * (1 - hide) + fill * hide  # (L, 3, H, W)
        maps.append(base - model.encode_image(hidden, normalize=True) @ text)  # (L,)
    return torch.stack(maps).view(B, h, w)  # (B, h, w)


# ---------------------------------------------------------------------------------------------
# OpenAI's released weights
# ---------------------------------------------------------------------------------------------

# OpenAI puts each file's sha256 in its address: .../models/<sha256>/<name>.pt
OPENAI_URLS = {
    "clip_vit_b32": "https://openaipublic.azureedge.net/clip/models/"
                    "40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af/ViT-B-32.pt",
    "clip_vit_b16": "https://openaipublic.azureedge.net/clip/models/"
                    "5806e77cd80f8b59890b7e101eabd078d9fb84e6937f9e85e4ecb61988df416f/ViT-B-16.pt",
}


def read_openai_state_dict(path):
    """A released OpenAI file (a TorchScript archive, fp16) → a float32 state dict of our keys."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch.jit is deprecated, still reads them
            state_dict = torch.jit.load(str(path), map_location="cpu").state_dict()
    except RuntimeError:  # a plain state-dict file instead of TorchScript
        state_dict = torch.load(str(path), map_location="cpu", weights_only=True)
    drop = ("input_resolution", "context_length", "vocab_size")  # numbers stored beside the weights
    return {k: v.float() for k, v in state_dict.items() if k not in drop}


def load_openai(name):
    """Download (once) OpenAI's weights for `name`, check the sha256 of its address, load strictly."""
    from course_lib.checkpoints import download, load_state_dict_strict

    url = OPENAI_URLS[name]
    path = download(url, sha256=url.rsplit("/", 2)[-2], filename=f"openai-{url.rsplit('/', 1)[-1]}")
    state_dict = read_openai_state_dict(path)
    model = CLIP(config_from_state_dict(state_dict))
    load_state_dict_strict(model, state_dict)
    return model.eval()


def clip_vit_b32_official():
    return load_openai("clip_vit_b32")


def clip_vit_b16_official():
    return load_openai("clip_vit_b16")


def load_clip(name):
    """A CLIP by name, with what it needs around it: (model in eval mode, tokenizer, image size).

    `name` is a bundled checkpoint (its card names its word-level tokenizer) or an official one
    (CLIP's BPE tokenizer, 224 px).
    """
    from course_lib.checkpoints import OFFICIAL, card, load_pretrained
    from course_lib.tokenizers import BPETokenizer, WordTokenizer

    model = load_pretrained(name)
    if name in OFFICIAL:
        return model, BPETokenizer(), model.config.image_size
    info = card(name).get("tokenizer", {"kind": "bpe"})
    if info["kind"] == "word":
        return model, WordTokenizer(info["words"], info["context_length"]), model.config.image_size
    return model, BPETokenizer(context_length=model.config.context_length), model.config.image_size
