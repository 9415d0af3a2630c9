"""The clip-shapes metrics: what a CLIP trained on ShapesWorld captions knows.

    evaluate_clip_shapes(model, shapes_tokenizer(), test, held_out, retrieval)   # every card number
    relation_probe(model, tok, render_captions(400, 64, 3, "test", (2, 2)))     # does it read order?
    pointing_game(model, tok)                                                   # where does a text match?

Zero-shot on test images of one object each, with the ensemble of prompts "a large {}" and
"a small {}" over the 72 colour × shape names: colour+shape (72-way), shape and colour (the 72
probabilities summed per shape or colour), the same on the never-seen compositions; the
colour+shape accuracy without a template, with one, and with the ensemble; retrieval R@1 / R@5 in
galleries of 100 test pairs of 1–2 objects. Pure: models and rendered data in, numbers out.
"""

from dataclasses import replace

import torch
import torch.nn.functional as F

from course_lib.clip import preprocess
from course_lib.data.captions import PROMPTS, to_model_input
from course_lib.data.shapes import DIFFICULTIES, ShapesWorld
from course_lib.evaluate.clip import (
    class_embeddings,
    occlusion_text_map,
    patch_text_similarity,
    retrieval_recall,
)


@torch.no_grad()
def image_features(model, data, device, chunk=500):
    """Unit image embeddings of a RenderedCaptions: (N, E)."""
    out = [model.encode_image(to_model_input(data.images[i:i + chunk].to(device)), normalize=True)
           for i in range(0, len(data), chunk)]
    return torch.cat(out).float()


def targets_of(data):
    """Per one-object image: (shape index, colour index, composition index into `compositions()`)."""
    shapes, colors = ShapesWorld.SHAPES, ShapesWorld.COLORS
    first = [objs[0] for objs in data.objects]
    shape = torch.tensor([shapes.index(o["shape"]) for o in first])
    color = torch.tensor([colors.index(o["color"]) for o in first])
    return shape, color, color * len(shapes) + shape


def compositions():
    """The 72 class names "red circle", ... colour-major (index = colour · 6 + shape)."""
    return [f"{c} {s}" for c in ShapesWorld.COLORS for s in ShapesWorld.SHAPES]


@torch.no_grad()
def zero_shot_predictions(model, tokenizer, feats, templates=PROMPTS["ensemble"]):
    """Zero-shot over the 72 colour × shape prompts, and shape and colour by summing their
    probabilities (captions always name both, so "a circle" alone is unlike any training text).

    Returns:
        {"color_shape": (N,), "shape": (N,), "color": (N,)} predicted indices.
    """
    text = class_embeddings(model, tokenizer, compositions(), templates).float()  # (72, E)
    probs = (model.temperature_scale().float() * feats @ text.T).softmax(-1).cpu()  # (N, 72)
    per_pair = probs.view(len(feats), len(ShapesWorld.COLORS), len(ShapesWorld.SHAPES))  # (N, 12, 6)
    return {"color_shape": probs.argmax(-1), "shape": per_pair.sum(1).argmax(-1),
            "color": per_pair.sum(2).argmax(-1)}


def accuracy(predicted, target):
    """The fraction of equal entries of two (N,) index tensors."""
    return (predicted == target).float().mean().item()


@torch.no_grad()
def evaluate_clip_shapes(model, tokenizer, test, held_out, retrieval, device="cpu"):
    """Every number of the clip-shapes card (fractions in [0, 1])."""
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
    size, p = model.config.img_size, model.config.patch_size
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
