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
"""

import math
from dataclasses import asdict, dataclass, fields, replace

import torch
import torch.nn.functional as F
from torch import nn

from course_lib.blocks import Block
from course_lib.losses import mae_loss
from course_lib.patches import PatchEmbed, check_divisible, patchify, unpatchify
from course_lib.positions import sincos_2d
from course_lib.train.recipe import Recipe, TrainConfig, register_recipe
from course_lib.vit import VisionTransformer, ViTConfig

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


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
    removed = mask.sum(dim=1)
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
            self.pos_embed.copy_(sincos_2d(self.pos_embed.shape[-1], grid, cls_token=True)[None])
            self.decoder_pos_embed.copy_(
                sincos_2d(self.decoder_pos_embed.shape[-1], grid, cls_token=True)[None]
            )
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
        if H != self.config.img_size or W != self.config.img_size:
            raise ValueError(
                f"This MAE expects {self.config.img_size}×{self.config.img_size} images, got {H}×{W}: "
                "resize the images first."
            )
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
        cfg = self.config
        vit = VisionTransformer(
            ViTConfig(img_size=cfg.img_size, patch_size=cfg.patch_size, in_chans=cfg.in_chans,
                      num_classes=0, embed_dim=cfg.embed_dim, depth=cfg.depth,
                      num_heads=cfg.num_heads, mlp_ratio=cfg.mlp_ratio)
        )
        vit.load_state_dict(self.encoder_state_dict(), strict=True)
        return vit


DECODER_PREFIXES = ("mask_token", "decoder_")


def is_decoder_key(key):
    return key.startswith(DECODER_PREFIXES)


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


def config_dict(model):
    """The model's config as a plain dict (for model cards)."""
    return asdict(model.config)


# -- reconstructions -----------------------------------------------------------------------------
@dataclass
class Reconstruction:
    """The four panels of the MAE demo, as images (B, 3, H, W) in [0, 1], and the errors."""

    original: torch.Tensor
    masked: torch.Tensor  # removed patches shown dark grey
    reconstruction: torch.Tensor  # the decoder's prediction for every patch
    pasted: torch.Tensor  # reconstruction where removed, the original where visible
    mask: torch.Tensor  # (B, L) 1 = removed
    loss: float  # the training loss (normalized inputs; norm-pix targets if the model uses them)
    pixel_mse: torch.Tensor  # (B,) MSE over the removed pixels, in [0, 1] units


def unnormalize_with_visible(pred, target, mask, eps=1e-6):
    """Turn norm-pix predictions back into pixels using statistics of the VISIBLE patches.

    A norm-pix model predicts each patch up to its own mean and standard deviation. The masked
    patch's own statistics would put back exactly the information the model was asked to guess
    (its brightness and contrast): that leaks the answer. We use what the model was allowed to see:
    the average mean and the average variance of the visible patches of the same image.

    Args:
        pred: (B, L, P) predictions in normalized units.
        target: (B, L, P) the patchified input.
        mask: (B, L) 1 = removed.
    Returns:
        (B, L, P) predictions in the input's units.
    """
    visible = (1 - mask).unsqueeze(-1)  # (B, L, 1)
    count = visible.sum(dim=1).clamp(min=1)  # (B, 1)
    mean = (target.mean(-1, keepdim=True) * visible).sum(1) / count  # (B, 1) mean of patch means
    var = (target.var(-1, keepdim=True) * visible).sum(1) / count  # (B, 1) mean of patch variances
    return pred * (var.unsqueeze(1) + eps).sqrt() + mean.unsqueeze(1)  # (B, L, P)


