"""Masked autoencoders (He et al. 2022), with the official MAE key layout.

    image (B, 3, H, W)
      → patches (B, L, D) + fixed 2-D sin-cos positions
      → random masking: keep L·(1 − ratio) patches per sample         (B, L_keep, D)
      → [CLS] + visible patches → encoder blocks → norm                (B, 1 + L_keep, D)
      → decoder_embed to the decoder width, mask tokens put back in
        the original order, + fixed sin-cos positions                  (B, 1 + L, D_dec)
      → decoder blocks → decoder_norm → decoder_pred                   (B, L, p*p*3)
      → MSE on the removed patches only                                (`losses.mae_loss`)

The encoder never sees a mask token: at 75% masking it processes a quarter of the patches,
which is what makes MAE cheap to pre-train. State-dict keys equal the official
`models_mae.py` (`mask_token`, `decoder_embed`, `decoder_pos_embed`, `decoder_blocks.N.*`,
`decoder_norm`, `decoder_pred`; the encoder keys are those of `course_lib.vit`), so the
published weights load with `strict=True`.

The model only (config, masking, modules, presets): the demo's reconstructions are in
`evaluate.reconstruction`, the published weights in `official.mae`, the recipe in `train.recipes.mae`.
"""

from dataclasses import dataclass, fields, replace

import torch
from torch import nn

from course_lib.blocks import Block
from course_lib.losses import mae_loss
from course_lib.patches import PatchEmbed, check_divisible, patchify
from course_lib.positions import sincos_2d
from course_lib.vit import VisionTransformer, ViTConfig


@dataclass
class MAEConfig:
    img_size: int = 224
    patch_size: int = 16
    in_chans: int = 3
    embed_dim: int = 1024  # encoder
    depth: int = 24
    num_heads: int = 16
    decoder_embed_dim: int = 512  # decoder: narrower and shallower ("asymmetric" design)
    decoder_depth: int = 8
    decoder_num_heads: int = 16
    mlp_ratio: float = 4.0
    norm_pix_loss: bool = False  # target = each patch normalized by its own mean and std
    fused_attn: bool = False  # True: scaled_dot_product_attention (faster, no maps)

    @property
    def grid_size(self):
        return self.img_size // self.patch_size

    @property
    def num_patches(self):
        return self.grid_size**2


# -- masking: pure functions ---------------------------------------------------------------------
def keep_by_noise(x, noise, len_keep):
    """Keep, in each sample, the `len_keep` tokens with the smallest noise.

    Args:
        x: (B, L, D) tokens.
        noise: (B, L) any numbers; low = kept.
        len_keep: how many tokens each sample keeps.
    Returns:
        x_visible (B, len_keep, D); mask (B, L) with 0 keep, 1 remove; ids_restore (B, L), the
        permutation that puts shuffled tokens back in their original order.
    """
    # BEGIN SOLUTION
    B, L, D = x.shape
    ids_shuffle = torch.argsort(noise, dim=1)  # (B, L) ascending: small noise is kept
    ids_restore = torch.argsort(ids_shuffle, dim=1)  # (B, L) inverse permutation
    ids_keep = ids_shuffle[:, :len_keep]  # (B, len_keep)
    x_visible = torch.gather(x, 1, ids_keep.unsqueeze(-1).expand(-1, -1, D))  # (B, len_keep, D)
    mask = torch.ones(B, L, device=x.device)
    mask[:, :len_keep] = 0  # in shuffled order: the first len_keep are kept
    mask = torch.gather(mask, 1, ids_restore)  # (B, L) back in patch order
    return x_visible, mask, ids_restore
    # END SOLUTION


def random_masking(x, mask_ratio, noise=None):
    """Per-sample random masking: every sample gets its own random subset of patches.

    Sorting uniform noise gives a random permutation; the first L·(1 − ratio) are kept.
    `noise` (B, L) can be given to reproduce a masking (the parity test passes the same noise
    to transformers' ViTMAE).

    Returns:
        x_visible (B, L_keep, D), mask (B, L) with 1 = removed, ids_restore (B, L).
    """
    # BEGIN SOLUTION
    B, L, D = x.shape
    len_keep = int(L * (1 - mask_ratio))
    if noise is None:
        noise = torch.rand(B, L, device=x.device)  # uniform in [0, 1)
    return keep_by_noise(x, noise, len_keep)
    # END SOLUTION


def noise_for_mask(mask):
    """Noise that makes `keep_by_noise` remove exactly the patches where `mask` is 1.

    Args:
        mask: (B, L) with 1 = remove; every row must remove the same number of patches.
    Returns:
        noise (B, L) and len_keep (int).
    """
    mask = mask.float()
    removed = mask.sum(dim=1)  # (B,)
    if not torch.all(removed == removed[0]):
        raise ValueError("Every image in the batch must have the same number of masked patches.")
    L = mask.shape[1]
    ramp = torch.arange(L, device=mask.device) / (2.0 * L)  # < 0.5: keeps patch order, breaks ties
    return mask + ramp, L - int(removed[0])


