"""Why centering and sharpening: the three short DINO runs of the slide.

    python -m course_lib.experiments dino-collapse [--steps 200]   # → data/results/dino_collapse.{json,png}

Without centering the teacher puts every image on one output dimension; without sharpening its
output goes uniform; with both it stays peaked and image-specific. `collapse_run` trains a tiny
ViT for a few hundred steps with the recipe's step (`course_lib.train.recipes.dino.dino_step`)
and records the teacher's entropy, the teacher–student KL and the share of the batch on the most
common dimension.
"""

import argparse
import json
import math
import platform
import time
from dataclasses import asdict, dataclass, replace

import torch

from course_lib.data.augment import resized_crop
from course_lib.data.rendered import standardize
from course_lib.dino.loss import DINOLoss
from course_lib.dino.model import DINOHead, MultiCropWrapper, freeze_last_layer, make_teacher, update_teacher
from course_lib.train.recipes.dino import dino_step
from course_lib.vit import VisionTransformer, ViTConfig

REGIMES = {(True, True): "healthy", (False, True): "one dimension", (True, False): "uniform"}


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


def tiny_dino(backbone_dim=64, depth=2, heads=2, patch=8, img_size=32, out_dim=256):
    """A very small student (ViT + head) for demonstrations that must run in seconds."""
    cfg = ViTConfig(img_size=img_size, patch_size=patch, num_classes=0, embed_dim=backbone_dim, depth=depth,
                    num_heads=heads)
    head = DINOHead(backbone_dim, out_dim, hidden_dim=4 * backbone_dim, bottleneck_dim=backbone_dim)
    return MultiCropWrapper(VisionTransformer(cfg), head)


def train_step(student, teacher, loss_fn, optimizer, crops, epoch=0, momentum=0.996, koleo_weight=0.0,
               clip_grad=3.0, freeze_head_epochs=0):
    """One DINO step outside the engine: `dino_step`, an optimizer step, the EMA teacher update.

    Args:
        student, teacher: `MultiCropWrapper`s; crops: list of (B, 3, H_i, W_i), the two global first.
    Returns:
        dict of floats: loss (DINO's), koleo, and the collapse metrics of this batch.
    """
    freeze_last_layer(student.head, epoch, freeze_head_epochs)
    total, metrics = dino_step(student, teacher, loss_fn, crops, epoch, koleo_weight)
    optimizer.zero_grad(set_to_none=True)
    total.backward()
    if clip_grad:
        torch.nn.utils.clip_grad_norm_(student.parameters(), clip_grad)
    optimizer.step()
    update_teacher(student, teacher, momentum)
    return {"loss": metrics["dino_loss"], **metrics}


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
    teacher_temp = cfg.teacher_temp if cfg.sharpening else cfg.student_temp
    loss_fn = DINOLoss(out_dim=cfg.out_dim, n_crops=2, student_temp=cfg.student_temp,
                       teacher_temp=teacher_temp, warmup_teacher_temp=teacher_temp,
                       centering="ema" if cfg.centering else "none")
    optimizer = torch.optim.AdamW(student.parameters(), lr=cfg.lr, weight_decay=0.04)
    # standardized with the set's own statistics: a random ViT then tells the images apart
    images = standardize(images, images.mean(dim=(0, 2, 3)), images.std(dim=(0, 2, 3)))
    history = {"entropy": [], "kl": [], "top_share": [], "loss": []}
    for _ in range(cfg.steps):
        batch = images[torch.randint(0, len(images), (cfg.batch_size,), generator=gen)]  # (B, 3, H, W)
        crops = [resized_crop(batch, cfg.crop_size, scale=(0.4, 1.0)) for _ in range(2)]  # two global views
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


def last_mean(values, n=10):
    return sum(values[-n:]) / len(values[-n:])


def main(argv=None):
    """The three runs on 512 ShapesWorld training images at 32 px → data/results/dino_collapse.{json,png}."""
    from course_lib.data.shapes import ShapesWorld
    from course_lib.viz.dino import collapse_figure

    parser = argparse.ArgumentParser(prog="python -m course_lib.experiments dino-collapse")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--out", default="data/results/dino_collapse.json", help="and the .png beside it")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    images = ShapesWorld(512, img_size=32, seed=0, split="train").batch(range(512))["image"]
    start = time.time()
    runs = collapse_experiment(images, steps=args.steps, crop_size=32, batch_size=32)
    seconds = time.time() - start
    summary = {
        name: {**run, "final_entropy": last_mean(run["entropy"]), "final_kl": last_mean(run["kl"]),
               "final_top_share": last_mean(run["top_share"])}
        for name, run in runs.items()
    }
    command = f"python -m course_lib.experiments dino-collapse --steps {args.steps}"
    command += f" --out {args.out}" if args.out != parser.get_default("out") else ""
    out = {
        "command": f"{command}  (course_lib.experiments.dino_collapse.collapse_experiment on 512 ShapesWorld "
                   "train images at 32 px)",
        "config": {**asdict(CollapseConfig()), "steps": args.steps, "crop_size": 32, "batch_size": 32},
        "seconds_total": round(seconds, 1),
        "machine": platform.machine() + " CPU, 1 thread (shared)",
        "runs": summary,
    }
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1)
    collapse_figure(runs).savefig(args.out.removesuffix(".json") + ".png", dpi=100)