@torch.no_grad()
def reconstruct(model, images, mask_ratio=0.75, noise=None, mask=None, mean=IMAGENET_MEAN,
                std=IMAGENET_STD, grey=0.15):
    """Mask, encode, decode: the four panels of the MAE demo.

    Args:
        model: a `MaskedAutoencoderViT` trained on inputs normalized with `mean`, `std`.
        images: (B, 3, H, W) in [0, 1].
        mask_ratio, noise, mask: as in `MaskedAutoencoderViT.forward`.
    Returns:
        a `Reconstruction`.
    """
    p = model.config.patch_size
    mean_t = torch.tensor(mean, device=images.device).view(1, -1, 1, 1)
    std_t = torch.tensor(std, device=images.device).view(1, -1, 1, 1)
    x = (images - mean_t) / std_t  # (B, 3, H, W) normalized
    loss, pred, mask = model(x, mask_ratio, noise=noise, mask=mask)  # pred (B, L, p*p*3)
    if model.config.norm_pix_loss:
        pred = unnormalize_with_visible(pred, patchify(x, p), mask)
    recon = (unpatchify(pred, p) * std_t + mean_t).clamp(0, 1)  # (B, 3, H, W) in [0, 1]
    pixel_mask = unpatchify(mask.unsqueeze(-1).expand(-1, -1, p * p * 3), p)  # (B, 3, H, W) 1 = removed
    pixel_mse = ((recon - images) ** 2 * pixel_mask).sum((1, 2, 3)) / pixel_mask.sum((1, 2, 3))
    return Reconstruction(
        original=images,
        masked=images * (1 - pixel_mask) + grey * pixel_mask,
        reconstruction=recon,
        pasted=images * (1 - pixel_mask) + recon * pixel_mask,
        mask=mask,
        loss=float(loss),
        pixel_mse=pixel_mse,
    )


# -- official weights ----------------------------------------------------------------------------
OFFICIAL_URLS = {
    # encoder only (the decoder is not published for the pre-trained models)
    "mae_vit_base": "https://dl.fbaipublicfiles.com/mae/pretrain/mae_pretrain_vit_base.pth",
    # encoder + decoder, trained with pixel targets for the paper's figures
    "mae_vit_large_visualize": "https://dl.fbaipublicfiles.com/mae/visualize/mae_visualize_vit_large.pth",
}


def load_official_state_dict(model, state_dict):
    """Load an official MAE state dict strictly, allowing exactly one gap: an encoder-only file.

    Encoder-only checkpoints lack every decoder key (and only those); anything else missing,
    unexpected or mis-shaped raises a `CheckpointError` naming the keys. The decoder then keeps
    its initialization.
    Returns:
        the sorted list of keys that were missing (empty for a full checkpoint).
    """
    from course_lib.checkpoints import CheckpointError, load_state_dict_strict

    own = model.state_dict()
    missing = sorted(set(own) - set(state_dict))
    decoder = sorted(k for k in own if is_decoder_key(k))
    if missing and missing != decoder:
        extra = sorted(set(missing) - set(decoder))
        raise CheckpointError(
            f"The MAE checkpoint lacks {len(missing)} keys; an encoder-only file may lack exactly the "
            f"decoder keys, but these are missing too: {extra[:8]}."
        )
    load_state_dict_strict(model, {**{k: own[k] for k in missing}, **state_dict})
    return missing


def _load_official(name, model):
    from course_lib.checkpoints import download

    path = download(OFFICIAL_URLS[name])
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)  # tensors only: no code runs
    load_official_state_dict(model, checkpoint.get("model", checkpoint))
    return model.eval()


def mae_vit_base_official():
    """MAE ViT-B/16 pre-trained encoder (official release; the decoder stays random)."""
    return _load_official("mae_vit_base", mae_vit_base())


def mae_vit_large_visualize_official():
    """MAE ViT-L/16 with its decoder, the weights of the official reconstruction demo."""
    return _load_official("mae_vit_large_visualize", mae_vit_large())


# -- training recipe: `python -m course_lib.train mae` ---------------------------------------------
# Registered on import, as every method's recipe is; the engine imports this module lazily.
AUGMENTATIONS = ("none", "fixed", "random", "color")  # the MAE paper's Table 1(f), in order


