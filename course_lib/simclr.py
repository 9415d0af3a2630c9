"""SimCLR (Chen et al. 2020): learn an embedding by recognising two views of the same image.

    x ──t──▶ x̃_a ──f──▶ h_a ──g──▶ z_a ─┐
      └─t′─▶ x̃_b ──f──▶ h_b ──g──▶ z_b ─┴─▶ NT-Xent (or triplet) loss

    f: the encoder (a small ResNet from course_lib.cnn, or a ViT), h = f(x) ∈ R^F
    g: the projection head, Linear → BatchNorm → ReLU → Linear, z = g(h) ∈ R^128

After training, g is thrown away and the representation is h = f(x): the paper finds h keeps
information (colour, orientation) that the loss teaches z to ignore, so h probes better.
`SimCLR.forward` therefore returns h; only the training loss sees z.

The two views come from `TwoViews` (random resized crop, flip, colour distortion, grayscale),
drawn independently for every image of the batch. Its `crop` and `color` switches give the
augmentation ablation of the paper's Figure 5.
"""

from dataclasses import asdict, dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from course_lib.losses import nt_xent_loss, triplet_loss
from course_lib.train import Recipe, TrainConfig, register_recipe


@dataclass
class SimCLRConfig:
    encoder: str = "resnet"  # "resnet" (course_lib.cnn) or "vit" (course_lib.vit)
    img_size: int = 64
    width: int = 16  # ResNet: channels of the first of 4 stages; ViT: embedding dimension 3 × width
    depth: int = 1  # ResNet: BasicBlocks per stage; ViT: transformer blocks
    patch_size: int = 8  # ViT only
    proj_hidden: int = 0  # hidden size of g; 0 = the feature size F, as in the paper
    proj_dim: int = 128  # size of z
    loss: str = "nt_xent"  # "nt_xent" (2N−2 negatives) or "triplet" (one negative per anchor)
    temperature: float = 0.5  # τ of NT-Xent
    margin: float = 0.2  # margin of the triplet loss


# -- the two views -------------------------------------------------------------------------------
class TwoViews:
    """t, t′ ~ T: two independent random augmentations of every image in a batch.

    The paper's T, scaled to 64-pixel images: random resized crop (scale 0.2–1) with horizontal
    flip, then colour distortion (jitter of strength 0.5 with probability 0.8, grayscale with
    probability 0.2). `crop=False` or `color=False` removes one family, for the ablation.
    """

    def __init__(self, size, crop=True, color=True, min_scale=0.2, strength=0.5):
        from torchvision.transforms import v2

        steps = []
        if crop:
            steps += [v2.RandomResizedCrop(size, scale=(min_scale, 1.0), antialias=True),
                      v2.RandomHorizontalFlip()]
        if color:
            s = strength
            steps += [v2.RandomApply([v2.ColorJitter(0.8 * s, 0.8 * s, 0.8 * s, 0.2 * s)], p=0.8),
                      v2.RandomGrayscale(p=0.2)]
        self.transform = v2.Compose(steps) if steps else v2.Identity()

    def view(self, images):
        """(B, 3, H, W) in [0, 1] → one random view of each image, (B, 3, size, size)."""
        return torch.stack([self.transform(img) for img in images])  # fresh parameters per image

    def __call__(self, images):
        """(B, 3, H, W) → (view_a, view_b), each (B, 3, size, size)."""
        return self.view(images), self.view(images)


# -- the two networks ----------------------------------------------------------------------------
def build_encoder(cfg):
    """f: images (B, 3, H, W) → features (B, F). Returns (module, F)."""
    if cfg.encoder == "resnet":
        from course_lib.cnn import ResNet, ResNetConfig

        widths = tuple(cfg.width * 2**i for i in range(4))  # (w, 2w, 4w, 8w); w = 16 is resnet_tiny
        net = ResNet(ResNetConfig(num_classes=0, widths=widths, depths=(cfg.depth,) * 4))
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


def config_dict(model):
    """The model's config as a plain dict (for model cards)."""
    return asdict(model.config)


# -- training: the `simclr` and `triplet` recipes -----------------------------------------------
class TwoViewShapes(Dataset):
    """ShapesWorld items as two random views: {"views": (2, 3, S, S), "label": int}."""

    def __init__(self, size, image_size=64, seed=0, split="train", crop=True, color=True):
        from course_lib.data.shapes import ShapesWorld

        self.shapes = ShapesWorld(size, image_size=image_size, seed=seed, split=split)
        self.two_views = TwoViews(image_size, crop=crop, color=color)

    def __len__(self):
        return len(self.shapes)

    def __getitem__(self, index):
        item = self.shapes[index]
        view_a, view_b = self.two_views(item["image"][None])  # (1, 3, S, S) each
        return {"views": torch.cat([view_a, view_b]), "label": item["label"]}  # views: (2, 3, S, S)


class ProbeData(Dataset):
    """What the frozen-feature evaluation needs: clean (un-augmented) ShapesWorld images.

    Items are the held-out `val` images; `train_images` / `train_labels` are clean images of the
    training split that the k-NN classifier and the linear probe are fitted on.
    """

    def __init__(self, cfg):
        from course_lib.data.shapes import ShapesWorld

        train = ShapesWorld(cfg.probe_size, image_size=cfg.image_size, seed=cfg.seed, split="train")
        val = ShapesWorld(cfg.val_size, image_size=cfg.image_size, seed=cfg.seed, split="val")
        fit, held_out = train.batch(range(len(train))), val.batch(range(len(val)))
        self.train_images, self.train_labels = fit["image"], fit["label"]  # (n, 3, S, S), (n,)
        self.images, self.labels = held_out["image"], held_out["label"]

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, index):
        return {"image": self.images[index], "label": self.labels[index]}


