"""Why centering and sharpening: one DINO step, and the three short runs of the slide.

Without centering the teacher puts every image on one output dimension; without sharpening its
output goes uniform; with both it stays peaked and image-specific. `collapse_run` trains a tiny
ViT for a few hundred steps and records the teacher's entropy, the teacher–student KL and the
share of the batch on the most common dimension.
"""

import math
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F

from course_lib.dino.loss import DINOLoss, collapse_metrics
from course_lib.dino.model import DINOHead, MultiCropWrapper, freeze_last_layer, make_teacher, update_teacher
from course_lib.losses import koleo_loss


# -- one training step ------------------------------------------------------------------------
def train_step(
    student,
    teacher,
    loss_fn,
    optimizer,
    crops,
    epoch=0,
    momentum=0.996,
    koleo_weight=0.0,
    clip_grad=3.0,
    freeze_head_epochs=0,
    scaler=None,
):
    """One DINO step: forward both networks, distil, step the student, EMA-update the teacher.

    Args:
        student, teacher: `MultiCropWrapper`s; the teacher sees only the two global crops.
        crops: list of (B, 3, H_i, W_i), the two global crops first.
    Returns:
        dict of floats: loss, koleo, and the collapse metrics of this batch.
    """
    use_amp = scaler is not None
    with torch.autocast(crops[0].device.type, dtype=torch.bfloat16, enabled=use_amp):
        with torch.no_grad():
            teacher_out = teacher(crops[:2])  # (2·B, K)
        student_out, features = student(crops, return_features=True)  # (n_crops·B, K), (n_crops·B, D)
    targets = loss_fn.targets(teacher_out, epoch)  # before the centre moves: (2, B, K)
    loss = loss_fn(student_out, teacher_out, epoch)
    koleo = torch.zeros((), device=loss.device)
    if koleo_weight > 0:  # DINOv2: spread the [CLS] features of each global view
        B = crops[0].shape[0]
        koleo = sum(koleo_loss(f.float()) for f in features[: 2 * B].split(B)) / 2
    total = loss + koleo_weight * koleo

    optimizer.zero_grad(set_to_none=True)
    total.backward()
    if clip_grad:
        torch.nn.utils.clip_grad_norm_(student.parameters(), clip_grad)
    freeze_last_layer(student.head, epoch, freeze_head_epochs)
    optimizer.step()
    update_teacher(student, teacher, momentum)

    B = crops[0].shape[0]
    metrics = collapse_metrics(targets[0], student_out[B : 2 * B].detach(), loss_fn.config.student_temp)
    return {"loss": loss.item(), "koleo": koleo.item(), **metrics}


# -- why centering and sharpening: the collapse runs ------------------------------------------
@dataclass
class CollapseConfig:
    centering: bool = True  # False: the centre stays 0
    sharpening: bool = True  # False: the teacher uses the student's temperature (no extra sharpening)
    steps: int = 150
    batch_size: int = 32
    out_dim: int = 256
    teacher_temp: float = 0.04
    student_temp: float = 0.1
    lr: float = 1e-3
    momentum: float = 0.99
    crop_size: int = 32
    seed: int = 0


REGIMES = {(True, True): "healthy", (False, True): "one dimension", (True, False): "uniform"}


def random_crops(images, n, size, scale=(0.4, 1.0), generator=None):
    """n random resized crops (with horizontal flips) of every image: a list of n (B, 3, size, size)."""
    B, _, H, W = images.shape
    views = []
    for _ in range(n):
        out = []
        for img in images:
            area = torch.empty(1).uniform_(*scale, generator=generator).item()
            s = max(2, int(round(H * area**0.5)))
            top = int(torch.randint(0, H - s + 1, (1,), generator=generator))
            left = int(torch.randint(0, W - s + 1, (1,), generator=generator))
            crop = img[:, top : top + s, left : left + s][None]  # (1, 3, s, s)
            crop = F.interpolate(crop, size=(size, size), mode="bilinear", align_corners=False)
            if torch.rand(1, generator=generator).item() < 0.5:
                crop = crop.flip(-1)
            out.append(crop)
        views.append(torch.cat(out))  # (B, 3, size, size)
    return views


