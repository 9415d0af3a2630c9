"""Evaluating frozen features: k-NN and linear probe, for any encoder.

Self-supervised methods are judged without fine-tuning: freeze the encoder, embed a labelled
training set and a test set, then classify the test set with

- k-NN (DINO, Wu et al. 2018): cosine similarity to every training feature, the k = 20 nearest
  vote for their label with weight exp(similarity / T), T = 0.07;
- a linear probe: a single linear layer trained on the frozen features.

An encoder is any callable images (B, 3, H, W) → features (B, D); `encoder_of(model)` makes one
from a ViT ([CLS] feature), a ResNet (pooled feature) or anything with `forward_features`.
"""

import torch
import torch.nn.functional as F
from torch import nn


def encoder_of(model):
    """A callable images → (B, D) features from a model with `forward_features`."""

    def encode(x):
        feats = model.forward_features(x) if hasattr(model, "forward_features") else model(x)
        return feats[:, 0] if feats.ndim == 3 else feats  # tokens (B, N, D) → [CLS] (B, D)

    return encode


def _images_and_labels(batch):
    if isinstance(batch, dict):
        return batch["image"], batch["label"]
    return batch[0], batch[1]


@torch.no_grad()
def extract_features(encoder, data, batch_size=256, device="cpu", transform=None):
    """Embed a dataset: returns features (N, D) float32 on the CPU and labels (N,) long.

    `data` yields items that are dicts with "image" and "label", or (image, label) pairs;
    `transform` (optional) maps a batch of images (B, 3, H, W) to the encoder's input.
    """
    loader = torch.utils.data.DataLoader(data, batch_size=batch_size, shuffle=False)
    feats, labels = [], []
    for batch in loader:
        images, y = _images_and_labels(batch)
        images = images.to(device)
        if transform is not None:
            images = transform(images)
        feats.append(encoder(images).float().cpu())  # (b, D)
        labels.append(torch.as_tensor(y).long())
    return torch.cat(feats), torch.cat(labels)


@torch.no_grad()
def knn_predict(train_features, train_labels, test_features, k=20, temperature=0.07, num_classes=None,
                chunk=1024):
    """Weighted k-NN votes as in DINO: returns class scores (M, classes) for the test features.

    score(c) = Σ over the k most cosine-similar training items with label c of exp(sim / T).
    """
    num_classes = num_classes or int(train_labels.max()) + 1
    train = F.normalize(train_features, dim=1)  # (N, D)
    k = min(k, len(train))
    scores = []
    for part in F.normalize(test_features, dim=1).split(chunk):  # (m, D)
        sim = part @ train.T  # (m, N) cosine similarities
        top_sim, top_idx = sim.topk(k, dim=1)  # (m, k)
        weights = (top_sim / temperature).exp()  # (m, k)
        votes = torch.zeros(len(part), num_classes, dtype=weights.dtype)  # (m, classes)
        votes.scatter_add_(1, train_labels[top_idx], weights)
        scores.append(votes)
    return torch.cat(scores)


def knn_accuracy(train_features, train_labels, test_features, test_labels, k=20, temperature=0.07):
    """Top-1 accuracy of the weighted k-NN classifier, in [0, 1]."""
    classes = int(max(train_labels.max(), test_labels.max())) + 1
    scores = knn_predict(train_features, train_labels, test_features, k, temperature, classes)
    return (scores.argmax(1) == test_labels).float().mean().item()


