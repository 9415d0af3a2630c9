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

    python -m course_lib.train simclr --epochs 64 --bundle simclr-resnet-shapes   # about 5 CPU-minutes
    python -m course_lib.train triplet --epochs 8     # the same views and compute, triplet loss
    python -m course_lib.simclr_experiments temperature   # the experiments: see that module
"""

from dataclasses import dataclass, replace
from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from course_lib.losses import nt_xent_loss, triplet_loss
from course_lib.train import Recipe, TrainConfig, register_recipe
from course_lib.train.supervised import SHAPES_MEAN, SHAPES_STD


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


# -- the two views -------------------------------------------------------------------------------
class TwoViews:
    """t, t′ ~ T: two independent random augmentations of every image in a batch.

    The paper's T, scaled to small images: random resized crop (area 20–100%, aspect 3/4–4/3)
    with a horizontal flip, then colour distortion (jitter of strength 0.5 with probability 0.8,
    grayscale with probability 0.2). `crop=False` or `color=False` removes one family, for the
    ablation of the paper's Figure 5. Every image draws its own parameters, on whole batches
    (so it runs on the training device); the random draws come from torch's global generator.
    """

    def __init__(self, size, crop=True, color=True, min_scale=0.2, strength=0.5, hue=None):
        self.size, self.crop, self.color = size, crop, color
        self.min_scale, self.strength, self.hue = min_scale, strength, hue

    def __call__(self, images):
        """(B, 3, H, W) in [0, 1] → (view_a, view_b), each (B, 3, size, size) in [0, 1]."""
        return self.view(images), self.view(images)

    def view(self, images):
        x = random_resized_crop(images, self.size, self.min_scale) if self.crop else resize(images, self.size)
        if self.color:
            x = color_distortion(x, self.strength, hue=self.hue)
        return x


def resize(images, size):
    """(B, C, H, W) → (B, C, size, size); a no-op when the size already matches."""
    if images.shape[-1] == size and images.shape[-2] == size:
        return images
    return F.interpolate(images, size=(size, size), mode="bilinear", antialias=True, align_corners=False)


def random_resized_crop(images, size, min_scale=0.2, ratio=(3 / 4, 4 / 3)):
    """Per image: a random box of `min_scale`–100% of the area, resized to size², flipped half the time.

    Done with one affine sampling grid per image: the box in normalized coordinates [-1, 1] is
    x_in = w·x_out + cx, y_in = h·y_out + cy (w, h: half-sides as fractions of the image).
    """
    B, dev = images.shape[0], images.device
    area = torch.empty(B, device=dev).uniform_(min_scale, 1.0)  # fraction of the image kept
    log_r = torch.empty(B, device=dev).uniform_(*torch.tensor(ratio).log().tolist())
    w = (area * log_r.exp()).sqrt().clamp(max=1.0)  # (B,) box width / image width
    h = (area / log_r.exp()).sqrt().clamp(max=1.0)
    cx = (torch.rand(B, device=dev) * 2 - 1) * (1 - w)  # box centre, inside the image
    cy = (torch.rand(B, device=dev) * 2 - 1) * (1 - h)
    flip = torch.where(torch.rand(B, device=dev) < 0.5, -1.0, 1.0)  # horizontal flip
    theta = torch.zeros(B, 2, 3, device=dev)
    theta[:, 0, 0], theta[:, 0, 2] = w * flip, cx
    theta[:, 1, 1], theta[:, 1, 2] = h, cy
    grid = F.affine_grid(theta, (B, 3, size, size), align_corners=False)  # (B, size, size, 2)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)


def grayscale(x):
    """(B, 3, H, W) → (B, 1, H, W) luma (ITU-R 601 weights, as torchvision)."""
    return (0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3])


def color_distortion(x, strength=0.5, p_jitter=0.8, p_gray=0.2, hue=None):
    """SimCLR's colour distortion, per image: brightness, contrast, saturation, hue, then grayscale.

    Factors are uniform in [1 − 0.8s, 1 + 0.8s] (hue: a shift of up to ±0.2s of the colour
    wheel), as torchvision's ColorJitter(0.8s, 0.8s, 0.8s, 0.2s); the paper uses s = 1 on
    ImageNet and 0.5 on CIFAR-10. `hue` overrides the hue range (0.5 = the whole wheel).
    """
    B = x.shape[0]

    def factor(spread):  # (B, 1, 1, 1) uniform in [1 − spread, 1 + spread]
        return 1 + spread * (torch.rand(B, 1, 1, 1, device=x.device) * 2 - 1)

    jittered = (x * factor(0.8 * strength)).clamp(0, 1)  # brightness
    mean = grayscale(jittered).mean(dim=(2, 3), keepdim=True)  # (B, 1, 1, 1)
    jittered = ((jittered - mean) * factor(0.8 * strength) + mean).clamp(0, 1)  # contrast
    gray = grayscale(jittered)
    jittered = ((jittered - gray) * factor(0.8 * strength) + gray).clamp(0, 1)  # saturation
    hue = 0.2 * strength if hue is None else hue
    jittered = hue_shift(jittered, (factor(hue) - 1) * 2 * torch.pi)
    x = torch.where(torch.rand(B, 1, 1, 1, device=x.device) < p_jitter, jittered, x)
    return torch.where(torch.rand(B, 1, 1, 1, device=x.device) < p_gray, grayscale(x).expand_as(x), x)


def hue_shift(x, angle):
    """Rotate the chroma of (B, 3, H, W) RGB by `angle` (B, 1, 1, 1) radians, in YIQ space."""
    to_yiq = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]],
                          device=x.device)
    yiq = torch.einsum("ij,bjhw->bihw", to_yiq, x)  # (B, 3, H, W): luma Y, chroma (I, Q)
    cos, sin = angle.cos()[:, 0], angle.sin()[:, 0]  # (B, 1, 1)
    i, q = yiq[:, 1] * cos - yiq[:, 2] * sin, yiq[:, 1] * sin + yiq[:, 2] * cos  # (B, H, W) each
    rotated = torch.stack([yiq[:, 0], i, q], dim=1)  # (B, 3, H, W)
    return torch.einsum("ij,bjhw->bihw", torch.linalg.inv(to_yiq), rotated).clamp(0, 1)


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


# -- evaluation: h = f(x), frozen -----------------------------------------------------------------
def standardize(images, mean=SHAPES_MEAN, std=SHAPES_STD):
    """(B, 3, H, W) in [0, 1] → standardized with per-channel mean and std (a model card's input)."""
    mean = torch.as_tensor(mean, device=images.device, dtype=images.dtype)[:, None, None]
    std = torch.as_tensor(std, device=images.device, dtype=images.dtype)[:, None, None]
    return (images - mean) / std


@torch.no_grad()
def embed(model, images, mean=SHAPES_MEAN, std=SHAPES_STD, batch_size=256, device="cpu"):
    """Representations of images (n, 3, S, S) in [0, 1] → (n, F) on the CPU, in eval mode."""
    from course_lib.evaluate import encoder_of

    encode = encoder_of(model)  # SimCLR: h = f(x); a classifier: the feature its head reads
    was_training = model.training
    model.eval()
    chunks = images.split(batch_size)  # (batch_size, 3, S, S) each
    out = [encode(standardize(c.to(device).float(), mean, std)).float().cpu() for c in chunks]
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


def clean_images(size, image_size, split, seed=0):
    """Un-augmented ShapesWorld images (size, 3, S, S) in [0, 1] and labels (size,)."""
    from course_lib.train.supervised import render_shapes

    data = render_shapes(size, image_size, seed, split)  # uint8, cached per process
    return data.images.float() / 255, data.labels


@lru_cache(maxsize=8)
def main_object_colors(size, image_size, split, seed=0):
    """(size,) index into ShapesWorld.COLORS of each image's largest object (not the label)."""
    from course_lib.data.shapes import ShapesWorld

    world = ShapesWorld(size, image_size=image_size, seed=seed, split=split)
    colors = [world.render(i)[1][0]["color"] for i in range(size)]  # objects come largest first
    return torch.tensor([ShapesWorld.COLORS.index(c) for c in colors])


class ProbeData(Dataset):
    """What the frozen-feature evaluation needs: clean images of three ShapesWorld splits.

    The k-NN classifier and the linear probe are fitted on `probe_size` training images, scored on
    the `val` split (used for choices, such as the temperature) and on the `test` split. The
    colour of each image's largest object is a second, diagnostic label: how much colour does h
    keep, when the label (the shape) does not depend on it?
    """

    def __init__(self, probe_size, val_size, image_size, seed=0):
        self.fit = clean_images(probe_size, image_size, "train", seed)
        self.val = clean_images(val_size, image_size, "val", seed)
        self.test = clean_images(val_size, image_size, "test", seed)
        self.fit_colors = main_object_colors(probe_size, image_size, "train", seed)
        self.val_colors = main_object_colors(val_size, image_size, "val", seed)

    def __len__(self):
        return len(self.val[1])

    def __getitem__(self, index):
        return {"image": self.val[0][index], "label": self.val[1][index]}


def probe_metrics(model, probe, device="cpu", mean=SHAPES_MEAN, std=SHAPES_STD):
    """k-NN (cosine) and linear-probe top-1 accuracy of the frozen representation."""
    from course_lib.evaluate import knn_accuracy, linear_probe_accuracy

    fit_h = embed(model, probe.fit[0], mean, std, device=device)  # (n_fit, F)
    metrics = {}
    for split, (images, labels) in (("val", probe.val), ("test", probe.test)):
        h = embed(model, images, mean, std, device=device)  # (n, F)
        prefix = "" if split == "val" else "test_"
        metrics[prefix + "knn_top1"] = knn_accuracy(fit_h, probe.fit[1], h, labels)
        with torch.enable_grad():  # the engine evaluates under no_grad; the probe is trained
            metrics[prefix + "linear_top1"] = linear_probe_accuracy(fit_h, probe.fit[1], h, labels)
        if split == "val":
            metrics["color_knn_top1"] = knn_accuracy(fit_h, probe.fit_colors, h, probe.val_colors)
    return metrics


# -- training: the `simclr` and `triplet` recipes -----------------------------------------------
@dataclass
class ContrastiveTrainConfig(TrainConfig):
    encoder: str = "resnet"
    width: int = 16
    depth: int = 1
    stem_stride: int = 4
    patch_size: int = 8
    image_size: int = 64
    proj_dim: int = 128
    temperature: float = 0.5
    margin: float = 0.2
    crop: bool = True  # augmentation families, for the ablation
    color: bool = True
    color_strength: float = 0.5  # s of the colour distortion (the paper: 1.0 ImageNet, 0.5 CIFAR)
    hue: float = -1.0  # largest hue shift, as a fraction of the wheel; -1 = 0.2 × color_strength
    train_size: int = 4096  # ShapesWorld training images (rendered once)
    data_seed: int = 0
    probe_size: int = 2048  # clean training images the k-NN and the linear probe are fitted on
    val_size: int = 1024  # held-out images they are scored on (val and test splits)
    epochs: float = 20.0
    batch_size: int = 128
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
                    stem_stride=cfg.stem_stride, patch_size=cfg.patch_size, proj_dim=cfg.proj_dim,
                    loss=self.loss_name, temperature=cfg.temperature, margin=cfg.margin)

    def build_model(self, cfg):
        return SimCLR(SimCLRConfig(**self.model_kwargs(cfg)))

    def build_data(self, cfg):
        from course_lib.train.supervised import render_shapes

        train = render_shapes(cfg.train_size, cfg.image_size, cfg.data_seed, "train")  # uint8 images
        return train, ProbeData(cfg.probe_size, cfg.val_size, cfg.image_size, cfg.data_seed)

    def training_step(self, model, batch, ctx):
        cfg = ctx.cfg
        images = batch["image"].float() / 255  # (B, 3, S, S) in [0, 1]
        B = images.shape[0]
        hue = None if cfg.hue < 0 else cfg.hue
        two_views = TwoViews(cfg.image_size, cfg.crop, cfg.color, strength=cfg.color_strength, hue=hue)
        view_a, view_b = two_views(images)  # (B, 3, S, S) each
        x = standardize(torch.cat([view_a, view_b]))  # (2B, 3, S, S)
        z = model(x, project=True)  # (2B, proj_dim); one pass, through the DDP wrapper
        # With DDP each process contrasts its own B / world_size images (no all-gather).
        return LOSSES[self.loss_name](z[:B], z[B:], ctx.unwrap(model).config)

    def evaluate(self, model, val, ctx):
        return probe_metrics(ctx.unwrap(model), val, ctx.device)

    def card(self, model, cfg):
        kwargs = {k: v for k, v in self.model_kwargs(cfg).items() if k != "encoder"}
        return {"model": {"factory": f"course_lib.simclr:simclr_{cfg.encoder}", "kwargs": kwargs},
                "input": {"image_size": cfg.image_size, "mean": list(SHAPES_MEAN), "std": list(SHAPES_STD),
                          "data": f"ShapesWorld(seed={cfg.data_seed})"},
                "representation": "h = f(x): SimCLR.forward; the projection head g is kept but unused"}


@register_recipe("triplet")
class TripletRecipe(SimCLRRecipe):
    """The same encoder, head, views and compute as `simclr`, with the triplet loss."""

    loss_name = "triplet"
