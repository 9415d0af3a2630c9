"""Training a small CLIP on ShapesWorld captions: the `clip` recipe and the clip-shapes metrics.

    python -m course_lib.train clip --device cuda --bundle clip-shapes   # GPU: 3 minutes (H200)
    python -m course_lib.train clip --bundle clip-shapes                 # CPU: hours

Each training pair is (image, its caption: "a large red triangle above a small blue circle"); a
batch of n pairs gives an n × n similarity matrix whose diagonal `clip_loss` pushes up. The
train split never shows six colour × shape pairs (ShapesWorld.HELD_OUT), so the evaluation can
ask whether CLIP composes "purple" and "circle" it only saw apart.

Metrics (test images, one object each, zero-shot with the ensemble of prompts "a large {}" and
"a small {}" over the 72 colour × shape names): colour+shape (72-way), shape and colour (the
72 probabilities summed per shape or colour), the same on the never-seen compositions; the
colour+shape accuracy without a template, with one, and with the ensemble; retrieval R@1 / R@5
in galleries of 100 test pairs of 1–2 objects.
"""

from dataclasses import dataclass, replace
from functools import lru_cache

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from course_lib.clip import (
    OPENAI_MEAN,
    OPENAI_STD,
    PRESETS,
    CLIPConfig,
    class_embeddings,
    clip_shapes_tiny,
    preprocess,
    retrieval_recall,
)
from course_lib.losses import clip_loss
from course_lib.tokenizers import WordTokenizer
from course_lib.train.recipe import Recipe, TrainConfig, register_recipe

# Words a prompt may use besides the captions' own (they are never trained: prompts with them
# show what an unseen word does).
PROMPT_WORDS = ("photo", "picture", "image", "an", "shape", "object", "with", "in", "on", "this", "is")

# The prompts compared in the card (the paper: a template +1.3 points, ensembling +3.5 more).
PROMPTS = {
    "no_template": ("{}",),
    "template": ("a {}",),
    "ensemble": ("a large {}", "a small {}"),  # captions always give a size: average over it
}


def shapes_tokenizer(context_length=16):
    """The word-level tokenizer of clip-shapes: ShapesWorld's caption words + PROMPT_WORDS."""
    from course_lib.data import ShapesWorld

    return WordTokenizer([*ShapesWorld.vocabulary(), *PROMPT_WORDS], context_length)


class RenderedCaptions(Dataset):
    """ShapesWorld rendered once: images uint8 (N, 3, H, W), tokens (N, T), captions, objects."""

    def __init__(self, images, tokens, captions, objects):
        self.images, self.tokens, self.captions, self.objects = images, tokens, captions, objects

    def __len__(self):
        return len(self.captions)

    def __getitem__(self, i):
        return {"image": self.images[i], "tokens": self.tokens[i]}

    def get_batch(self, indices):
        idx = torch.as_tensor(indices)
        return {"image": self.images[idx], "tokens": self.tokens[idx]}


@lru_cache(maxsize=8)
def render_captions(size, image_size=64, seed=0, split="train", objects=(1, 2), chunk=500):
    """`size` ShapesWorld items (medium difficulty, `objects` per image), rendered once."""
    from course_lib.data import ShapesWorld
    from course_lib.data.shapes import DIFFICULTIES

    world = ShapesWorld(size, image_size, seed, split, replace(DIFFICULTIES["medium"], objects=objects))
    images, captions, objs = [], [], []
    for start in range(0, size, chunk):
        batch = world.batch(range(start, min(size, start + chunk)))
        images.append((batch["image"] * 255).round().to(torch.uint8))  # (b, 3, H, W)
        captions += batch["caption"]
        objs += [[{k: o[k] for k in ("shape", "color", "size_word")} for o in b] for b in batch["objects"]]
    return RenderedCaptions(torch.cat(images), shapes_tokenizer()(captions), captions, objs)


