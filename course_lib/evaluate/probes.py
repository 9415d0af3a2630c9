"""Evaluating frozen features: k-NN and linear probe, for any encoder.

Self-supervised methods are judged without fine-tuning: freeze the encoder, embed a labelled
training set and a test set, then classify the test set with

- k-NN (DINO, Wu et al. 2018): cosine similarity to every training feature, the k = 20 nearest
  vote for their label with weight exp(similarity / T), T = 0.07;
- a linear probe: a single linear layer trained on the frozen features.

An encoder is any callable images (B, 3, H, W) → features (B, D); `encoder_of(model)` makes one
from a ViT ([CLS] feature), a ResNet (pooled feature), SimCLR (h = f(x)) or anything with
`forward_features`; `patch_mean_of(model)` takes the mean of the patch tokens instead (MAE).

For tensors of images in memory (a `ProbeData`): `embed` standardizes and embeds them in eval
mode, `probe_metrics` reports k-NN and linear-probe top-1 on every split, and
`nearest_neighbours` finds the images closest to one by cosine similarity.
"""

import torch
import torch.nn.functional as F
from torch import nn

from course_lib.data.probe_sets import ProbeData
from course_lib.data.rendered import SHAPES_MEAN, SHAPES_STD, standardize

__all__ = ["ProbeData", "embed", "encoder_of", "evaluate_encoder", "extract_features", "knn_accuracy",
           "knn_predict", "linear_probe", "linear_probe_accuracy", "nearest_neighbours", "patch_mean_of",
           "probe_metrics"]


def encoder_of(model):
    """A callable images → (B, D) features from a model with `forward_features`."""

    def encode(x):
        feats = model.forward_features(x) if hasattr(model, "forward_features") else model(x)
        return feats[:, 0] if feats.ndim == 3 else feats  # tokens (B, N, D) → [CLS] (B, D)

    return encode


def patch_mean_of(model):
    """A callable images → (B, D): the mean of the patch tokens of `forward_features` (MAE's probe)."""

    def encode(x):
        return model.forward_features(x)[:, 1:].mean(dim=1)  # (B, 1 + L, D) → (B, D), [CLS] left out

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


@torch.no_grad()
def embed(model, images, mean=SHAPES_MEAN, std=SHAPES_STD, batch_size=256, device="cpu", features=encoder_of):
    """Frozen features of images (n, 3, S, S), float in [0, 1] or uint8 → (n, D) float32 on the CPU.

    `model` is a module, embedded through `features(model)` in eval mode (`encoder_of`: SimCLR's
    h = f(x), a ViT's [CLS]; `patch_mean_of`: MAE's mean patch token), or any callable encoder.
    Images are standardized with `mean` and `std` first (`course_lib.data.rendered.standardize`).
    """
    is_module = isinstance(model, nn.Module)
    encode = features(model) if is_module else model
    was_training = is_module and model.training
    if is_module:
        model.eval()
    out = []
    for chunk in images.split(batch_size):  # (batch_size, 3, S, S) each
        x = chunk.to(device)
        x = standardize(x if x.dtype == torch.uint8 else x.float(), mean, std)
        out.append(encode(x).float().cpu())  # (b, D)
    if is_module:
        model.train(was_training)
    return torch.cat(out)


def nearest_neighbours(h, index, k=8):
    """The k rows of h (n, D) closest to row `index` by cosine similarity, itself excluded.

    Returns (indices (k,), similarities (k,)), most similar first.
    """
    x = F.normalize(h.float(), dim=1)  # (n, D)
    sims = x @ x[index]  # (n,)
    sims[index] = -float("inf")  # never your own neighbour
    top = sims.topk(min(k, len(sims) - 1))
    return top.indices, top.values


def probe_metrics(model, probe, device="cpu", mean=SHAPES_MEAN, std=SHAPES_STD, features=encoder_of):
    """k-NN and linear-probe top-1 of the frozen features on the splits of a `ProbeData`.

    Returns {"knn_top1", "linear_top1"} on `probe.val`, {"test_knn_top1", "test_linear_top1"} on
    `probe.test` (if any), and "<name>_knn_top1" for each of `probe.diagnostics` (val split).
    `model`, `mean`, `std` and `features` are those of `embed`.
    """
    fit_h = embed(model, probe.fit[0], mean, std, device=device, features=features)  # (n_fit, D)
    fit_y = probe.fit[1]
    splits = [("", probe.val)] + ([("test_", probe.test)] if probe.test is not None else [])
    metrics = {}
    for prefix, (images, labels) in splits:
        h = embed(model, images, mean, std, device=device, features=features)  # (n, D)
        metrics[prefix + "knn_top1"] = knn_accuracy(fit_h, fit_y, h, labels)
        metrics[prefix + "linear_top1"] = linear_probe_accuracy(fit_h, fit_y, h, labels)
        if not prefix:
            for name, (fit_labels, val_labels) in probe.diagnostics.items():
                metrics[f"{name}_knn_top1"] = knn_accuracy(fit_h, fit_labels, h, val_labels)
    return metrics
