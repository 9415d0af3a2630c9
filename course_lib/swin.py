"""Swin Transformer (Liu et al. 2021): attention inside windows, shifted every other block.

    image (B, 3, H, W)
      → patch tokens (B, H/4 · W/4, C)              PatchEmbed: a 4×4 patch becomes one token, + LayerNorm
      → stage 1..4: blocks of W-MSA / SW-MSA        attention only inside M×M windows (M = 7 or 12)
                    then PatchMerging (not after 4)  2×2 neighbours → one token: H/2 × W/2, 2C channels
      → LayerNorm → average over tokens → head      logits (B, num_classes)

Why windows: global self-attention over h·w tokens costs Ω(MSA) = 4hwC² + 2(hw)²C, quadratic in the
number of tokens; attention inside M×M windows costs Ω(W-MSA) = 4hwC² + 2M²hwC, linear (Eq. 1–2).
Why shifted windows: every second block rolls the feature map by ⌊M/2⌋ so that neighbouring
windows exchange information; a mask (−100 before the softmax) stops tokens that were not
neighbours before the roll from attending to each other.

State-dict keys and shapes are those of Microsoft's official checkpoints (`layers.i.blocks.j.*`,
saved `relative_position_index` and `attn_mask` buffers, downsampling at the END of a stage), so
the published weights load with `strict=True`. timm places the downsampling at the start of the
next stage and calls the head `head.fc`: `timm_to_official` converts with one explicit table.
"""

import re
from dataclasses import dataclass, fields, replace

import torch
from torch import nn

from course_lib import patches
from course_lib.blocks import DropPath, Mlp
from course_lib.train.recipe import register_recipe
from course_lib.train.supervised import (
    SupervisedConfig,
    SupervisedRecipe,
    SupervisedResNet,
    SupervisedResNetConfig,
)


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


