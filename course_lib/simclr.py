"""SimCLR (Chen et al. 2020): learn an embedding by recognising two views of the same image.

    x ──t──▶ x̃_a ──f──▶ h_a ──g──▶ z_a ─┐
      └─t′─▶ x̃_b ──f──▶ h_b ──g──▶ z_b ─┴─▶ NT-Xent (or triplet) loss

    f: the encoder (a small ResNet from course_lib.cnn, or a ViT), h = f(x) ∈ R^F
    g: the projection head, Linear → BatchNorm → ReLU → Linear, z = g(h) ∈ R^128

After training, g is thrown away and the representation is h = f(x): the paper finds h keeps
information (colour, orientation) that the loss teaches z to ignore, so h probes better.
`SimCLR.forward` therefore returns h; only the training loss sees z.

This file holds the model only: the config, f, g, the objective and the presets. The two views
come from `course_lib.data.augment.TwoViews`; training is the `simclr` and `triplet` recipes
(`course_lib.train.recipes.simclr`); the frozen-feature probes are `course_lib.evaluate.probes`.

    python -m course_lib.train simclr --epochs 64 --bundle simclr-resnet-shapes   # about 5 CPU-minutes
    python -m course_lib.train triplet --epochs 8     # the same views and compute, triplet loss
    python -m course_lib.experiments simclr temperature   # see course_lib.experiments.contrastive
"""

from dataclasses import dataclass, replace

import torch
from torch import nn

from course_lib.losses import nt_xent_loss, triplet_loss


@dataclass
class SimCLRConfig:
    encoder: str = "resnet"  # "resnet" (course_lib.cnn) or "vit" (course_lib.vit)
    img_size: int = 64
    width: int = 16  # ResNet: channels of the first of 4 stages; ViT: embedding dimension 3 × width
    depth: int = 1  # ResNet: BasicBlocks per stage; ViT: transformer blocks
    stem_stride: int = 4  # ResNet only: 4 runs the first stage at 16 × 16 for 64 px images
    patch_size: int = 8  # ViT only
    proj_hidden: int = 0  # hidden size of g; 0 = the feature size F, as in the paper
    proj_dim: int = 128  # size of z
    loss: str = "nt_xent"  # "nt_xent" (2N−2 negatives) or "triplet" (one negative per anchor)
    temperature: float = 0.5  # τ of NT-Xent
    margin: float = 0.2  # margin of the triplet loss


# -- the two networks ----------------------------------------------------------------------------
def build_encoder(cfg):
    """f: images (B, 3, H, W) → features (B, F). Returns (module, F)."""
    if cfg.encoder == "resnet":
        from course_lib.cnn import ResNet, ResNetConfig

        widths = tuple(cfg.width * 2**i for i in range(4))  # (w, 2w, 4w, 8w); w = 16 is resnet_tiny
        net = ResNet(ResNetConfig(num_classes=0, widths=widths, depths=(cfg.depth,) * 4,
                                  stem_stride=cfg.stem_stride))
        return net, net.num_features  # forward returns the pooled feature (B, 8w)
    if cfg.encoder == "vit":
        from course_lib.vit import VisionTransformer, ViTConfig

        dim = 3 * cfg.width
        vit_cfg = ViTConfig(img_size=cfg.img_size, patch_size=cfg.patch_size, num_classes=0,
                            embed_dim=dim, depth=cfg.depth, num_heads=3)
        return VisionTransformer(vit_cfg), dim  # forward returns the [CLS] feature
    raise ValueError(f"Unknown SimCLR encoder {cfg.encoder!r}: choose 'resnet' or 'vit'.")


class ProjectionHead(nn.Module):
    """g: (B, F) → (B, proj_dim). One hidden layer with ReLU (the paper's "nonlinear projection")."""

    def __init__(self, in_dim, hidden_dim, out_dim):
        super().__init__()
        self.fc1 = nn.Linear(in_dim, hidden_dim)
        self.bn = nn.BatchNorm1d(hidden_dim)
        self.act = nn.ReLU()
        self.fc2 = nn.Linear(hidden_dim, out_dim)

    def forward(self, h):
        return self.fc2(self.act(self.bn(self.fc1(h))))


class SimCLR(nn.Module):
    """Encoder f plus projection head g. `forward(x)` is the representation h = f(x)."""

    def __init__(self, config: SimCLRConfig | None = None, **overrides):
        super().__init__()
        self.config = cfg = replace(config or SimCLRConfig(), **overrides)
        if cfg.loss not in LOSSES:
            raise ValueError(f"Unknown SimCLR loss {cfg.loss!r}: choose one of {sorted(LOSSES)}.")
        self.encoder, self.num_features = build_encoder(cfg)
        self.head = ProjectionHead(self.num_features, cfg.proj_hidden or self.num_features, cfg.proj_dim)

    def forward(self, x, project=False):
        """(B, 3, H, W) → h = f(x) (B, F), what downstream tasks use ("throw away g");
        with `project=True`, z = g(f(x)) (B, proj_dim), what the contrastive loss sees."""
        h = self.encoder(x)
        return self.head(h) if project else h

    def project(self, x):
        """(B, 3, H, W) → z = g(f(x)) (B, proj_dim)."""
        return self(x, project=True)

    def loss(self, view_a, view_b):
        """The training objective on two views (B, 3, H, W) of the same B images."""
        B = view_a.shape[0]
        z = self.project(torch.cat([view_a, view_b]))  # (2B, proj_dim): one pass, shared BatchNorm
        z_a, z_b = z[:B], z[B:]  # (B, proj_dim) each
        return LOSSES[self.config.loss](z_a, z_b, self.config)


def contrastive_nt_xent(z_a, z_b, cfg):
    """NT-Xent: each view against its partner and all 2B − 2 other views."""
    return nt_xent_loss(z_a, z_b, cfg.temperature)


def contrastive_triplet(z_a, z_b, cfg):
    """Triplet: anchor z_a[k], positive z_b[k], negative z_b[k−1], another image's view.

    Same forward passes as NT-Xent, but one negative per anchor instead of 2B − 2: the
    comparison the lecture asks for, at the same compute.
    """
    negatives = z_b.roll(1, dims=0)  # (B, D): row k holds the view of image k−1
    return triplet_loss(z_a, z_b, negatives, cfg.margin)


LOSSES = {"nt_xent": contrastive_nt_xent, "triplet": contrastive_triplet}


def simclr_resnet(**overrides):
    """The factory named in bundled cards: a SimCLR model with a small ResNet encoder."""
    return SimCLR(SimCLRConfig(encoder="resnet"), **overrides)


def simclr_vit(**overrides):
    """A SimCLR model with a small ViT encoder (patch 8 on 64 × 64 ShapesWorld images)."""
    return SimCLR(SimCLRConfig(encoder="vit"), **overrides)
