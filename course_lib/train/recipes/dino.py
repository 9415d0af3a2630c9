"""The `dino` recipe: DINO self-distillation of a small ViT on ShapesWorld.

    python -m course_lib.train dino [options]       # python -m course_lib.train dino --help

Student, EMA teacher and the loss's centre live in one module (`DINOModel`), so one checkpoint
holds the whole state and `--resume` continues exactly. The images are rendered once; the
multi-crop views (`course_lib.data.augment.MultiCrop`) are drawn per batch on the training device,
or per image in the data loader with `--augment multicrop`. `dino_step` is the one DINO step:
this recipe trains with it, and so do the collapse runs (`course_lib.experiments.dino_collapse`).
The bundled model is the teacher's backbone, a plain `vit_tiny` (DINO evaluates the teacher).
"""

import math
from dataclasses import dataclass

import torch
from torch import nn

from course_lib.data.augment import MultiCrop
from course_lib.data.rendered import SHAPES_MEAN, SHAPES_STD, held_out_shapes, render_shapes, standardize
from course_lib.dino.loss import DINOLoss, collapse_metrics
from course_lib.dino.model import (
    DINOHead,
    MultiCropWrapper,
    freeze_last_layer,
    make_teacher,
    teacher_momentum,
    update_teacher,
)
from course_lib.evaluate.attention_maps import attention_jaccard_report
from course_lib.evaluate.probes import embed, knn_accuracy
from course_lib.losses import koleo_loss
from course_lib.train.recipe import Recipe, TrainConfig, TrainError, register_recipe
from course_lib.vit import vit_tiny


# -- one DINO step ----------------------------------------------------------------------------
def dino_step(student, teacher, loss_fn, crops, epoch=0, koleo_weight=0.0):
    """Forward both networks and distil: the loss to minimize, and what to log.

    Args:
        student, teacher: `MultiCropWrapper`s; the teacher sees only the two global crops.
        crops: list of (B, 3, H_i, W_i), standardized, the two global crops first.
    Returns:
        (loss + koleo_weight · KoLeo, {dino_loss, koleo, entropy, kl, top_share, entropy_ratio}).
    """
    B = crops[0].shape[0]
    with torch.no_grad():
        teacher_out = teacher(crops[:2])  # (2·B, K)
    student_out, features = student(crops, return_features=True)  # (n_crops·B, K), (n_crops·B, D)
    targets = loss_fn.targets(teacher_out, epoch)  # (2, B, K), before the loss moves the centre
    loss = loss_fn(student_out, teacher_out, epoch)
    koleo = torch.zeros((), device=loss.device)
    if koleo_weight > 0:  # DINOv2: spread the [CLS] features of each global view
        koleo = sum(koleo_loss(f.float()) for f in features[: 2 * B].split(B)) / 2
    # collapse metrics: the teacher's targets for view 1 against the student's view 2
    metrics = collapse_metrics(targets[0], student_out[B : 2 * B].detach(), loss_fn.config.student_temp)
    metrics["entropy_ratio"] = metrics["entropy"] / math.log(student_out.shape[-1])  # 1 = uniform
    return loss + koleo_weight * koleo, {"dino_loss": loss.item(), "koleo": koleo.item(), **metrics}


class DINOModel(nn.Module):
    """Student, EMA teacher and the loss's running centre, in one module (one checkpoint).

    forward(crops, epoch) → `dino_step`'s (loss, metrics); calling it through the module (not its
    parts) keeps DDP's gradient synchronization working.
    """

    def __init__(self, student, loss_fn, koleo_weight=0.0):
        super().__init__()
        self.student = student
        self.teacher = make_teacher(student)
        self.loss_fn = loss_fn
        self.koleo_weight = koleo_weight

    def forward(self, crops, epoch=0):
        return dino_step(self.student, self.teacher, self.loss_fn, crops, epoch, self.koleo_weight)


# -- the recipe ---------------------------------------------------------------------------------
@dataclass
class DINOTrainConfig(TrainConfig):
    # the engine's options, with DINO's defaults
    lr: float = 5e-4
    min_lr: float = 1e-6
    warmup_epochs: float = 2.0
    weight_decay: float = 0.04
    grad_clip: float = 3.0
    batch_size: int = 64
    epochs: float = 100.0
    eval_every: int = 0
    save_every: int = 500
    # data
    train_size: int = 20000
    val_size: int = 500  # ShapesWorld "test" images for k-NN and attention Jaccard
    img_size: int = 64
    data_seed: int = 0
    difficulty: str = "medium"
    knn_train_size: int = 2000
    # the backbone (vit_tiny) and the head
    patch_size: int = 8
    embed_dim: int = 192
    depth: int = 6
    num_heads: int = 3
    drop_path: float = 0.1  # the backbone's drop_path_rate
    init_values: float = 0.0  # LayerScale init (DINOv2: 1e-5); 0 = no LayerScale
    ffn: str = "mlp"  # "swiglu" for DINOv2's FFN
    out_dim: int = 4096
    hidden_dim: int = 1024
    bottleneck_dim: int = 256
    norm_last_layer: bool = True
    freeze_last_layer: float = 1.0  # epochs with the head's last layer frozen
    # multi-crop
    n_local: int = 6
    local_size: int = 32
    global_scale_min: float = 0.4
    local_scale_min: float = 0.05
    augment: str = "batch"  # "batch": multi-crop of each batch on the device; "multicrop": per image
    # the loss and the teacher
    teacher_temp: float = 0.02
    warmup_teacher_temp: float = 0.02
    warmup_teacher_temp_epochs: int = 0
    student_temp: float = 0.1
    center_momentum: float = 0.9
    centering: str = "ema"  # or "sinkhorn" (DINOv2)
    momentum_teacher: float = 0.996
    koleo_weight: float = 0.0  # DINOv2 uses 0.1


