"""k-NN and linear probe on frozen features (the attention-Jaccard tests live with DINO's)."""

import math

import torch
from torch import nn

from course_lib.evaluate import (
    encoder_of,
    evaluate_encoder,
    extract_features,
    knn_accuracy,
    knn_predict,
    linear_probe,
    linear_probe_accuracy,
)


def clusters(n_per_class, classes=4, dim=8, noise=0.3, seed=0):
    centres = torch.randn(classes, dim, generator=torch.Generator().manual_seed(0)) * 3  # shared by all draws
    g = torch.Generator().manual_seed(seed + 1)
    labels = torch.arange(classes).repeat_interleave(n_per_class)
    return centres[labels] + noise * torch.randn(len(labels), dim, generator=g), labels


def naive_knn(train_f, train_y, test_f, k, T, classes):
    """DINO's weighted vote, one test item and one neighbour at a time."""
    scores = torch.zeros(len(test_f), classes, dtype=torch.float64)
    for i, q in enumerate(test_f):
        sims = [(float(q @ t / (q.norm() * t.norm())), int(y)) for t, y in zip(train_f, train_y)]
        for sim, y in sorted(sims, key=lambda s: -s[0])[:k]:
            scores[i, y] += math.exp(sim / T)
    return scores


def test_knn_matches_a_naive_loop():
    train_f, train_y = clusters(10, noise=2.0)
    test_f, _ = clusters(3, noise=2.0, seed=1)
    fast = knn_predict(train_f, train_y, test_f, k=20, temperature=0.07, num_classes=4, chunk=5)
    slow = naive_knn(train_f, train_y, test_f, 20, 0.07, 4)
    assert torch.allclose(fast.double(), slow, rtol=1e-4)


def test_knn_accuracy_on_separable_and_random_features():
    train_f, train_y = clusters(30)
    test_f, test_y = clusters(10, seed=1)
    assert knn_accuracy(train_f, train_y, test_f, test_y) == 1.0
    random_f = torch.randn_like(test_f)
    assert knn_accuracy(train_f, train_y, random_f, test_y) < 0.6


def test_linear_probe_separates_linear_classes():
    train_f, train_y = clusters(30, noise=1.0)
    test_f, test_y = clusters(10, noise=1.0, seed=1)
    result = linear_probe(train_f, train_y, test_f, test_y, steps=100)
    assert result["accuracy"] > 0.95 and result["train_accuracy"] > 0.95
    assert isinstance(result["classifier"], nn.Linear) and not result["classifier"].training
    assert linear_probe_accuracy(train_f, train_y, test_f, test_y, steps=100) == result["accuracy"]


def test_features_of_any_encoder():
    images = torch.rand(10, 3, 16, 16)
    data = [{"image": img, "label": i % 2} for i, img in enumerate(images)]
    vit_like = nn.Module()
    vit_like.forward_features = lambda x: x.flatten(2).transpose(1, 2)  # (B, N=256, 3): token 0 is "CLS"
    feats, labels = extract_features(encoder_of(vit_like), data, batch_size=4)
    assert feats.shape == (10, 3) and torch.equal(feats, images[:, :, 0, 0])
    assert labels.tolist() == [0, 1] * 5
    pooled = encoder_of(nn.Sequential(nn.Flatten(), nn.Linear(768, 5)))
    result = evaluate_encoder(pooled, data, data)
    assert set(result) == {"knn_top1", "linear_probe"}
    assert 0 <= result["knn_top1"] <= 1 and result["linear_probe"] == 1.0