def random_shift(x, max_shift):
    """Shift each image of (B, C, H, W) by up to `max_shift` px in x and y, repeating the edges.
    No flips or turns: the captions say "to the left of" and "above"."""
    B, C, H, W = x.shape
    p = max_shift
    padded = F.pad(x, (p, p, p, p), mode="replicate")  # (B, C, H + 2p, W + 2p)
    dy, dx = torch.randint(0, 2 * p + 1, (2, B), device=x.device)
    rows = (dy[:, None] + torch.arange(H, device=x.device))[:, None, :, None]  # (B, 1, H, 1)
    cols = (dx[:, None] + torch.arange(W, device=x.device))[:, None, None, :]  # (B, 1, 1, W)
    b = torch.arange(B, device=x.device)[:, None, None, None]
    c = torch.arange(C, device=x.device)[None, :, None, None]
    return padded[b, c, rows, cols]  # (B, C, H, W)


def to_model_input(images_uint8, translate=0):
    """uint8 (B, 3, H, W) → float, randomly shifted by ≤ `translate` px, normalized as CLIP's."""
    x = images_uint8.float() / 255.0
    if translate:
        x = random_shift(x, translate)
    return preprocess(x)


@dataclass
class CLIPShapesConfig(TrainConfig):
    train_size: int = 40000
    eval_size: int = 720  # single-object test images (and half as many never-seen compositions)
    retrieval_size: int = 1000  # test pairs of 1-2 objects, in galleries of 100
    image_size: int = 64
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
class CLIPShapesRecipe(Recipe):
    """CLIP's pseudo-code on ShapesWorld: two encoders, a learned temperature, clip_loss."""

    Config = CLIPShapesConfig

    def model_kwargs(self, cfg):
        tok = shapes_tokenizer()
        kwargs = dict(image_size=cfg.image_size, patch_size=cfg.patch_size, vision_width=cfg.vision_width,
                      vision_layers=cfg.vision_layers, vision_heads=cfg.vision_width // 32,
                      text_width=cfg.text_width, text_layers=cfg.text_layers, text_heads=cfg.text_width // 32,
                      embed_dim=cfg.embed_dim, vocab_size=tok.vocab_size, context_length=tok.context_length)
        preset = CLIPConfig(**PRESETS["clip_shapes_tiny"])
        return {k: v for k, v in kwargs.items() if getattr(preset, k) != v}  # only what differs

    def build_model(self, cfg):
        return clip_shapes_tiny(**self.model_kwargs(cfg))

    def build_data(self, cfg):
        train = render_captions(cfg.train_size, cfg.image_size, cfg.data_seed, "train")
        return train, {
            "test": render_captions(cfg.eval_size, cfg.image_size, cfg.data_seed, "test", (1, 1)),
            "held_out": render_captions(cfg.eval_size // 2, cfg.image_size, cfg.data_seed, "held_out",
                                        (1, 1)),
            "retrieval": render_captions(cfg.retrieval_size, cfg.image_size, cfg.data_seed + 1, "test"),
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
            "input": {"image_size": cfg.image_size, "mean": list(OPENAI_MEAN), "std": list(OPENAI_STD),
                      "data": f"ShapesWorld(seed={cfg.data_seed}, difficulty='medium') captions"},
            "tokenizer": {"kind": "word", "words": tok.words, "context_length": tok.context_length},
            "prompts": {k: list(v) for k, v in PROMPTS.items()},
        }


# ---------------------------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------------------------


@torch.no_grad()
def image_features(model, data, device, chunk=500):
    """Unit image embeddings of a RenderedCaptions: (N, E)."""
    out = [model.encode_image(to_model_input(data.images[i:i + chunk].to(device)), normalize=True)
           for i in range(0, len(data), chunk)]
    return torch.cat(out).float()


def targets_of(data):
    """Per one-object image: (shape index, colour index, composition index into `compositions()`)."""
    from course_lib.data import ShapesWorld

    shapes, colors = ShapesWorld.SHAPES, ShapesWorld.COLORS
    first = [objs[0] for objs in data.objects]
    shape = torch.tensor([shapes.index(o["shape"]) for o in first])
    color = torch.tensor([colors.index(o["color"]) for o in first])
    return shape, color, color * len(shapes) + shape