@register_recipe("dino")
class DINORecipe(Recipe):
    """DINO self-distillation of a small ViT on ShapesWorld (multi-crop, EMA teacher)."""

    Config = DINOTrainConfig

    def build_model(self, cfg):
        return build_dino_model(cfg)

    def build_data(self, cfg):
        train = render_shapes(cfg.train_size, cfg.img_size, cfg.data_seed, "train", cfg.difficulty)
        if cfg.augment == "multicrop":
            train = MultiCropShapes(train, multicrop_of(cfg))
        elif cfg.augment != "batch":
            raise TrainError(f"Unknown --augment {cfg.augment!r}: choose 'batch' or 'multicrop'.")
        return train, render_shapes(cfg.val_size, cfg.img_size, cfg.data_seed, "test", cfg.difficulty)

    def training_step(self, model, batch, ctx):
        if "crops" in batch:  # --augment multicrop: drawn per image by the data loader
            crops = batch["crops"]
        else:
            crops = multicrop_of(ctx.cfg)(batch["image"].float() / 255.0)  # 2 + n_local × (B, 3, S, S)
        freeze_last_layer(ctx.unwrap(model).student.head, ctx.epoch, ctx.cfg.freeze_last_layer)
        return model([standardize(c.float()) for c in crops], ctx.epoch)

    def after_step(self, model, ctx):
        m = teacher_momentum(ctx.step + 1, ctx.total_steps, ctx.cfg.momentum_teacher, 1.0)
        update_teacher(model.student, model.teacher, m)

    def evaluate(self, model, val, ctx):
        return evaluate_backbone(model.teacher.backbone, ctx.cfg, ctx.device)

    def card(self, model, cfg):
        return {
            "model": {"factory": "course_lib.vit:vit_tiny", "kwargs": backbone_kwargs(cfg)},
            "input": {
                "img_size": cfg.img_size,
                "mean": list(SHAPES_MEAN),
                "std": list(SHAPES_STD),
                "data": f"ShapesWorld(seed={cfg.data_seed}, difficulty={cfg.difficulty!r})",
            },
            "exported": "the teacher's backbone (DINO evaluates the teacher)",
        }

    def export(self, model):
        return model.teacher.backbone


def backbone_kwargs(cfg):
    """`vit_tiny` keyword arguments of the recipe's backbone (what the card records)."""
    kwargs = {
        "patch_size": cfg.patch_size,
        "img_size": cfg.img_size,
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
    """The recipe's `DINOModel`: vit_tiny + DINOHead as the student, its EMA teacher, DINOLoss."""
    # fused attention for training; attention maps still take the explicit path
    backbone = vit_tiny(**backbone_kwargs(cfg), drop_path_rate=cfg.drop_path, fused_attn=True)
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


# -- the views ----------------------------------------------------------------------------------
def multicrop_of(cfg):
    """The recipe's multi-crop: 2 global crops of `img_size`, `n_local` local ones of `local_size`."""
    global_scale = (cfg.global_scale_min, 1.0)
    local_scale = (cfg.local_scale_min, cfg.global_scale_min)  # local crops: smaller parts
    return MultiCrop(cfg.img_size, cfg.local_size, cfg.n_local, global_scale, local_scale)


class MultiCropShapes(torch.utils.data.Dataset):
    """Rendered ShapesWorld with the multi-crop applied per image (the CPU-worker path)."""

    def __init__(self, rendered, multicrop):
        self.rendered, self.multicrop = rendered, multicrop

    def __len__(self):
        return len(self.rendered)

    def __getitem__(self, i):
        image = self.rendered.images[i].float() / 255.0  # (3, H, W)
        return {"crops": self.multicrop(image), "label": self.rendered.labels[i]}


# -- evaluation during and after training ---------------------------------------------------------
def evaluate_backbone(backbone, cfg, device):
    """k-NN shape accuracy (train → test features) and attention Jaccard on held-out ShapesWorld."""
    shapes = (cfg.img_size, cfg.data_seed)
    train_x, _, train_y = held_out_shapes(cfg.knn_train_size, *shapes, "train", cfg.difficulty)
    test_x, test_fg, test_y = held_out_shapes(cfg.val_size, *shapes, "test", cfg.difficulty)
    train_f = embed(backbone, train_x, device=device)  # (n_train, D) [CLS] features, on the CPU
    knn = knn_accuracy(train_f, train_y, embed(backbone, test_x, device=device), test_y)
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