def representation(model, x):
    """The frozen representation of any kit encoder: (B, 3, H, W) → (B, F).

    SimCLR: h = f(x). A classifier (ResNet or ViT with a head): the feature its head reads, the
    pooled map or the [CLS] token, so that supervised and self-supervised encoders compare fairly.
    """
    if isinstance(model, SimCLR) or not hasattr(model, "forward_features"):
        return model(x)
    features = model.forward_features(x)  # ResNet: (B, F); ViT: (B, 1 + L, D)
    return features[:, 0] if features.ndim == 3 else features


@torch.no_grad()
def embed(model, images, batch_size=256, device="cpu"):
    """The representation of a stack of images (n, 3, S, S) → (n, F), in eval mode, on the CPU."""
    was_training = model.training
    model.eval()
    chunks = images.split(batch_size)  # (batch_size, 3, S, S) each
    out = [representation(model, chunk.to(device)).float().cpu() for chunk in chunks]
    model.train(was_training)
    return torch.cat(out)


def nearest_neighbours(h, index, k=8):
    """The k images closest to image `index` by cosine similarity of h, itself excluded.

    Returns (indices (k,), similarities (k,)), most similar first.
    """
    x = F.normalize(h.float(), dim=1)  # (n, F)
    sims = x @ x[index]  # (n,)
    sims[index] = -float("inf")  # never your own neighbour
    top = sims.topk(min(k, len(sims) - 1))
    return top.indices, top.values


def probe_metrics(model, probe, device="cpu"):
    """k-NN (k = 20, cosine) and linear-probe top-1 accuracy of h = f(x) on held-out images."""
    from course_lib.evaluate import knn_accuracy, linear_probe_accuracy

    train_h = embed(model, probe.train_images, device=device)  # (n_train, F)
    val_h = embed(model, probe.images, device=device)  # (n_val, F)
    return {
        "knn_top1": knn_accuracy(train_h, probe.train_labels, val_h, probe.labels),
        "linear_top1": linear_probe_accuracy(train_h, probe.train_labels, val_h, probe.labels),
    }


@dataclass
class ContrastiveTrainConfig(TrainConfig):
    encoder: str = "resnet"
    width: int = 16
    depth: int = 1
    patch_size: int = 8
    image_size: int = 64
    proj_dim: int = 128
    temperature: float = 0.5
    margin: float = 0.2
    crop: bool = True  # augmentation families, for the ablation
    color: bool = True
    train_size: int = 8192  # ShapesWorld images per epoch
    probe_size: int = 2048  # clean training images whose h the k-NN and the linear probe fit
    val_size: int = 1024  # held-out images they are scored on
    epochs: float = 20.0
    batch_size: int = 256
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup_epochs: float = 1.0
    eval_every: int = 1_000_000  # evaluate once, at the end (the probes cost about one epoch)


@register_recipe("simclr")
class SimCLRRecipe(Recipe):
    """SimCLR with NT-Xent on ShapesWorld; evaluation on h = f(x) with k-NN and a linear probe."""

    Config = ContrastiveTrainConfig
    loss_name = "nt_xent"

    def model_kwargs(self, cfg):
        return dict(encoder=cfg.encoder, img_size=cfg.image_size, width=cfg.width, depth=cfg.depth,
                    patch_size=cfg.patch_size, proj_dim=cfg.proj_dim, loss=self.loss_name,
                    temperature=cfg.temperature, margin=cfg.margin)

    def build_model(self, cfg):
        return SimCLR(SimCLRConfig(**self.model_kwargs(cfg)))

    def build_data(self, cfg):
        train = TwoViewShapes(cfg.train_size, cfg.image_size, cfg.seed, "train", cfg.crop, cfg.color)
        return train, ProbeData(cfg)

    def training_step(self, model, batch, ctx):
        views = batch["views"]  # (B, 2, 3, S, S)
        B = views.shape[0]
        z = model(torch.cat([views[:, 0], views[:, 1]]), project=True)  # (2B, proj_dim), via DDP forward
        loss = LOSSES[self.loss_name](z[:B], z[B:], ctx.unwrap(model).config)
        return loss

    def evaluate(self, model, val, ctx):
        return probe_metrics(ctx.unwrap(model), val, ctx.device)

    def card(self, model, cfg):
        factory = f"course_lib.simclr:simclr_{cfg.encoder}"  # simclr_resnet or simclr_vit
        kwargs = {k: v for k, v in self.model_kwargs(cfg).items() if k != "encoder"}
        return {"model": {"factory": factory, "kwargs": kwargs},
                "input": {"image_size": cfg.image_size, "mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0]},
                "representation": "h = f(x), the encoder output (the projection head g is kept but unused)"}


@register_recipe("triplet")
class TripletRecipe(SimCLRRecipe):
    """The same encoder, head, views and compute as `simclr`, with the triplet loss."""

    loss_name = "triplet"