def crop_batch(x, scale=(0.2, 1.0), ratio=(3 / 4, 4 / 3), flip=True):
    """Random resized crop (and horizontal flip) of every image of a batch, at the same size.

    Each image gets its own crop of area ∈ `scale` (fraction of the image) and aspect ∈ `ratio`,
    resampled bilinearly by an affine grid. x: (B, C, H, W) → (B, C, H, W).
    """
    B = x.shape[0]
    dev = x.device
    area = torch.empty(B, device=dev).uniform_(*scale)
    aspect = torch.empty(B, device=dev).uniform_(math.log(ratio[0]), math.log(ratio[1])).exp()
    w = (area * aspect).sqrt().clamp(max=1.0)  # crop width / image width
    h = (area / aspect).sqrt().clamp(max=1.0)
    cx = (torch.rand(B, device=dev) * 2 - 1) * (1 - w)  # crop centre in [-1, 1] coordinates
    cy = (torch.rand(B, device=dev) * 2 - 1) * (1 - h)
    sign = torch.where(torch.rand(B, device=dev) < 0.5, -1.0, 1.0) if flip else torch.ones(B, device=dev)
    theta = torch.zeros(B, 2, 3, device=dev)
    theta[:, 0, 0], theta[:, 0, 2] = w * sign, cx
    theta[:, 1, 1], theta[:, 1, 2] = h, cy
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)  # (B, H, W, 2)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def color_jitter_batch(x, strength=0.4):
    """Brightness, contrast and saturation jitter by factors in [1 − s, 1 + s]; x (B, 3, H, W) in [0, 1]."""
    B = x.shape[0]

    def factor():
        return torch.empty(B, 1, 1, 1, device=x.device).uniform_(1 - strength, 1 + strength)

    x = x * factor()
    mean = x.mean(dim=(1, 2, 3), keepdim=True)  # (B, 1, 1, 1)
    x = (x - mean) * factor() + mean
    grey = x.mean(dim=1, keepdim=True)  # (B, 1, H, W)
    x = (x - grey) * factor() + grey
    return x.clamp(0, 1)


def augment_batch(x, mode, min_scale=0.2):
    """The four augmentations of the MAE ablation on a batch x (B, 3, H, W) in [0, 1]."""
    if mode == "none":
        return x
    if mode == "fixed":  # a crop of fixed size (7/8 of the side, like 224 of 256) at a random place
        return crop_batch(x, scale=(0.765, 0.766), ratio=(1.0, 1.0))
    x = crop_batch(x, scale=(min_scale, 1.0))
    return color_jitter_batch(x) if mode == "color" else x


@dataclass
class MAETrainConfig(TrainConfig):
    preset: str = "shapes"
    mask_ratio: float = 0.75
    norm_pix_loss: bool = False
    loss_on: str = "masked"  # "masked" (MAE) or "all" patches (the ablation)
    augment: str = "random"  # none | fixed | random | color
    min_scale: float = 0.2
    train_size: int = 20000
    probe_train: int = 2000  # labelled images the linear probe is fitted on (train split)
    probe_test: int = 1000  # held-out images ("test" split) for the probe and the masked MSE
    image_size: int = 64
    data_seed: int = 0
    difficulty: str = "medium"
    epochs: float = 20.0
    batch_size: int = 256
    lr: float = 1.5e-3
    warmup_epochs: float = 2.0
    weight_decay: float = 0.05


@dataclass
class ProbeData:
    train: object  # RenderedShapes: labelled images to fit the probe on
    test: object  # RenderedShapes: held-out images


