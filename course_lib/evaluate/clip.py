"""Evaluating a CLIP: zero-shot classification, ranking, retrieval, and where a text matches.

    probs = zero_shot_classify(model, preprocess(images), ["dog", "cat"], ["a photo of a {}."])
    ranking_sentence(probs[0], target=1, name="cat")      # "cat: ranked 1 out of 2"
    retrieval_recall(image_features @ text_features.T)   # R@1, R@5 both ways
    occlusion_text_map(model, images, text_features[0])   # (B, h, w): where the text's evidence is

Pure functions: a model and tensors in, numbers out (no checkpoint loading, no figures). The
metrics of the bundled clip-shapes model on ShapesWorld are in `course_lib.evaluate.clip_shapes`.
"""

import torch
import torch.nn.functional as F

from course_lib.tokenizers import BPETokenizer

DEFAULT_TEMPLATES = ("a photo of a {}.",)


@torch.no_grad()
def class_embeddings(model, tokenizer, classnames, templates=None):
    """One unit vector per class: every template filled with the class name, encoded and
    normalized, averaged over templates (prompt ensembling), renormalized.

    Returns:
        (C, E) unit rows.
    """
    # BEGIN SOLUTION
    templates = list(templates or DEFAULT_TEMPLATES)
    texts = [t.format(c) for c in classnames for t in templates]  # C·K texts, class-major
    device = next(model.parameters()).device
    emb = model.encode_text(tokenizer(texts).to(device), normalize=True)  # (C·K, E)
    emb = emb.view(len(classnames), len(templates), -1).mean(dim=1)  # (C, E) mean over templates
    return F.normalize(emb, dim=-1)
    # END SOLUTION


@torch.no_grad()
def zero_shot_classify(model, images, classnames, templates=None, tokenizer=None, text_features=None):
    """CLIP's zero-shot classifier: the class whose prompt embedding is closest to the image.

    Args:
        images: (B, 3, H, W), already preprocessed for `model`.
        classnames: C names; `templates`: prompts with `{}` (default "a photo of a {}.").
        tokenizer: text → ids (default: CLIP's BPE); `text_features`: precomputed (C, E)
            `class_embeddings`, to skip the text tower.
    Returns:
        (B, C) probabilities: softmax of exp(logit_scale) · cosine similarities.
    """
    if not classnames:
        raise ValueError("zero_shot_classify needs at least one class name.")
    # BEGIN SOLUTION
    if text_features is None:
        text_features = class_embeddings(model, tokenizer or default_tokenizer(), classnames, templates)
    image = model.encode_image(images, normalize=True)  # (B, E)
    logits = model.temperature_scale() * image @ text_features.T  # (B, C)
    return logits.softmax(dim=-1)
    # END SOLUTION


def default_tokenizer():
    """CLIP's byte-level BPE tokenizer (the one OpenAI's weights read)."""
    return BPETokenizer()


def rank_of(scores, target):
    """1-based rank of `target` in one row of scores (1 = highest)."""
    return int((scores > scores[target]).sum()) + 1


def ranking_sentence(scores, target, name=None):
    """"Ranked k out of N" (the paper's figure: "a photo of guacamole ... ranked 1 out of 101")."""
    prefix = f"{name}: ranked" if name else "Ranked"
    return f"{prefix} {rank_of(scores, target)} out of {len(scores)}"


def retrieval_recall(similarity, ks=(1, 5), positives=None):
    """Recall@k both ways for a square similarity (N images × N texts, pair i ↔ i).

    Args:
        similarity: (N, N), [i, j] = score of image i with text j.
        positives: optional (N, N) bool, which pairs count as correct (default: the diagonal),
            for data where several captions fit one image.
    Returns:
        {"image_to_text_R@1": ..., "text_to_image_R@1": ..., ...}: the fraction of queries with a
        correct item among the k best.
    """
    n = similarity.shape[0]
    if positives is None:
        positives = torch.eye(n, dtype=torch.bool, device=similarity.device)
    out = {}
    directions = (("image_to_text", similarity, positives), ("text_to_image", similarity.T, positives.T))
    for name, sim, pos in directions:
        best_correct = sim.masked_fill(~pos, float("-inf")).max(dim=1, keepdim=True).values  # (N, 1)
        ranks = ((sim > best_correct) & ~pos).sum(dim=1)  # (N,) wrong items above: 0 = first
        for k in ks:
            out[f"{name}_R@{k}"] = (ranks < k).float().mean().item()
    return out


@torch.no_grad()
def patch_text_similarity(model, images, text_features):
    """Cosine similarity of every patch token (through ln_post and proj) with one text embedding.

    CLIP only trains the [CLS] token to match texts, so this map is a weak guide (on ShapesWorld
    its best patch lies on the named object 14% of the time, a random patch 17%); use
    `occlusion_text_map` (54%).

    Args:
        images: (B, 3, H, W) preprocessed; text_features: (E,) or (1, E).
    Returns:
        (B, H/p, W/p) similarities in [-1, 1], patch grid in image layout.
    """
    B, _, H, W = images.shape
    p = model.config.patch_size
    patches = F.normalize(model.visual.forward_patches(images)[:, 1:], dim=-1)  # (B, L, E)
    sim = patches @ F.normalize(text_features.reshape(-1), dim=0)  # (B, L)
    return sim.view(B, H // p, W // p)  # (B, h, w)


@torch.no_grad()
def occlusion_text_map(model, images, text_features, fill=0.0):
    """How much the image–text similarity drops when each patch is hidden: where the text's
    evidence is. (On ShapesWorld its best patch lies on the named object 54% of the time.)

    Args:
        images: (B, 3, H, W) preprocessed; text_features: (E,) or (1, E); fill: the value a
            hidden patch gets (0 = the mean colour, after `preprocess`).
    Returns:
        (B, H/p, W/p): similarity of the image minus similarity with that patch hidden.
    """
    B, _, H, W = images.shape
    p = model.config.patch_size
    h, w = H // p, W // p
    text = F.normalize(text_features.reshape(-1), dim=0)  # (E,)
    hide = torch.eye(h * w, device=images.device).view(h * w, 1, h, w)  # (L, 1, h, w): one patch each
    hide = hide.repeat_interleave(p, dim=2).repeat_interleave(p, dim=3)  # (L, 1, H, W)
    maps = []
    for image in images:
        base = model.encode_image(image[None], normalize=True) @ text  # (1,)
        hidden = image[None] * (1 - hide) + fill * hide  # (L, 3, H, W)
        maps.append(base - model.encode_image(hidden, normalize=True) @ text)  # (L,)
    return torch.stack(maps).view(B, h, w)  # (B, h, w)
