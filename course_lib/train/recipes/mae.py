"""MAE pre-training on ShapesWorld: `python -m course_lib.train mae`.

    batch (uint8) → augmentation (Table 1f: none | fixed crop | random crop | crop + colour)
      → standardize → MaskedAutoencoderViT(x, mask_ratio) → MSE on the removed patches
                                                             (or on every patch: --loss-on all)

The evaluation, on held-out test images with fixed masks, reports the masked MSE
(`course_lib.evaluate.reconstruction`) and probes the frozen encoder's mean patch token with
k-NN and a linear probe (`course_lib.evaluate.probes`); at the last evaluation the same probes
score the encoder before training, the baseline every number should be read against.

    python -m course_lib.train mae --bundle mae-vit-shapes
    python -m course_lib.train mae --preset shapes_small --mask-ratio 0.9 --steps 250
"""

from dataclasses import dataclass

import torch

from course_lib.data.augment import Compose, Pixelwise, RandomResizedCrop
from course_lib.data.color import color_distortion
from course_lib.data.probe_sets import ProbeData
from course_lib.data.rendered import SHAPES_MEAN, SHAPES_STD, render_shapes, standardize
from course_lib.evaluate.probes import patch_mean_of, probe_metrics
from course_lib.evaluate.reconstruction import reconstruction_errors
from course_lib.losses import mae_loss
from course_lib.mae import make_mae
from course_lib.patches import patchify
from course_lib.train.recipe import Recipe, TrainConfig, TrainError, register_recipe

AUGMENTATIONS = ("none", "fixed", "random", "color")  # the MAE paper's Table 1(f), in order


def augmentation(mode, min_scale=0.2):
    """The views of the MAE augmentation ablation, as a `course_lib.data.augment` pipeline.

    Crops keep the image's size (size None) and flip half the time; "fixed" is a square crop of
    7/8 of the side (224 of 256 in the paper) at a random place; "color" adds brightness, contrast
    and saturation jitter by factors in [0.6, 1.4] (strength 0.5 → ±0.8·0.5), always, no hue, no grey.
    """
    random_crop = RandomResizedCrop(None, scale=(min_scale, 1.0))
    steps = {
        "none": [],
        "fixed": [RandomResizedCrop(None, scale=(0.765, 0.766), ratio=(1.0, 1.0))],
        "random": [random_crop],
        "color": [random_crop, Pixelwise(color_distortion, strength=0.5, p_jitter=1.0, p_gray=0.0, hue=0.0)],
    }
    return Compose(steps[mode])


def augment_batch(x, mode, min_scale=0.2):
    """The augmentation `mode` of the ablation on a batch x (B, 3, H, W) in [0, 1] → (B, 3, H, W)."""
    return augmentation(mode, min_scale)(x)[0]


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
    img_size: int = 64
    data_seed: int = 0
    difficulty: str = "medium"
    epochs: float = 20.0
    batch_size: int = 256
    lr: float = 1.5e-3
    warmup_epochs: float = 2.0
    weight_decay: float = 0.05


def mae_probe_metrics(model, probe, device):
    """Linear-probe and k-NN top-1 of the frozen encoder's mean patch token (shape of the largest
    object): {"linear_probe", "knn_top1"}."""
    metrics = probe_metrics(model, probe, device, SHAPES_MEAN, SHAPES_STD, features=patch_mean_of)
    return {"linear_probe": metrics["linear_top1"], "knn_top1": metrics["knn_top1"]}


@torch.no_grad()
def evaluate_mae(model, probe, mask_ratio, device):
    """Masked MSE (standardized units, and pixels in [0, 1] at 75%) on the held-out images with fixed
    masks, then the probes of the encoder."""
    images = probe.val[0].to(device).float() / 255.0  # (N, 3, H, W) held-out test images
    errors = reconstruction_errors(model, images, mask_ratio, SHAPES_MEAN, SHAPES_STD)
    return {**errors, **mae_probe_metrics(model, probe, device)}


@register_recipe("mae")
class MAERecipe(Recipe):
    """MAE pre-training on ShapesWorld; evaluated by masked MSE and a linear probe of the encoder."""

    Config = MAETrainConfig

    def model_kwargs(self, cfg):
        return {"img_size": cfg.img_size, "norm_pix_loss": cfg.norm_pix_loss}

    def build_model(self, cfg):
        if cfg.augment not in AUGMENTATIONS or cfg.loss_on not in ("masked", "all"):
            raise TrainError(f"--augment must be one of {AUGMENTATIONS} and --loss-on 'masked' or 'all'.")
        return make_mae(cfg.preset, **self.model_kwargs(cfg), fused_attn=True)

    def build_data(self, cfg):
        """(training images, probe sets): the probe is fitted on train images, scored on the test split."""

        def render(size, split):
            data = render_shapes(size, cfg.img_size, cfg.data_seed, split, cfg.difficulty)  # uint8
            return data.images, data.labels

        train = render_shapes(cfg.train_size, cfg.img_size, cfg.data_seed, "train", cfg.difficulty)
        return train, ProbeData(fit=render(cfg.probe_train, "train"), val=render(cfg.probe_test, "test"))

    def training_step(self, model, batch, ctx):
        cfg = ctx.cfg
        x = augment_batch(batch["image"].float() / 255.0, cfg.augment, cfg.min_scale)  # (B, 3, H, W), [0, 1]
        x = standardize(x)
        loss, pred, mask = model(x, mask_ratio=cfg.mask_ratio)
        if cfg.loss_on == "all":  # the ablation: score every patch, visible ones included
            mae = ctx.unwrap(model)
            target = patchify(x, mae.config.patch_size)  # (B, L, p*p*3)
            loss = mae_loss(target, pred.float(), torch.ones_like(mask), mae.config.norm_pix_loss)
        return loss.float()

    def evaluate(self, model, val, ctx):
        cfg = ctx.cfg
        metrics = evaluate_mae(ctx.unwrap(model), val, cfg.mask_ratio, ctx.device)
        if ctx.step + 1 >= ctx.total_steps:  # the baseline: the same encoder before training
            torch.manual_seed(cfg.seed)
            untrained = self.build_model(cfg).to(ctx.device).eval()
            baseline = mae_probe_metrics(untrained, val, ctx.device)
            metrics.update({f"{k}_random_init": v for k, v in baseline.items()})
        return metrics

    def card(self, model, cfg):
        factory = f"course_lib.mae:mae_vit_{cfg.preset}"
        return {"model": {"factory": factory, "kwargs": self.model_kwargs(cfg)},
                "input": {"img_size": cfg.img_size, "mean": list(SHAPES_MEAN), "std": list(SHAPES_STD),
                          "data": f"ShapesWorld(seed={cfg.data_seed}, difficulty={cfg.difficulty!r})"}}