def compositions():
    """The 72 class names "red circle", ... colour-major (index = colour · 6 + shape)."""
    from course_lib.data import ShapesWorld

    return [f"{c} {s}" for c in ShapesWorld.COLORS for s in ShapesWorld.SHAPES]


@torch.no_grad()
def zero_shot_predictions(model, tokenizer, feats, templates=PROMPTS["ensemble"]):
    """Zero-shot over the 72 colour × shape prompts, and shape and colour by summing their
    probabilities (captions always name both, so "a circle" alone is unlike any training text).

    Returns:
        {"color_shape": (N,), "shape": (N,), "color": (N,)} predicted indices.
    """
    from course_lib.data import ShapesWorld

    text = class_embeddings(model, tokenizer, compositions(), templates).float()  # (72, E)
    probs = (model.temperature_scale().float() * feats @ text.T).softmax(-1).cpu()  # (N, 72)
    per_pair = probs.view(len(feats), len(ShapesWorld.COLORS), len(ShapesWorld.SHAPES))  # (N, 12, 6)
    return {"color_shape": probs.argmax(-1), "shape": per_pair.sum(1).argmax(-1),
            "color": per_pair.sum(2).argmax(-1)}


def accuracy(predicted, target):
    return (predicted == target).float().mean().item()


@torch.no_grad()
def evaluate_clip_shapes(model, tokenizer, test, held_out, retrieval, device="cpu"):
    """Every number of the clip-shapes card (fractions in [0, 1])."""
    from course_lib.data import ShapesWorld

    metrics = {}
    feats = image_features(model, test, device)
    shape, color, pair = targets_of(test)
    predicted = zero_shot_predictions(model, tokenizer, feats)
    for task, target in (("shape", shape), ("color", color), ("color_shape", pair)):
        metrics[f"zero_shot_{task}"] = accuracy(predicted[task], target)
    # a shape prompt alone ("a large circle", "a small circle"): out of the captions' distribution
    text = class_embeddings(model, tokenizer, ShapesWorld.SHAPES, PROMPTS["ensemble"]).float()
    metrics["zero_shot_shape_direct"] = accuracy((feats @ text.T).argmax(-1).cpu(), shape)
    for prompt, templates in PROMPTS.items():
        metrics[f"color_shape_{prompt}"] = accuracy(
            zero_shot_predictions(model, tokenizer, feats, templates)["color_shape"], pair)
    shape, color, pair = targets_of(held_out)
    predicted = zero_shot_predictions(model, tokenizer, image_features(model, held_out, device))
    for task, target in (("shape", shape), ("color", color), ("color_shape", pair)):
        metrics[f"held_out_{task}"] = accuracy(predicted[task], target)
    metrics.update(retrieval_metrics(model, retrieval, device))
    return metrics


@torch.no_grad()
def retrieval_metrics(model, data, device, gallery=100):
    """Image→text and text→image R@1, R@5, averaged over galleries of `gallery` pairs. A caption
    identical to the true one counts as correct (ShapesWorld repeats captions)."""
    gallery = min(gallery, len(data))
    feats = image_features(model, data, device)
    text = torch.cat([model.encode_text(data.tokens[i:i + 500].to(device), normalize=True)
                      for i in range(0, len(data), 500)]).float()
    results = []
    for start in range(0, len(data) - gallery + 1, gallery):
        sl = slice(start, start + gallery)
        caps = data.captions[sl]
        same = torch.tensor([[a == b for b in caps] for a in caps], device=feats.device)  # (g, g)
        results.append(retrieval_recall(feats[sl] @ text[sl].T, positives=same))
    return {k: sum(r[k] for r in results) / len(results) for k in results[0]}