# -- windows: pure helpers ----------------------------------------------------------------------
def window_partition(x, window_size):
    """Cut a feature map into non-overlapping square windows.

    Args:
        x: (B, H, W, C), H and W multiples of `window_size`.
        window_size: M.
    Returns:
        (B · H/M · W/M, M, M, C): windows of image 0 first, row by row.
    """
    # BEGIN SOLUTION
    B, H, W, C = x.shape
    M = window_size
    x = x.view(B, H // M, M, W // M, M, C)  # (B, H/M, M, W/M, M, C)
    x = x.permute(0, 1, 3, 2, 4, 5)  # (B, H/M, W/M, M, M, C): window row, window column first
    return x.reshape(-1, M, M, C)  # (B·nW, M, M, C)
    # END SOLUTION


def window_reverse(windows, window_size, H, W):
    """Inverse of `window_partition`: glue the windows back into feature maps.

    Args:
        windows: (B · H/M · W/M, M, M, C).
        window_size: M.
        H, W: height and width of the feature map.
    Returns:
        (B, H, W, C).
    """
    M = window_size
    C = windows.shape[-1]
    x = windows.view(-1, H // M, W // M, M, M, C)  # (B, H/M, W/M, M, M, C)
    x = x.permute(0, 1, 3, 2, 4, 5)  # (B, H/M, M, W/M, M, C)
    return x.reshape(-1, H, W, C)  # (B, H, W, C)


def relative_position_index(window_size):
    """Index into the bias table for every (query, key) pair of one M × M window.

    Two tokens at (y1, x1) and (y2, x2) are (y1 − y2, x1 − x2) apart, each in [−(M−1), M−1]:
    (2M − 1)² possible offsets, one row of the table each.
    Returns:
        (M², M²) long tensor with values in [0, (2M − 1)²).
    """
    M = window_size
    ys, xs = torch.meshgrid(torch.arange(M), torch.arange(M), indexing="ij")
    coords = torch.stack([ys.flatten(), xs.flatten()])  # (2, M²): row and column of each token
    rel = coords[:, :, None] - coords[:, None, :]  # (2, M², M²): offsets between all pairs
    rel = rel.permute(1, 2, 0) + (M - 1)  # (M², M², 2), shifted to start at 0
    return rel[..., 0] * (2 * M - 1) + rel[..., 1]  # (M², M²): row-major index of the offset


def shift_regions(H, W, window_size, shift_size):
    """Label the regions of a feature map after the cyclic shift (Swin paper, Fig. 4).

    Rolling by `shift_size` brings the top rows and left columns to the bottom and right: the
    last window row and column then mix tokens from up to 3 × 3 = 9 regions that were not
    neighbours in the image. Returns an (H, W) long tensor of region labels 0..8.
    """
    M, s = window_size, shift_size
    labels = torch.zeros(H, W, dtype=torch.long)
    bands = (slice(0, -M), slice(-M, -s), slice(-s, None))  # inside, last window, wrapped part
    for i, rows in enumerate(bands):
        for j, cols in enumerate(bands):
            labels[rows, cols] = 3 * i + j
    return labels


def shifted_window_mask(H, W, window_size, shift_size):
    """The SW-MSA attention mask: 0 inside a region, −100 between regions (exp(−100) ≈ 0).

    Returns:
        (nW, M², M²) float tensor, nW = (H/M)(W/M); added to the scores of each window.
    """
    # BEGIN SOLUTION
    M = window_size
    labels = shift_regions(H, W, window_size, shift_size)[None, :, :, None]  # (1, H, W, 1)
    labels = window_partition(labels, M).reshape(-1, M * M)  # (nW, M²)
    same = labels[:, None, :] == labels[:, :, None]  # (nW, M², M²): same region?
    return torch.zeros(same.shape).masked_fill(~same, -100.0)
    # END SOLUTION


# -- layers -------------------------------------------------------------------------------------
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


class PatchEmbed(patches.PatchEmbed):
    """The kit's patch embedding followed by a LayerNorm (`patch_embed.proj`, `patch_embed.norm`)."""

    def __init__(self, patch_size=4, in_chans=3, embed_dim=96):
        super().__init__(patch_size, in_chans, embed_dim)
        self.norm = nn.LayerNorm(embed_dim)

    def forward(self, x):
        return self.norm(super().forward(x))  # (B, L, C)


class SwinTransformer(nn.Module):
    def __init__(self, config: SwinConfig | None = None, **overrides):
        super().__init__()
        cfg = replace(config or SwinConfig(), **overrides)
        check_config(cfg)
        self.config = cfg
        self.patch_embed = PatchEmbed(cfg.patch_size, cfg.in_chans, cfg.embed_dim)
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


# -- timm → official key layout -----------------------------------------------------------------
# The one table of differences between timm's and Microsoft's state dicts.
TIMM_TO_OFFICIAL = [
    # timm merges at the start of stage i, Microsoft at the end of stage i − 1
    (r"^layers\.(\d+)\.downsample\.", lambda m: f"layers.{int(m.group(1)) - 1}.downsample."),
    (r"^head\.fc\.", lambda m: "head."),  # timm wraps the classifier in a ClassifierHead
]


def timm_to_official(timm_state, model):
    """Convert a timm Swin state dict to the official layout of `model` (our SwinTransformer).

    Keys are renamed by `TIMM_TO_OFFICIAL`; the buffers timm does not save
    (`relative_position_index`, `attn_mask`) are derived tables, taken from `model`.
    """
    out = {}
    for key, value in timm_state.items():
        for pattern, repl in TIMM_TO_OFFICIAL:
            key = re.sub(pattern, repl, key)
        out[key] = value
    for key, value in model.state_dict().items():
        if key.endswith(("relative_position_index", "attn_mask")):
            out[key] = value.clone()
    return out


# -- complexity (Swin paper, Eq. 1 and 2) -------------------------------------------------------
def omega_msa(h, w, C):
    """Multiply-adds of global multi-head self-attention over h × w tokens of C channels.

    Ω(MSA) = 4hwC² + 2(hw)²C: the q, k, v and output projections (4hwC²), plus q·kᵀ and attn·v,
    each (hw)² pairs of C-vectors (2(hw)²C). Softmax and biases are not counted, as in the paper.
    """
    return 4 * h * w * C**2 + 2 * (h * w) ** 2 * C


def omega_wmsa(h, w, C, M):
    """Multiply-adds of window attention with M × M windows: Ω(W-MSA) = 4hwC² + 2M²hwC.

    Each of the hw queries only meets the M² keys of its own window: linear in hw for a fixed M.
    """
    return 4 * h * w * C**2 + 2 * M**2 * h * w * C


# Rows for `python -m course_lib.complexity` (same form as its TABLE): our count beside the
# Swin paper's Table 1 (params M, GFLOPs = multiply-adds) and timm's published GMACs.
COMPLEXITY_ROWS = [
    ("Swin-T@224", "course_lib.swin:swin_tiny", dict(img_size=224), 224,
     [("Swin paper", 29, 4.5), ("timm", 28.29, 4.51)]),
    ("Swin-S@224", "course_lib.swin:swin_small", dict(img_size=224), 224,
     [("Swin paper", 50, 8.7)]),
    ("Swin-B@224", "course_lib.swin:swin_base", dict(img_size=224), 224,
     [("Swin paper", 88, 15.4), ("timm", 87.77, 15.47)]),
    ("Swin-B@384", "course_lib.swin:swin_base", dict(img_size=384), 384,
     [("Swin paper", 88, 47.0), ("timm", 87.90, 47.19)]),
    ("Swin-L@384", "course_lib.swin:swin_large", dict(img_size=384), 384,
     [("Swin paper", 197, 103.9), ("timm", 196.74, 104.08)]),
]


# -- official weights (Microsoft's release; ImageNet-1K classifiers) -----------------------------
_STORAGE = "https://github.com/SwinTransformer/storage/releases/download/v1.0.0/"
OFFICIAL_WEIGHTS = {  # name → (file, preset, image size); Swin-L exists only as 22K → 1K fine-tuning
    "swin_tiny": ("swin_tiny_patch4_window7_224.pth", "tiny", 224),
    "swin_small": ("swin_small_patch4_window7_224.pth", "small", 224),
    "swin_base": ("swin_base_patch4_window7_224.pth", "base", 224),
    "swin_base_384": ("swin_base_patch4_window12_384.pth", "base", 384),
    "swin_large": ("swin_large_patch4_window7_224_22kto1k.pth", "large", 224),
    "swin_large_384": ("swin_large_patch4_window12_384_22kto1k.pth", "large", 384),
}


def load_official(name):
    """Download Microsoft's checkpoint `name` (once) and load it strictly into our model."""
    from course_lib.checkpoints import CheckpointError, download, load_state_dict_strict

    if name not in OFFICIAL_WEIGHTS:
        raise CheckpointError(f"No official Swin named {name!r}: choose one of {sorted(OFFICIAL_WEIGHTS)}.")
    filename, preset, size = OFFICIAL_WEIGHTS[name]
    model = make_swin(preset, img_size=size)
    checkpoint = torch.load(download(_STORAGE + filename), map_location="cpu", weights_only=True)
    load_state_dict_strict(model, checkpoint.get("model", checkpoint))  # the file is {"model": ...}
    return model.eval()


def swin_tiny_official():
    return load_official("swin_tiny")


def swin_small_official():
    return load_official("swin_small")


def swin_base_official():
    return load_official("swin_base")


def swin_base_384_official():
    return load_official("swin_base_384")


def swin_large_official():
    return load_official("swin_large")


def swin_large_384_official():
    return load_official("swin_large_384")


# -- recipes for the training engine (`python -m course_lib.train NAME --help`) -----------------
# Registered here because `course_lib.train` imports this module to find them; the models stay
# in course_lib.cnn and above.
@dataclass
class NonLocalResNetConfig(SupervisedResNetConfig):
    nonlocal_stage: int = 1  # 0-based stage that ends with a NonLocalBlock (8 × 8 positions at 64 px)


@register_recipe("supervised-resnet-nonlocal")
class SupervisedNonLocalResNet(SupervisedResNet):
    """The supervised ResNet baseline with one non-local block: attention tried inside a CNN."""

    Config = NonLocalResNetConfig

    def model_kwargs(self, cfg):
        return {**super().model_kwargs(cfg), "nonlocal_stages": [cfg.nonlocal_stage]}


@dataclass
class SupervisedSwinConfig(SupervisedConfig):
    patch_size: int = 2  # 64 px → a 32 × 32 token grid, then 16, 8, 4
    window_size: int = 4
    embed_dim: int = 48
    drop_path: float = 0.1
    lr: float = 1e-3
    warmup_epochs: float = 5.0


@register_recipe("supervised-swin")
class SupervisedSwin(SupervisedRecipe):
    """A small Swin classifying ShapesWorld shapes, to compare with the ViT and the ResNet."""

    Config = SupervisedSwinConfig

    def model_kwargs(self, cfg):
        return {"img_size": cfg.image_size, "patch_size": cfg.patch_size, "window_size": cfg.window_size,
                "embed_dim": cfg.embed_dim, "depths": [2, 2, 2, 2], "num_heads": [2, 4, 8, 16],
                "num_classes": len(self.classes(cfg))}

    def build_model(self, cfg):
        return SwinTransformer(**self.model_kwargs(cfg), drop_path_rate=cfg.drop_path)

    def card(self, model, cfg):
        return {"model": {"factory": "course_lib.swin:SwinTransformer", "kwargs": self.model_kwargs(cfg)},
                "input": self.input_card(cfg)}