def linear_probe(train_features, train_labels, test_features, test_labels, steps=300, lr=0.05,
                 weight_decay=1e-4, seed=0):
    """Train a linear classifier on frozen features (full batch, AdamW); returns a dict.

    Features are standardized with the training set's mean and std first (the probe then needs
    no per-encoder learning rate). Returns {"accuracy", "train_accuracy", "classifier"}; the
    classifier expects standardized features (see its `mean` and `std` buffers).
    """
    classes = int(max(train_labels.max(), test_labels.max())) + 1
    mean, std = train_features.mean(0), train_features.std(0) + 1e-6
    x_train, x_test = (train_features - mean) / std, (test_features - mean) / std  # (N, D), (M, D)
    gen = torch.Generator().manual_seed(seed)
    probe = nn.Linear(x_train.shape[1], classes)
    with torch.no_grad():
        probe.weight.normal_(0, 0.01, generator=gen)
        probe.bias.zero_()
    opt = torch.optim.AdamW(probe.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    with torch.enable_grad():
        for _ in range(steps):
            loss = F.cross_entropy(probe(x_train), train_labels)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    probe.register_buffer("mean", mean)
    probe.register_buffer("std", std)
    with torch.no_grad():
        acc = (probe(x_test).argmax(1) == test_labels).float().mean().item()
        train_acc = (probe(x_train).argmax(1) == train_labels).float().mean().item()
    return {"accuracy": acc, "train_accuracy": train_acc, "classifier": probe.eval()}


def linear_probe_accuracy(train_features, train_labels, test_features, test_labels, **options):
    """Top-1 test accuracy of `linear_probe` (same options), in [0, 1]."""
    return linear_probe(train_features, train_labels, test_features, test_labels, **options)["accuracy"]


def evaluate_encoder(encoder, train_data, test_data, device="cpu", transform=None, k=20, temperature=0.07):
    """k-NN and linear-probe accuracy of a frozen encoder: {"knn_top1", "linear_probe"}."""
    train_f, train_y = extract_features(encoder, train_data, device=device, transform=transform)
    test_f, test_y = extract_features(encoder, test_data, device=device, transform=transform)
    return {
        "knn_top1": knn_accuracy(train_f, train_y, test_f, test_y, k, temperature),
        "linear_probe": linear_probe(train_f, train_y, test_f, test_y)["accuracy"],
    }


# == Attention Jaccard (DINO, Caron et al. 2021, Fig. 4 / Table 3) ================================
# DINO's rule: threshold a head's [CLS] attention map so that it keeps the smallest set of patches
# holding `mass` (60%) of the attention, upsample the kept patches to pixels, and compare with the
# true foreground by Jaccard = |A ∩ B| / |A ∪ B|. Reported per head, as the mean over heads, and
# for the best head.


def threshold_attention(attn, mass=0.6):
    """Keep the smallest set of patches whose attention sums to at least `mass` of the total.

    Args:
        attn: (..., h, w) non-negative attention over the patch grid (need not sum to 1).
    Returns:
        (..., h, w) bool, True = kept.
    """
    # BEGIN SOLUTION
    *lead, h, w = attn.shape
    flat = attn.reshape(-1, h * w).float()  # (M, h*w)
    flat = flat / flat.sum(dim=-1, keepdim=True).clamp_min(1e-12)
    values, order = flat.sort(dim=-1, descending=True)  # (M, h*w), largest first
    mass_before = values.cumsum(dim=-1) - values  # mass of the patches ranked above each one
    keep_sorted = mass_before < mass  # keep while the kept mass is still short of `mass`
    keep = torch.zeros_like(keep_sorted).scatter(-1, order, keep_sorted)  # back to grid order
    return keep.reshape(*lead, h, w)
    # END SOLUTION


def upsample_mask(mask, size):
    """(..., h, w) bool patch mask → (..., H, W) by nearest (each patch covers an H/h × W/w block)."""
    h, w = mask.shape[-2:]
    H, W = size
    if H % h or W % w:
        raise ValueError(f"The mask size {(H, W)} must be a multiple of the attention grid {(h, w)}.")
    return mask.repeat_interleave(H // h, dim=-2).repeat_interleave(W // w, dim=-1)


def jaccard(a, b):
    """Jaccard index |a ∩ b| / |a ∪ b| over the last two dims of bool tensors (1 if both empty)."""
    inter = (a & b).sum(dim=(-2, -1)).float()
    union = (a | b).sum(dim=(-2, -1)).float()
    return torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(union))


def attention_jaccard(attn, mask, mass=0.6):
    """DINO's Jaccard between a thresholded attention map and a true mask.

    Args:
        attn: (h, w) one head's [CLS] attention over the patch grid; or (heads, h, w) for every
            head at once.
        mask: (H, W) bool ground truth, H and W multiples of h and w.
        mass: fraction of the attention the kept patches must hold.
    Returns:
        a float for one head; a (heads,) tensor for several.
    """
    kept = upsample_mask(threshold_attention(attn, mass), mask.shape[-2:])  # (..., H, W)
    score = jaccard(kept, mask.bool().to(kept.device))
    return score.item() if attn.dim() == 2 else score


def cls_attention_maps(model, images, layer=-1):
    """[CLS] → patch attention of one layer, per head, on the patch grid.

    Args:
        model: a `VisionTransformer` (anything with `get_selfattention` and `config.patch_size`).
        images: (B, 3, H, W), already normalized as the model expects.
    Returns:
        (B, heads, h, w) float, with h = H / patch, w = W / patch.
    """
    B, _, H, W = images.shape
    p = model.config.patch_size
    with torch.no_grad():
        attn = model.get_selfattention(images)[layer]  # (B, heads, N, N), N = 1 + h*w
    cls_to_patches = attn[:, :, 0, 1:].float()  # (B, heads, h*w): row 0 is the [CLS] query
    return cls_to_patches.reshape(B, -1, H // p, W // p)  # (B, heads, h, w)


def centred_blob(h, w, sigma=0.25):
    """A fixed Gaussian blob in the middle of an (h, w) grid: the "attend to the centre" reference."""
    ys = (torch.arange(h) + 0.5) / h - 0.5
    xs = (torch.arange(w) + 0.5) / w - 0.5
    d2 = ys[:, None] ** 2 + xs[None, :] ** 2  # (h, w)
    return torch.exp(-d2 / (2 * sigma**2))


def foreground_mass_ratio(attn, mask):
    """Attention mass on the foreground divided by the foreground's area fraction (1 = uniform).

    Args:
        attn: (..., h, w) attention over the patch grid; mask: (H, W) bool.
    Returns:
        (...,) ratios.
    """
    h, w = attn.shape[-2:]
    fg = F.adaptive_avg_pool2d(mask.float()[None, None], (h, w))[0, 0].to(attn.device)  # (h, w) share
    probs = attn.float() / attn.float().sum(dim=(-2, -1), keepdim=True).clamp_min(1e-12)
    on_fg = (probs * fg).sum(dim=(-2, -1))  # (...,)
    return on_fg / fg.mean().clamp_min(1e-12)


def attention_jaccard_report(model, images, masks, mass=0.6, layer=-1, batch_size=64):
    """Jaccard of every head over a held-out set, as in DINO's Table 3.

    Args:
        images: (n, 3, H, W), normalized as the model expects; masks: (n, H, W) bool foregrounds.
    Returns:
        dict: `per_head` (list, mean over images), `mean_heads`, `best_head` (value),
        `best_head_index`, `blob` (the centred-blob reference), `fg_mass_ratio` (per head, 1 =
        uniform attention), `n_images`.
    """
    scores, ratios = [], []
    for start in range(0, len(images), batch_size):
        maps = cls_attention_maps(model, images[start:start + batch_size], layer)  # (b, heads, h, w)
        for attn, mask in zip(maps, masks[start:start + batch_size]):
            scores.append(attention_jaccard(attn, mask, mass))  # (heads,)
            ratios.append(foreground_mass_ratio(attn, mask))  # (heads,)
    per_head = torch.stack(scores).mean(dim=0)  # (heads,)
    h, w = maps.shape[-2:]
    blob = torch.tensor([attention_jaccard(centred_blob(h, w), m.cpu(), mass) for m in masks]).mean()
    return {
        "per_head": per_head.tolist(),
        "mean_heads": per_head.mean().item(),
        "best_head": per_head.max().item(),
        "best_head_index": int(per_head.argmax()),
        "blob": blob.item(),
        "fg_mass_ratio": torch.stack(ratios).mean(dim=0).tolist(),
        "n_images": len(images),
    }


def attention_rollout(maps, residual=0.5):
    """Attention rollout (Abnar & Zuidema 2020): how much each token draws on each input token.

    Per layer, average the heads and mix in the residual connection, Ã = r·I + (1 − r)·mean_h A,
    renormalize the rows, and multiply the layers: R = Ã_L ··· Ã_1.

    Args:
        maps: list of per-layer attention maps, each (B, heads, N, N).
    Returns:
        (B, N, N); row i is token i's rollout over the input tokens.
    """
    B, _, N, _ = maps[0].shape
    eye = torch.eye(N, device=maps[0].device)
    rollout = eye.expand(B, N, N)
    for attn in maps:
        mixed = residual * eye + (1 - residual) * attn.float().mean(dim=1)  # (B, N, N)
        mixed = mixed / mixed.sum(dim=-1, keepdim=True)
        rollout = mixed @ rollout  # (B, N, N): this layer after all the earlier ones
    return rollout
