"""The `dino` recipe of the training engine: `python -m course_lib.train dino [options]`.

Student, EMA teacher and the loss's centre live in one module (`DINOModel`), so one checkpoint
holds the whole state and `--resume` continues exactly. The images are rendered once; the
multi-crop views are drawn per batch on the training device (`batch_multicrop`), or per image by
`course_lib.data.augment.MultiCrop` with `--augment multicrop`. The bundled model is the
teacher's backbone, a plain `vit_tiny` (DINO evaluates the teacher).
"""

import math
from dataclasses import dataclass
from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import nn

from course_lib.dino.loss import DINOLoss, collapse_metrics
from course_lib.dino.model import DINOHead, MultiCropWrapper, make_teacher, teacher_momentum, update_teacher
from course_lib.dino.multicrop import batch_multicrop
from course_lib.losses import koleo_loss


# -- the `dino` recipe: python -m course_lib.train dino ---------------------------------------
class DINOModel(nn.Module):
    """Student, EMA teacher and the loss's running centre, in one module (one checkpoint).

    forward(crops, epoch) → (loss, koleo, student_out, teacher_out); calling it through the
    module (not its parts) keeps DDP's gradient synchronization working.
    """

    def __init__(self, student, loss_fn, koleo_weight=0.0):
        super().__init__()
        self.student = student
        self.teacher = make_teacher(student)
        self.loss_fn = loss_fn
        self.koleo_weight = koleo_weight
        self.head_frozen = False
        last = student.head.last_layer.parametrizations.weight.original1  # v of the last layer
        last.register_hook(lambda g: g * 0 if self.head_frozen else g)  # DINO freezes it at first

    def forward(self, crops, epoch=0):
        B = crops[0].shape[0]
        with torch.no_grad():
            teacher_out = self.teacher(crops[:2])  # (2·B, K): the teacher sees global crops only
        student_out, features = self.student(crops, return_features=True)  # (n·B, K), (n·B, D)
        loss = self.loss_fn(student_out, teacher_out, epoch)
        koleo = torch.zeros((), device=loss.device)
        if self.koleo_weight > 0:  # DINOv2: spread the [CLS] features of each global view
            koleo = sum(koleo_loss(f.float()) for f in features[: 2 * B].split(B)) / 2
        return loss, koleo, student_out, teacher_out


@dataclass
class DINOConfig:  # fields are added to TrainConfig's below (see `_register_recipe`)
    train_size: int = 20000
    val_size: int = 500  # ShapesWorld "test" images for k-NN and attention Jaccard
    image_size: int = 64
    data_seed: int = 0
    difficulty: str = "medium"
    patch_size: int = 8
    embed_dim: int = 192
    depth: int = 6
    num_heads: int = 3
    drop_path: float = 0.1
    init_values: float = 0.0  # LayerScale init (DINOv2: 1e-5); 0 = no LayerScale
    ffn: str = "mlp"  # "swiglu" for DINOv2's FFN
    out_dim: int = 4096
    hidden_dim: int = 1024
    bottleneck_dim: int = 256
    norm_last_layer: bool = True
    freeze_last_layer: float = 1.0  # epochs with the head's last layer frozen
    n_local: int = 6
    local_size: int = 32
    global_scale_min: float = 0.4
    local_scale_min: float = 0.05
    teacher_temp: float = 0.02
    warmup_teacher_temp: float = 0.02
    warmup_teacher_temp_epochs: int = 0
    student_temp: float = 0.1
    center_momentum: float = 0.9
    centering: str = "ema"  # or "sinkhorn" (DINOv2)
    momentum_teacher: float = 0.996
    koleo_weight: float = 0.0  # DINOv2 uses 0.1
    augment: str = "batch"  # "batch": on-device multi-crop; "multicrop": augment.MultiCrop per image
    knn_train_size: int = 2000


