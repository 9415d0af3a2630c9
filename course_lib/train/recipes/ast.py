"""The AST recipe: `python -m course_lib.train ast`, supervised on AudioClips (9 sound classes).

    python -m course_lib.train ast --bundle ast-mini-audioclips     # the bundled classifier
    python -m course_lib.train ast --from-vit dino_vits16           # start from an image ViT

Each batch of 1 s waveforms becomes log-mel spectrograms in `collate` (course_lib.data.spectrogram);
the model is a preset of course_lib.audio, or, with --from-vit, a bundled image ViT turned into an
AST by `ast_from_vit` (the paper's trick).
"""

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from course_lib import checkpoints
from course_lib.audio import PRESETS, ast_from_vit, make_ast
from course_lib.data.audio_clips import CLASSES, AudioClips
from course_lib.data.spectrogram import SpectrogramConfig, model_input
from course_lib.train.recipe import Recipe, TrainConfig, TrainError, register_recipe
from course_lib.vit import VisionTransformer


@dataclass
class ASTTrainConfig(TrainConfig):
    """Options of `python -m course_lib.train ast`, besides those every recipe has."""

    preset: str = "mini"  # an entry of PRESETS
    from_vit: str = ""  # a load_pretrained name: start from that image ViT (the AST trick)
    train_size: int = 44800  # synthetic clips; item i is fixed, so more items = more variety
    val_size: int = 900
    epochs: float = 1.0
    batch_size: int = 64
    lr: float = 1e-3
    warmup_epochs: float = 0.05


def load_image_vit(name):
    """The bundled or official image ViT `name` (a `load_pretrained` name), for `--from-vit`."""
    vit = checkpoints.load_pretrained(name)
    if not isinstance(vit, VisionTransformer):
        raise TrainError(f"--from-vit {name} is a {type(vit).__name__}, not an image "
                         "ViT: choose a ViT checkpoint (for example dino_vits16).")
    return vit


@register_recipe("ast")
class ASTRecipe(Recipe):
    """Supervised AST on AudioClips: log-mel of 1 s at 16 kHz → 9 sound classes."""

    Config = ASTTrainConfig

    def build_model(self, cfg):
        if cfg.from_vit:
            return ast_from_vit(load_image_vit(cfg.from_vit), num_classes=len(CLASSES))
        if cfg.preset not in PRESETS:
            raise TrainError(f"Unknown --preset {cfg.preset!r}: choose one of {sorted(PRESETS)}.")
        return make_ast(cfg.preset, num_classes=len(CLASSES))

    def build_data(self, cfg):
        return AudioClips(cfg.train_size, cfg.seed, "train"), AudioClips(cfg.val_size, cfg.seed, "val")

    def collate(self, items):
        waves = torch.stack([it["wave"] for it in items])  # (B, T)
        return {"spec": model_input(waves), "label": torch.tensor([it["label"] for it in items])}

    def training_step(self, model, batch, ctx):
        logits = model(batch["spec"])  # (B, classes)
        loss = F.cross_entropy(logits, batch["label"])
        return loss, {"top1": (logits.argmax(-1) == batch["label"]).float().mean().item()}

    def evaluate(self, model, val, ctx):
        """Accuracy on the validation split and on the held-out test split (never trained on)."""
        test = AudioClips(len(val), ctx.cfg.seed, "test")
        return {"val_top1": clip_accuracy(model, val, ctx.device),
                "test_top1": clip_accuracy(model, test, ctx.device)}

    def card(self, model, cfg):
        return {"model": {"factory": "course_lib.audio:AudioSpectrogramTransformer",
                          "kwargs": asdict(model.config)},
                "input": {"sample_rate": 16000, "seconds": 1.0, "classes": list(CLASSES),
                          "spectrogram": asdict(SpectrogramConfig()),
                          "features": "course_lib.data.spectrogram:model_input"}}


@torch.no_grad()
def clip_accuracy(model, clips, device="cpu", batch_size=100):
    """Top-1 accuracy of an AST classifier on a dataset of AudioClips-style items."""
    correct = 0
    for start in range(0, len(clips), batch_size):
        items = [clips[i] for i in range(start, min(start + batch_size, len(clips)))]
        spec = model_input(torch.stack([it["wave"] for it in items])).to(device)  # (B, mels, frames)
        labels = torch.tensor([it["label"] for it in items], device=device)
        correct += (model(spec).argmax(-1) == labels).sum().item()
    return correct / len(clips)
