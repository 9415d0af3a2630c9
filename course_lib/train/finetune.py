"""Fine-tuning a classifier on a small labelled set in memory: one recipe for every model.

The label-efficiency experiment trains a ViT from scratch and fine-tunes MAE's encoder with this
same loop, so that the two differ only in their starting weights (MAE's protocol: the whole
encoder trained end to end with a new linear head on [CLS], AdamW, warmup + cosine, label
smoothing, stochastic depth, optionally layer-wise learning-rate decay).

    model = classifier_from_encoder(load_pretrained("mae-vit-shapes").to_vit(), num_classes=6)
    cfg = FinetuneConfig(steps=budget_steps(len(labels)), lr=1e-3)
    finetune(model, images, labels, cfg)                 # images: uint8 (n, 3, H, W)
    accuracy(model, test_images, test_labels)            # in [0, 1]

Augmentation is the supervised recipes' (`course_lib.train.recipes.supervised.augment`): flips,
quarter turns and small shifts, all of which keep a shape's name. Every random draw is a function
of `cfg.seed` and the step, as in the engine; nothing is written to disk.
"""

import math
from contextlib import nullcontext
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from course_lib.checkpoints import load_state_dict_strict
from course_lib.data.rendered import SHAPES_MEAN, SHAPES_STD, standardize
from course_lib.train.batches import mix_seed
from course_lib.train.engine import learning_rate, set_learning_rate
from course_lib.train.recipe import Recipe, TrainConfig
from course_lib.train.recipes.supervised import augment, augment_params
from course_lib.vit import VisionTransformer

__all__ = ["FinetuneConfig", "accuracy", "budget_steps", "classifier_from_encoder", "finetune",
           "layer_decay_optimizer"]


@dataclass
class FinetuneConfig:
    steps: int = 300
    batch_size: int = 64  # capped at the labelled set's size
    lr: float = 1e-3
    min_lr: float = 1e-5
    warmup_fraction: float = 0.1  # linear warmup over this fraction of the steps, then cosine
    weight_decay: float = 0.05
    label_smoothing: float = 0.1
    layer_decay: float = 1.0  # < 1: block i of a ViT learns at lr · decay^(depth − i) (BEiT, MAE)
    translate: int = 4  # px
    flip: bool = True
    rotate: bool = True  # quarter turns
    seed: int = 0
    device: str = "cpu"
    progress: bool = False


def budget_steps(n_labelled, batch_size=64, epochs=15.0, min_steps=300, max_steps=1500):
    """Steps for a labelled set of n images: `epochs` passes, but never fewer than `min_steps`
    (a tiny set is seen many times, augmented) nor more than `max_steps` (the CPU's budget)."""
    batch = min(batch_size, n_labelled)
    return int(min(max_steps, max(min_steps, round(epochs * n_labelled / batch))))


def classifier_from_encoder(encoder, num_classes, drop_path_rate=0.1, fused_attn=True):
    """A `VisionTransformer` with `encoder`'s weights (a ViT without head) and a fresh linear head.

    Loaded strictly: the only keys not taken from the encoder are `head.weight` and `head.bias`.
    """
    cfg = replace(encoder.config, num_classes=num_classes, drop_path_rate=drop_path_rate,
                  fused_attn=fused_attn)
    model = VisionTransformer(cfg)
    fresh_head = {k: v for k, v in model.state_dict().items() if k.startswith("head.")}
    return load_state_dict_strict(model, {**encoder.state_dict(), **fresh_head})


def vit_layer_id(name, depth):
    """0 for the embeddings, i + 1 for block i, depth + 1 for the final norm and the head."""
    if name.startswith(("cls_token", "pos_embed", "patch_embed")):
        return 0
    if name.startswith("blocks."):
        return int(name.split(".")[1]) + 1
    return depth + 1


def layer_decay_optimizer(model, cfg):
    """AdamW with the engine's weight-decay groups (`Recipe.build_optimizer`), each split by layer
    so that a ViT's lower layers learn more slowly: lr_scale = decay^(depth + 1 − layer)."""
    base = Recipe().build_optimizer(model, cfg)  # no weight decay on biases, norms and tables
    if cfg.layer_decay >= 1.0 or not hasattr(model, "blocks"):
        return base
    depth, layer = len(model.blocks), {id(p): vit_layer_id(n, len(model.blocks))
                                       for n, p in model.named_parameters()}
    groups = []
    for group in base.param_groups:
        for i in sorted({layer[id(p)] for p in group["params"]}):
            groups.append({"params": [p for p in group["params"] if layer[id(p)] == i],
                           "weight_decay": group["weight_decay"],
                           "lr_scale": cfg.layer_decay ** (depth + 1 - i)})
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, 0.999))


def batch_order(n, batch, steps, seed):
    """Indices (steps, batch): shuffled passes over n items, one after another (seeded)."""
    g = torch.Generator().manual_seed(mix_seed(seed, 11))
    passes = math.ceil(steps * batch / n)
    order = torch.cat([torch.randperm(n, generator=g) for _ in range(passes)])  # (passes · n,)
    return order[: steps * batch].view(steps, batch)  # (steps, batch)


def finetune(model, images, labels, cfg, mean=SHAPES_MEAN, std=SHAPES_STD):
    """Train `model` (images → logits) on uint8 images (n, 3, H, W) with labels (n,); eval mode after.

    Returns the model and the last step's loss.
    """
    device = torch.device(cfg.device)
    model.to(device).train()
    optimizer = layer_decay_optimizer(model, cfg)
    # the engine's schedule, with the whole run as one "epoch": warmup = warmup_fraction · steps
    schedule = TrainConfig(lr=cfg.lr, min_lr=cfg.min_lr, warmup_epochs=cfg.warmup_fraction)
    B = min(cfg.batch_size, len(labels))
    order = batch_order(len(labels), B, cfg.steps, cfg.seed)  # (steps, B)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else nullcontext()
    loss = torch.tensor(float("nan"))
    for step in tqdm(range(cfg.steps), desc="fine-tune", leave=False, disable=not cfg.progress):
        torch.manual_seed(mix_seed(cfg.seed, 1_000_003, step))  # drop-path
        set_learning_rate(optimizer, learning_rate(schedule, step, cfg.steps, cfg.steps))
        x = standardize(images[order[step]].to(device), mean, std)  # (B, 3, H, W)
        flip, turns, shifts = augment_params(B, cfg.translate, mix_seed(cfg.seed, 7, step))
        x = augment(x, flip & cfg.flip, turns * cfg.rotate, shifts, cfg.translate)
        with autocast:
            logits = model(x)  # (B, classes)
        loss = F.cross_entropy(logits.float(), labels[order[step]].to(device),
                               label_smoothing=cfg.label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return model.eval(), loss.item()


@torch.no_grad()
def accuracy(model, images, labels, mean=SHAPES_MEAN, std=SHAPES_STD, device="cpu", chunk=250):
    """Top-1 accuracy in [0, 1] of a classifier on uint8 images (n, 3, H, W) with labels (n,)."""
    model.eval().to(device)
    correct = 0
    for start in range(0, len(labels), chunk):
        x = standardize(images[start:start + chunk].to(device), mean, std)  # (b, 3, H, W)
        correct += (model(x).argmax(-1).cpu() == labels[start:start + chunk]).sum().item()
    return correct / len(labels)