@register_recipe("mae")
class MAERecipe(Recipe):
    """MAE pre-training on ShapesWorld; evaluated by masked MSE and a linear probe of the encoder."""

    Config = MAETrainConfig

    def model_kwargs(self, cfg):
        return {"img_size": cfg.image_size, "norm_pix_loss": cfg.norm_pix_loss}

    def build_model(self, cfg):
        if cfg.augment not in AUGMENTATIONS or cfg.loss_on not in ("masked", "all"):
            from course_lib.train import TrainError

            raise TrainError(f"--augment must be one of {AUGMENTATIONS} and --loss-on 'masked' or 'all'.")
        return make_mae(cfg.preset, **self.model_kwargs(cfg), fused_attn=True)

    def build_data(self, cfg):
        from course_lib.train.supervised import render_shapes

        def render(size, split):
            return render_shapes(size, cfg.image_size, cfg.data_seed, split, cfg.difficulty)

        return render(cfg.train_size, "train"), ProbeData(render(cfg.probe_train, "train"),
                                                          render(cfg.probe_test, "test"))

    def training_step(self, model, batch, ctx):
        cfg = ctx.cfg
        x = augment_batch(batch["image"].float() / 255.0, cfg.augment, cfg.min_scale)  # [0, 1]
        x = normalize_images(x)
        loss, pred, mask = model(x, mask_ratio=cfg.mask_ratio)
        if cfg.loss_on == "all":  # the ablation: score every patch, visible ones included
            mae = ctx.unwrap(model)
            target = patchify(x, mae.config.patch_size)
            loss = mae_loss(target, pred.float(), torch.ones_like(mask), mae.config.norm_pix_loss)
        return loss.float()

    def evaluate(self, model, val, ctx):
        cfg = ctx.cfg
        metrics = evaluate_mae(model, val, cfg.mask_ratio, ctx.device)
        if ctx.step + 1 >= ctx.total_steps:  # the baseline: the same encoder before training
            torch.manual_seed(cfg.seed)
            untrained = self.build_model(cfg).to(ctx.device).eval()
            baseline = probe_metrics(untrained, val, ctx.device)
            metrics.update({f"{k}_random_init": v for k, v in baseline.items()})
        return metrics

    def card(self, model, cfg):
        factory = f"course_lib.mae:mae_vit_{cfg.preset}"
        return {"model": {"factory": factory, "kwargs": self.model_kwargs(cfg)},
                "input": {"image_size": cfg.image_size, "mean": list(SHAPES_MEAN), "std": list(SHAPES_STD),
                          "data": f"ShapesWorld(seed={cfg.data_seed}, difficulty={cfg.difficulty!r})"}}


SHAPES_MEAN = (0.5, 0.5, 0.5)  # ShapesWorld's pixel statistics, as in course_lib.train.supervised
SHAPES_STD = (0.16, 0.16, 0.16)


def normalize_images(x, mean=SHAPES_MEAN, std=SHAPES_STD):
    """(B, 3, H, W) in [0, 1] → standardized per channel."""
    mean = torch.tensor(mean, device=x.device).view(1, -1, 1, 1)
    std = torch.tensor(std, device=x.device).view(1, -1, 1, 1)
    return (x - mean) / std


@torch.no_grad()
def encode_for_probe(model, data, device, chunk=250):
    """Frozen features of a RenderedShapes: the mean of the patch tokens, (N, D), and labels (N,)."""
    feats = []
    for start in range(0, len(data), chunk):
        images = data.images[start:start + chunk].to(device).float() / 255.0
        tokens = model.forward_features(normalize_images(images))  # (b, 1 + L, D)
        feats.append(tokens[:, 1:].mean(dim=1).float().cpu())  # (b, D)
    return torch.cat(feats), data.labels


def probe_metrics(model, val, device):
    """Linear-probe and k-NN top-1 accuracy of the frozen encoder (shape of the largest object)."""
    from course_lib.evaluate import knn_accuracy, linear_probe_accuracy

    train_x, train_y = encode_for_probe(model, val.train, device)
    test_x, test_y = encode_for_probe(model, val.test, device)
    return {"linear_probe": linear_probe_accuracy(train_x, train_y, test_x, test_y),
            "knn_top1": knn_accuracy(train_x, train_y, test_x, test_y)}


@torch.no_grad()
def evaluate_mae(model, val, mask_ratio, device):
    """Masked MSE (normalized units, and pixels in [0, 1] at 75%) on held-out images, fixed masks."""
    images = val.test.images.to(device).float() / 255.0  # (N, 3, H, W)
    L = model.config.num_patches
    noise = torch.rand(len(images), L, generator=torch.Generator().manual_seed(0)).to(device)
    out = {}
    for name, ratio in (("masked_mse", mask_ratio), ("masked_mse_75", 0.75)):
        rec = reconstruct(model, images, ratio, noise=noise, mean=SHAPES_MEAN, std=SHAPES_STD)
        out[name] = rec.loss
    out["pixel_mse_75"] = float(rec.pixel_mse.mean())
    return {**out, **probe_metrics(model, val, device)}