def tiny_dino(backbone_dim=64, depth=2, heads=2, patch=8, img_size=32, out_dim=256):
    """A very small student (ViT + head) for demonstrations that must run in seconds."""
    from course_lib.vit import VisionTransformer, ViTConfig

    cfg = ViTConfig(
        img_size=img_size,
        patch_size=patch,
        num_classes=0,
        embed_dim=backbone_dim,
        depth=depth,
        num_heads=heads,
    )
    head = DINOHead(backbone_dim, out_dim, hidden_dim=4 * backbone_dim, bottleneck_dim=backbone_dim)
    return MultiCropWrapper(VisionTransformer(cfg), head)


def collapse_run(images, config: CollapseConfig | None = None, **overrides):
    """Train a tiny DINO with or without centering / sharpening and record how its teacher behaves.

    Args:
        images: (n, 3, H, W) training images in [0, 1].
    Returns:
        dict of lists per step: `entropy`, `kl`, `top_share`, `loss`; plus `regime` (the expected
        outcome) and `max_entropy` = log K.
    """

    cfg = replace(config or CollapseConfig(), **overrides)
    gen = torch.Generator().manual_seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    student = tiny_dino(img_size=cfg.crop_size, out_dim=cfg.out_dim)
    teacher = make_teacher(student)
    loss_fn = DINOLoss(
        out_dim=cfg.out_dim,
        n_crops=2,
        student_temp=cfg.student_temp,
        teacher_temp=cfg.teacher_temp if cfg.sharpening else cfg.student_temp,
        warmup_teacher_temp=cfg.teacher_temp if cfg.sharpening else cfg.student_temp,
        centering="ema" if cfg.centering else "none",
    )
    optimizer = torch.optim.AdamW(student.parameters(), lr=cfg.lr, weight_decay=0.04)
    mean = images.mean(dim=(0, 2, 3), keepdim=True)  # (1, 3, 1, 1)
    std = images.std(dim=(0, 2, 3), keepdim=True)
    images = (images - mean) / std  # standardized inputs: a random ViT then tells images apart
    history = {"entropy": [], "kl": [], "top_share": [], "loss": []}
    for _ in range(cfg.steps):
        idx = torch.randint(0, len(images), (cfg.batch_size,), generator=gen)
        crops = random_crops(images[idx], 2, cfg.crop_size, generator=gen)
        m = train_step(student, teacher, loss_fn, optimizer, crops, momentum=cfg.momentum, clip_grad=0)
        for key in history:
            history[key].append(m[key])
    history["regime"] = REGIMES.get((cfg.centering, cfg.sharpening), "unknown")
    history["max_entropy"] = math.log(cfg.out_dim)
    return history


def classify_regime(history, last=10):
    """Name the end state of a collapse run from the mean of its last steps.

    "uniform": the teacher's entropy is within 10% of log K (sharpening missing);
    "one dimension": near-one-hot targets (entropy < 10% of log K) on the same dimension for most
    of the batch (centering missing); "healthy" otherwise: peaked targets that differ by image.
    """
    entropy = sum(history["entropy"][-last:]) / len(history["entropy"][-last:])
    top_share = sum(history["top_share"][-last:]) / len(history["top_share"][-last:])
    if entropy > 0.9 * history["max_entropy"]:
        return "uniform"
    if top_share > 0.5 and entropy < 0.1 * history["max_entropy"]:
        return "one dimension"
    return "healthy"


def collapse_experiment(images, steps=200, **overrides):
    """The slide's three runs: centering + sharpening, sharpening only, centering only.

    Returns {label: history} (see `collapse_run`), each with its measured `regime_found`.
    """
    runs = {}
    for label, centering, sharpening in [
        ("centering + sharpening", True, True),
        ("no centering", False, True),
        ("no sharpening", True, False),
    ]:
        hist = collapse_run(images, centering=centering, sharpening=sharpening, steps=steps, **overrides)
        hist["regime_found"] = classify_regime(hist)
        runs[label] = hist
    return runs
