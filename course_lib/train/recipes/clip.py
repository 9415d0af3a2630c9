"""The `clip` recipe: a small CLIP trained on ShapesWorld captions (the bundled clip-shapes).

    python -m course_lib.train clip --device cuda --bundle clip-shapes   # GPU: 3 minutes (H200)
    python -m course_lib.train clip --bundle clip-shapes                 # CPU: hours

Each training pair is (image, its caption: "a large red triangle above a small blue circle"); a
batch of n pairs gives an n × n similarity matrix whose diagonal `clip_loss` pushes up. The data
is `course_lib.data.captions` (six colour × shape pairs never shown in training); the metrics
are `course_lib.evaluate.clip_shapes.evaluate_clip_shapes`.
"""

from dataclasses import dataclass

import torch

from course_lib.clip import PRESETS, CLIPConfig, clip_shapes_tiny
from course_lib.data.captions import PROMPTS, render_captions, shapes_tokenizer, to_model_input
from course_lib.data.rendered import OPENAI_MEAN, OPENAI_STD
from course_lib.evaluate.clip_shapes import evaluate_clip_shapes
from course_lib.losses import clip_loss
from course_lib.train.recipe import Recipe, TrainConfig, register_recipe


@dataclass
class CLIPTrainConfig(TrainConfig):
    train_size: int = 40000
    eval_size: int = 720  # single-object test images (and half as many never-seen compositions)
    retrieval_size: int = 1000  # test pairs of 1-2 objects, in galleries of 100
    img_size: int = 64
    data_seed: int = 0
    translate: int = 4
    patch_size: int = 8
    vision_width: int = 192
    vision_layers: int = 6
    text_width: int = 128
    text_layers: int = 3
    embed_dim: int = 128
    epochs: float = 32.0
    batch_size: int = 256
    lr: float = 1e-3
    warmup_epochs: float = 1.0
    eval_every: int = 1000
    weight_decay: float = 0.1


@register_recipe("clip")
class CLIPRecipe(Recipe):
    """CLIP's pseudo-code on ShapesWorld: two encoders, a learned temperature, clip_loss."""

    Config = CLIPTrainConfig

    def model_kwargs(self, cfg):
        tok = shapes_tokenizer()
        kwargs = dict(img_size=cfg.img_size, patch_size=cfg.patch_size, vision_width=cfg.vision_width,
                      vision_layers=cfg.vision_layers, vision_heads=cfg.vision_width // 32,
                      text_width=cfg.text_width, text_layers=cfg.text_layers, text_heads=cfg.text_width // 32,
                      embed_dim=cfg.embed_dim, vocab_size=tok.vocab_size, context_length=tok.context_length)
        preset = CLIPConfig(**PRESETS["clip_shapes_tiny"])
        return {k: v for k, v in kwargs.items() if getattr(preset, k) != v}  # only what differs

    def build_model(self, cfg):
        return clip_shapes_tiny(**self.model_kwargs(cfg))

    def build_data(self, cfg):
        train = render_captions(cfg.train_size, cfg.img_size, cfg.data_seed, "train")
        return train, {
            "test": render_captions(cfg.eval_size, cfg.img_size, cfg.data_seed, "test", (1, 1)),
            "held_out": render_captions(cfg.eval_size // 2, cfg.img_size, cfg.data_seed, "held_out",
                                        (1, 1)),
            "retrieval": render_captions(cfg.retrieval_size, cfg.img_size, cfg.data_seed + 1, "test"),
        }

    def build_optimizer(self, model, cfg):
        """AdamW; no weight decay on gains, biases, embeddings tables' positions or the temperature."""
        decay, no_decay = [], []
        for name, p in model.named_parameters():
            skip = p.ndim <= 1 or name.endswith(("positional_embedding", "class_embedding"))
            (no_decay if skip else decay).append(p)
        groups = [{"params": decay, "weight_decay": cfg.weight_decay},
                  {"params": no_decay, "weight_decay": 0.0}]
        return torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, 0.98), eps=1e-6)  # CLIP's betas

    def training_step(self, model, batch, ctx):
        images = to_model_input(batch["image"], ctx.cfg.translate)
        logits_per_image, _ = model(images, batch["tokens"])  # (n, n)
        loss = clip_loss(logits_per_image.float())
        accuracy = (logits_per_image.argmax(-1) == torch.arange(len(images), device=images.device))
        scale = ctx.unwrap(model).temperature_scale().item()
        return loss, {"batch_accuracy": accuracy.float().mean().item(), "logit_scale_exp": scale}

    def evaluate(self, model, val, ctx):
        return evaluate_clip_shapes(model, shapes_tokenizer(), val["test"], val["held_out"], val["retrieval"],
                                    ctx.device)

    def card(self, model, cfg):
        tok = shapes_tokenizer()
        return {
            "model": {"factory": "course_lib.clip:clip_shapes_tiny", "kwargs": self.model_kwargs(cfg)},
            "input": {"img_size": cfg.img_size, "mean": list(OPENAI_MEAN), "std": list(OPENAI_STD),
                      "data": f"ShapesWorld(seed={cfg.data_seed}, difficulty='medium') captions"},
            "tokenizer": {"kind": "word", "words": tok.words, "context_length": tok.context_length},
            "prompts": {k: list(v) for k, v in PROMPTS.items()},
        }