def rescore(name="clip-shapes", eval_size=720, retrieval_size=1000, data_seed=0):
    """Recompute a bundled clip-shapes card's metrics with the current evaluation (on the CPU) and
    write them into its card; the numbers measured at the end of training stay under
    "metrics_at_training"."""
    from course_lib.checkpoints import CHECKPOINT_DIR, card, load_pretrained, write_json

    info, model = card(name), load_pretrained(name)
    size = info["input"]["image_size"]
    metrics = evaluate_clip_shapes(
        model, shapes_tokenizer(), render_captions(eval_size, size, data_seed, "test", (1, 1)),
        render_captions(eval_size // 2, size, data_seed, "held_out", (1, 1)),
        render_captions(retrieval_size, size, data_seed + 1, "test"))
    info.setdefault("metrics_at_training", info["metrics"])
    info["metrics"] = metrics
    info["prompts"] = {k: list(v) for k, v in PROMPTS.items()}
    info["metrics_note"] = ("metrics recomputed after training by course_lib.clip_recipe.rescore with "
                            "the current evaluation; metrics_at_training: the recipe's evaluation "
                            "at the last training step (an earlier prompt set)")
    write_json(CHECKPOINT_DIR / f"{name}.json", info)
    return metrics


RELATION_FLIP = {"above": "below", "below": "above", "to the left of": "to the right of",
                 "to the right of": "to the left of"}


@torch.no_grad()
def relation_probe(model, tokenizer, data, device="cpu"):
    """Does CLIP read word order? For two-object images, how often the true caption beats:
    the same caption with the relation flipped ("above" ↔ "below", "left" ↔ "right"), and with
    the two object phrases swapped (which also moves the size words).

    Returns:
        {"relation_flipped": ..., "left_right_flipped": ..., "objects_swapped": ..., "pairs": n}
    """
    feats = image_features(model, data, device)
    wins = {"relation_flipped": [], "left_right_flipped": [], "objects_swapped": []}
    for i, caption in enumerate(data.captions):
        rel = next((r for r in RELATION_FLIP if f" {r} " in caption and " and " not in caption), None)
        if rel is None:
            continue
        a, b = caption.split(f" {rel} ")
        texts = [caption, f"{a} {RELATION_FLIP[rel]} {b}", f"{b} {rel} {a}"]
        s = feats[i] @ model.encode_text(tokenizer(texts).to(device), normalize=True).float().T  # (3,)
        wins["relation_flipped"].append(float(s[0] > s[1]))
        wins["objects_swapped"].append(float(s[0] > s[2]))
        if "left" in rel or "right" in rel:
            wins["left_right_flipped"].append(float(s[0] > s[1]))
    out = {k: sum(v) / max(len(v), 1) for k, v in wins.items()}
    return {**out, "pairs": len(wins["relation_flipped"])}


@torch.no_grad()
def pointing_game(model, tokenizer, n_images=25, seed=5, coverage=0.3):
    """Where does a text match? For each object of two-object test images, whether the best patch
    of a map for "a {colour} {shape}" lies on that object (≥ `coverage` of the patch covered).

    Returns:
        {"patch_tokens": hit rate, "occlusion": hit rate, "random_patch": expected rate, "queries": n}
    """
    from course_lib.clip import occlusion_text_map, patch_text_similarity
    from course_lib.data import ShapesWorld
    from course_lib.data.shapes import DIFFICULTIES

    size, p = model.config.image_size, model.config.patch_size
    world = ShapesWorld(n_images, size, seed, "test", replace(DIFFICULTIES["medium"], objects=(2, 2)))
    hits, n = {"patch_tokens": 0, "occlusion": 0, "random_patch": 0.0}, 0
    for i in range(n_images):
        item = world[i]
        x = preprocess(item["image"])
        for o in item["objects"]:
            text = model.encode_text(tokenizer([f"a {o['color']} {o['shape']}"]), normalize=True)[0]
            covered = F.avg_pool2d(o["mask"][None].float(), p)[0]  # (h, w) fraction of each patch
            hits["random_patch"] += (covered >= coverage).float().mean().item()  # expected hit of a guess
            for name, fn in (("patch_tokens", patch_text_similarity), ("occlusion", occlusion_text_map)):
                best = fn(model, x, text)[0].flatten().argmax()
                hits[name] += int(covered.flatten()[best] >= coverage)
            n += 1
    return {**{k: v / n for k, v in hits.items()}, "queries": n}