# -- the model -----------------------------------------------------------------------------------
class MaskedAutoencoderViT(nn.Module):
    def __init__(self, config: MAEConfig | None = None, **overrides):
        super().__init__()
        cfg = replace(config or MAEConfig(), **overrides)
        check_divisible(cfg.img_size, cfg.img_size, cfg.patch_size)
        self.config = cfg
        D, Dd, L = cfg.embed_dim, cfg.decoder_embed_dim, cfg.num_patches
        # encoder
        self.patch_embed = PatchEmbed(cfg.patch_size, cfg.in_chans, D)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, D))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + L, D), requires_grad=False)  # fixed sin-cos
        self.blocks = nn.ModuleList(self._block(D, cfg.num_heads) for _ in range(cfg.depth))
        self.norm = nn.LayerNorm(D, eps=1e-6)
        # decoder
        self.decoder_embed = nn.Linear(D, Dd)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, Dd))
        self.decoder_pos_embed = nn.Parameter(torch.zeros(1, 1 + L, Dd), requires_grad=False)
        self.decoder_blocks = nn.ModuleList(
            self._block(Dd, cfg.decoder_num_heads) for _ in range(cfg.decoder_depth)
        )
        self.decoder_norm = nn.LayerNorm(Dd, eps=1e-6)
        self.decoder_pred = nn.Linear(Dd, cfg.patch_size**2 * cfg.in_chans)  # pixels of one patch
        self.init_weights()

    def _block(self, dim, heads):
        return Block(dim, heads, self.config.mlp_ratio, qkv_bias=True, fused_attn=self.config.fused_attn)

    def init_weights(self):
        """As the official code: fixed sin-cos tables, Xavier-uniform linears (and patch embedding
        seen as a linear layer), N(0, 0.02) for the [CLS] and mask tokens."""
        grid = self.config.grid_size
        with torch.no_grad():
            for table in (self.pos_embed, self.decoder_pos_embed):  # (1, 1 + L, width) each
                table.copy_(sincos_2d(table.shape[-1], grid, cls_token=True)[None])
        w = self.patch_embed.proj.weight
        nn.init.xavier_uniform_(w.view(w.shape[0], -1))
        nn.init.normal_(self.cls_token, std=0.02)
        nn.init.normal_(self.mask_token, std=0.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    # -- forward, step by step -------------------------------------------------------------
    def forward_encoder(self, imgs, mask_ratio=0.75, noise=None, mask=None):
        """Encode the visible patches only.

        Args:
            imgs: (B, C, H, W) with H = W = img_size.
            mask_ratio: fraction of patches removed (ignored when `mask` is given).
            noise: optional (B, L) masking noise, for reproducible masks.
            mask: optional (B, L) hand-chosen mask, 1 = remove.
        Returns:
            latent (B, 1 + L_keep, D), mask (B, L) 1 = removed, ids_restore (B, L).
        """
        B, C, H, W = imgs.shape
        S = self.config.img_size
        if (H, W) != (S, S):
            raise ValueError(f"This MAE expects {S}×{S} images, got {H}×{W}: resize the images first.")
        x = self.patch_embed(imgs) + self.pos_embed[:, 1:]  # (B, L, D): positions before shuffling
        if mask is not None:
            noise, len_keep = noise_for_mask(mask)
            x, mask, ids_restore = keep_by_noise(x, noise, len_keep)  # (B, L_keep, D)
        else:
            x, mask, ids_restore = random_masking(x, mask_ratio, noise)  # (B, L_keep, D)
        cls = (self.cls_token + self.pos_embed[:, :1]).expand(B, -1, -1)  # (B, 1, D)
        x = torch.cat([cls, x], dim=1)  # (B, 1 + L_keep, D)
        for blk in self.blocks:
            x = blk(x)
        return self.norm(x), mask, ids_restore

    def forward_decoder(self, latent, ids_restore):
        """Predict the pixels of every patch from the visible tokens and mask tokens.

        Args:
            latent: (B, 1 + L_keep, D) encoder output.
            ids_restore: (B, L) from the masking.
        Returns:
            pred (B, L, p*p*C), in patch order ([CLS] dropped).
        """
        x = self.decoder_embed(latent)  # (B, 1 + L_keep, Dd)
        B, N, Dd = x.shape
        L = ids_restore.shape[1]
        mask_tokens = self.mask_token.expand(B, L + 1 - N, -1)  # (B, L - L_keep, Dd): one per removed
        x_ = torch.cat([x[:, 1:], mask_tokens], dim=1)  # (B, L, Dd) in shuffled order
        x_ = torch.gather(x_, 1, ids_restore.unsqueeze(-1).expand(-1, -1, Dd))  # (B, L, Dd) unshuffled
        x = torch.cat([x[:, :1], x_], dim=1) + self.decoder_pos_embed  # (B, 1 + L, Dd)
        for blk in self.decoder_blocks:
            x = blk(x)
        x = self.decoder_pred(self.decoder_norm(x))  # (B, 1 + L, p*p*C)
        return x[:, 1:]  # (B, L, p*p*C)

    def forward_loss(self, imgs, pred, mask):
        """Masked-patch MSE (`course_lib.losses.mae_loss`) against the patchified images."""
        target = patchify(imgs, self.config.patch_size)  # (B, L, p*p*C)
        return mae_loss(target, pred, mask, norm_pix=self.config.norm_pix_loss)

    def forward(self, imgs, mask_ratio=0.75, noise=None, mask=None):
        """imgs (B, C, H, W) → (loss, pred (B, L, p*p*C), mask (B, L) with 1 = removed)."""
        latent, mask, ids_restore = self.forward_encoder(imgs, mask_ratio, noise, mask)
        pred = self.forward_decoder(latent, ids_restore)
        return self.forward_loss(imgs, pred, mask), pred, mask

    def forward_features(self, imgs):
        """Every patch, nothing masked, in patch order: (B, 1 + L, D) (for probes)."""
        B, L = imgs.shape[0], self.config.num_patches
        in_order = torch.arange(L, device=imgs.device).expand(B, L)  # noise that keeps the order
        latent, _, _ = self.forward_encoder(imgs, mask_ratio=0.0, noise=in_order)
        return latent

    # -- the encoder as a plain ViT ---------------------------------------------------------
    def encoder_state_dict(self):
        """The encoder's weights only: the keys of `course_lib.vit` (no decoder)."""
        return {k: v for k, v in self.state_dict().items() if not is_decoder_key(k)}

    def to_vit(self):
        """A `VisionTransformer` (no head) with this encoder's weights, for probing/fine-tuning."""
        c = self.config
        vit = VisionTransformer(ViTConfig(img_size=c.img_size, patch_size=c.patch_size, in_chans=c.in_chans,
                                          num_classes=0, embed_dim=c.embed_dim, depth=c.depth,
                                          num_heads=c.num_heads, mlp_ratio=c.mlp_ratio))
        vit.load_state_dict(self.encoder_state_dict(), strict=True)
        return vit


def is_decoder_key(key):
    """True for the decoder's keys, the ones an encoder-only checkpoint lacks."""
    return key.startswith(("mask_token", "decoder_"))


# -- presets (MAE paper: decoder 512-d, 8 blocks, 16 heads) --------------------------------------
PRESETS = {
    "base": dict(patch_size=16, embed_dim=768, depth=12, num_heads=12),
    "large": dict(patch_size=16, embed_dim=1024, depth=24, num_heads=16),
    "huge": dict(patch_size=14, embed_dim=1280, depth=32, num_heads=16),
    # ShapesWorld (64 px): a ViT-Tiny-wide encoder with 8-px patches and a light decoder
    "shapes": dict(img_size=64, patch_size=8, embed_dim=192, depth=6, num_heads=3,
                   decoder_embed_dim=128, decoder_depth=2, decoder_num_heads=4),
    # a lighter ShapesWorld model for the experiments (several short runs on a CPU)
    "shapes_small": dict(img_size=64, patch_size=8, embed_dim=128, depth=4, num_heads=4,
                         decoder_embed_dim=64, decoder_depth=1, decoder_num_heads=2),
    # a minute-scale model for tests and the notebook
    "micro": dict(img_size=32, patch_size=8, embed_dim=64, depth=2, num_heads=2,
                  decoder_embed_dim=32, decoder_depth=1, decoder_num_heads=2),
}


def make_mae(preset, **overrides):
    """Build a preset MAE; `overrides` are any `MAEConfig` fields (norm_pix_loss=, img_size=, ...)."""
    if preset not in PRESETS:
        raise ValueError(f"Unknown MAE preset {preset!r}: choose one of {sorted(PRESETS)}.")
    names = {f.name for f in fields(MAEConfig)}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise ValueError(f"Unknown MAE option(s) {unknown}: valid options are {sorted(names)}.")
    return MaskedAutoencoderViT(MAEConfig(**{**PRESETS[preset], **overrides}))


def mae_vit_base(**overrides):
    return make_mae("base", **overrides)


def mae_vit_large(**overrides):
    return make_mae("large", **overrides)


def mae_vit_huge(**overrides):
    return make_mae("huge", **overrides)


def mae_vit_shapes(**overrides):
    return make_mae("shapes", **overrides)


def mae_vit_shapes_small(**overrides):
    return make_mae("shapes_small", **overrides)


def mae_vit_micro(**overrides):
    return make_mae("micro", **overrides)