def _register_recipe():
    from dataclasses import fields, make_dataclass

    from course_lib.train.recipe import Recipe, TrainConfig, register_recipe

    extra = [(f.name, f.type, f.default) for f in fields(DINOConfig)]
    defaults = dict(
        lr=5e-4,
        min_lr=1e-6,
        warmup_epochs=2.0,
        weight_decay=0.04,
        grad_clip=3.0,
        batch_size=64,
        epochs=100.0,
        eval_every=0,
        save_every=500,
    )
    extra += [(name, type(value), value) for name, value in defaults.items()]
    config_cls = make_dataclass("DINOTrainConfig", extra, bases=(TrainConfig,))

    @register_recipe("dino")
    class DINORecipe(Recipe):
        """DINO self-distillation of a small ViT on ShapesWorld (multi-crop, EMA teacher)."""

        Config = config_cls

        def build_model(self, cfg):
            return build_dino_model(cfg)

        def build_data(self, cfg):
            from course_lib.train.supervised import render_shapes

            train = render_shapes(cfg.train_size, cfg.image_size, cfg.data_seed, "train", cfg.difficulty)
            if cfg.augment == "multicrop":
                train = MultiCropShapes(train, cfg)
            elif cfg.augment != "batch":
                raise ValueError(f"Unknown --augment {cfg.augment!r}: choose 'batch' or 'multicrop'.")
            return train, render_shapes(cfg.val_size, cfg.image_size, cfg.data_seed, "test", cfg.difficulty)

        def training_step(self, model, batch, ctx):
            return dino_training_step(model, batch, ctx)

        def after_step(self, model, ctx):
            m = teacher_momentum(ctx.step + 1, ctx.total_steps, ctx.cfg.momentum_teacher, 1.0)
            update_teacher(model.student, model.teacher, m)

        def evaluate(self, model, val, ctx):
            return evaluate_backbone(model.teacher.backbone, ctx.cfg, ctx.device)

        def card(self, model, cfg):
            from course_lib.train.supervised import SHAPES_MEAN, SHAPES_STD

            return {
                "model": {"factory": "course_lib.vit:vit_tiny", "kwargs": backbone_kwargs(cfg)},
                "input": {
                    "image_size": cfg.image_size,
                    "mean": list(SHAPES_MEAN),
                    "std": list(SHAPES_STD),
                    "data": f"ShapesWorld(seed={cfg.data_seed}, difficulty={cfg.difficulty!r})",
                },
                "exported": "the teacher's backbone (DINO evaluates the teacher)",
            }

        def export(self, model):
            return model.teacher.backbone

    return DINORecipe


def backbone_kwargs(cfg):
    """`vit_tiny` keyword arguments of the recipe's backbone (what the card records)."""
    kwargs = {
        "patch_size": cfg.patch_size,
        "img_size": cfg.image_size,
        "embed_dim": cfg.embed_dim,
        "depth": cfg.depth,
        "num_heads": cfg.num_heads,
        "num_classes": 0,
    }
    if cfg.init_values > 0:
        kwargs["init_values"] = cfg.init_values
    if cfg.ffn != "mlp":
        kwargs["ffn"] = cfg.ffn
    return kwargs


def build_dino_model(cfg):
    from course_lib.vit import vit_tiny

    backbone = vit_tiny(
        **backbone_kwargs(cfg), drop_path_rate=cfg.drop_path, fused_attn=True
    )  # maps: explicit
    head = DINOHead(
        cfg.embed_dim, cfg.out_dim, cfg.hidden_dim, cfg.bottleneck_dim, norm_last_layer=cfg.norm_last_layer
    )
    loss_fn = DINOLoss(
        out_dim=cfg.out_dim,
        n_crops=2 + cfg.n_local,
        student_temp=cfg.student_temp,
        teacher_temp=cfg.teacher_temp,
        warmup_teacher_temp=cfg.warmup_teacher_temp,
        warmup_epochs=cfg.warmup_teacher_temp_epochs,
        center_momentum=cfg.center_momentum,
        centering=cfg.centering,
    )
    return DINOModel(MultiCropWrapper(backbone, head), loss_fn, cfg.koleo_weight)


def standardize(x):
    """[0, 1] images → ShapesWorld-standardized inputs (the same statistics as the baselines)."""
    from course_lib.train.supervised import SHAPES_MEAN, SHAPES_STD

    mean = torch.tensor(SHAPES_MEAN, device=x.device)[:, None, None]
    std = torch.tensor(SHAPES_STD, device=x.device)[:, None, None]
    return (x - mean) / std


