"""The `simclr` and `triplet` recipes: contrastive pre-training on ShapesWorld.

Each step draws two views of every image (`course_lib.data.augment.TwoViews`: random resized crop
with a flip, then colour distortion), embeds both in one pass, z = g(f(x)), and applies the
model's objective (NT-Xent for `simclr`, the triplet loss for `triplet`, at the same compute).
The evaluation freezes h = f(x) and probes it (`course_lib.evaluate.probes.probe_metrics`): k-NN
and a linear probe on clean images of the val and test splits, and a k-NN for the colour of the
largest object (a diagnostic: the label, the shape, does not depend on colour).

    python -m course_lib.train simclr --epochs 64 --bundle simclr-resnet-shapes   # about 5 CPU-minutes
    python -m course_lib.train triplet --epochs 8     # the same views and compute, triplet loss
"""

from dataclasses import dataclass

import torch

from course_lib.data.augment import TwoViews
from course_lib.data.probe_sets import shapes_probe_data
from course_lib.data.rendered import SHAPES_MEAN, SHAPES_STD, render_shapes, standardize
from course_lib.evaluate.probes import probe_metrics
from course_lib.simclr import LOSSES, SimCLR, SimCLRConfig
from course_lib.train.recipe import Recipe, TrainConfig, register_recipe


@dataclass
class ContrastiveTrainConfig(TrainConfig):
    encoder: str = "resnet"
    width: int = 16
    depth: int = 1
    stem_stride: int = 4
    patch_size: int = 8
    img_size: int = 64
    proj_dim: int = 128
    temperature: float = 0.5
    margin: float = 0.2
    crop: bool = True  # augmentation families, for the ablation
    color: bool = True
    color_strength: float = 0.5  # s of the colour distortion (the paper: 1.0 ImageNet, 0.5 CIFAR)
    hue: float = -1.0  # largest hue shift, as a fraction of the wheel; -1 = 0.2 × color_strength
    min_scale: float = 0.2  # smallest crop, as a fraction of the image's area
    turn: str = "none"  # rotate each view: "quarter" (k · 90°) or "any" angle (shapes are drawn at any)
    blur_p: float = 0.0  # probability of a Gaussian blur per view
    blur_sigma: float = 2.0  # largest blur sigma, in pixels
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
        return dict(encoder=cfg.encoder, img_size=cfg.img_size, width=cfg.width, depth=cfg.depth,
                    stem_stride=cfg.stem_stride, patch_size=cfg.patch_size, proj_dim=cfg.proj_dim,
                    loss=self.loss_name, temperature=cfg.temperature, margin=cfg.margin)

    def build_model(self, cfg):
        return SimCLR(SimCLRConfig(**self.model_kwargs(cfg)))

    def build_data(self, cfg):
        train = render_shapes(cfg.train_size, cfg.img_size, cfg.data_seed, "train")  # uint8 images
        return train, shapes_probe_data(cfg.probe_size, cfg.val_size, cfg.img_size, cfg.data_seed)

    def training_step(self, model, batch, ctx):
        cfg = ctx.cfg
        images = batch["image"].float() / 255  # (B, 3, S, S) in [0, 1]
        B = images.shape[0]
        hue = None if cfg.hue < 0 else cfg.hue
        two_views = TwoViews(cfg.img_size, cfg.crop, cfg.color, cfg.min_scale, cfg.color_strength, hue,
                             cfg.blur_p, cfg.turn, (0.1, cfg.blur_sigma))
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
                "input": {"img_size": cfg.img_size, "mean": list(SHAPES_MEAN), "std": list(SHAPES_STD),
                          "data": f"ShapesWorld(seed={cfg.data_seed})"},
                "representation": "h = f(x): SimCLR.forward; the projection head g is kept but unused"}


@register_recipe("triplet")
class TripletRecipe(SimCLRRecipe):
    """The same encoder, head, views and compute as `simclr`, with the triplet loss."""

    loss_name = "triplet"