def dino_training_step(model, batch, ctx):
    cfg = ctx.cfg
    inner = ctx.unwrap(model)
    inner.head_frozen = ctx.epoch < cfg.freeze_last_layer
    if "crops" in batch:  # per-image MultiCrop, already drawn by the data loader
        crops = [c.float() for c in batch["crops"]]
    else:
        images = batch["image"].float() / 255.0  # (B, 3, H, W)
        crops = batch_multicrop(
            images,
            cfg.image_size,
            cfg.local_size,
            cfg.n_local,
            (cfg.global_scale_min, 1.0),
            (cfg.local_scale_min, cfg.global_scale_min),
        )
    crops = [standardize(c) for c in crops]
    loss, koleo, student_out, teacher_out = model(crops, ctx.epoch)
    inner_loss = inner.loss_fn
    with torch.no_grad():
        B = crops[0].shape[0]
        targets = F.softmax(
            (teacher_out[:B].float() - inner_loss.center) / inner_loss.teacher_temp(ctx.epoch), -1
        )
        metrics = collapse_metrics(targets, student_out[B : 2 * B].float(), cfg.student_temp)
    metrics["entropy_ratio"] = metrics["entropy"] / math.log(cfg.out_dim)
    return loss + cfg.koleo_weight * koleo, {"dino_loss": loss.item(), "koleo": koleo.item(), **metrics}


class MultiCropShapes(torch.utils.data.Dataset):
    """Rendered ShapesWorld with `augment.MultiCrop` applied per image (the CPU-worker path)."""

    def __init__(self, rendered, cfg):
        from course_lib.data.augment import MultiCrop

        self.rendered = rendered
        self.multicrop = MultiCrop(
            cfg.image_size,
            cfg.local_size,
            cfg.n_local,
            (cfg.global_scale_min, 1.0),
            (cfg.local_scale_min, cfg.global_scale_min),
        )

    def __len__(self):
        return len(self.rendered)

    def __getitem__(self, i):
        image = self.rendered.images[i].float() / 255.0
        return {"crops": self.multicrop(image), "label": self.rendered.labels[i]}


# -- evaluation during and after training -----------------------------------------------------
@lru_cache(maxsize=4)
def held_out_shapes(n, image_size=64, seed=0, split="test", difficulty="medium", start=0):
    """Items start … start+n-1 of a ShapesWorld split as (images (n, 3, H, W) in [0, 1],
    foregrounds (n, H, W), labels (n,))."""
    from course_lib.data import ShapesWorld

    world = ShapesWorld(start + n, image_size=image_size, seed=seed, split=split, difficulty=difficulty)
    batch = world.batch(range(start, start + n))
    return batch["image"], batch["foreground"], batch["label"]


@torch.no_grad()
def cls_features(backbone, images, batch_size=256):
    """[CLS] features (n, D) of [0, 1] images (standardized here), in eval mode."""
    was_training = backbone.training
    backbone.eval()
    device = next(backbone.parameters()).device
    feats = [
        backbone.forward_features(standardize(images[i : i + batch_size].to(device)))[:, 0].float()
        for i in range(0, len(images), batch_size)
    ]  # [CLS] after the final norm, with or without a head
    backbone.train(was_training)
    return torch.cat(feats)


def evaluate_backbone(backbone, cfg, device):
    """k-NN shape accuracy (train → test features) and attention Jaccard on held-out ShapesWorld."""
    from course_lib.evaluate import attention_jaccard_report, knn_accuracy

    train_x, _, train_y = held_out_shapes(
        cfg.knn_train_size, cfg.image_size, cfg.data_seed, "train", cfg.difficulty
    )
    test_x, test_fg, test_y = held_out_shapes(
        cfg.val_size, cfg.image_size, cfg.data_seed, "test", cfg.difficulty
    )
    knn = knn_accuracy(
        cls_features(backbone, train_x).cpu(), train_y, cls_features(backbone, test_x).cpu(), test_y
    )
    was_training = backbone.training
    backbone.eval()
    report = attention_jaccard_report(backbone, standardize(test_x.to(device)), test_fg.to(device))
    backbone.train(was_training)
    return {
        "knn_top1": knn,
        "jaccard_best_head": report["best_head"],
        "jaccard_mean_heads": report["mean_heads"],
        "fg_mass_ratio_best": max(report["fg_mass_ratio"]),
    }


DINORecipe = _register_recipe()
