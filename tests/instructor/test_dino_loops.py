"""Instructor only (left out of the student release): the DINO loss and the attention Jaccard
against naive loops, which would be the homework solutions. Moved here unchanged from
tests/test_dino.py.
"""

import math

import pytest
import torch

from course_lib.evaluate import attention_jaccard
from course_lib.losses import dino_loss


def naive_dino_loss(student, teacher, center, ts=0.1, tt=0.04):
    n_crops, B, K = len(student), len(student[0]), len(student[0][0])
    total, pairs = 0.0, 0
    for t in range(2):
        for s in range(n_crops):
            if s == t:
                continue
            for b in range(B):
                p = [math.exp((teacher[t][b][k] - center[k]) / tt) for k in range(K)]
                z = sum(p)
                q = [math.exp(student[s][b][k] / ts) for k in range(K)]
                zq = sum(q)
                total += -sum(p[k] / z * math.log(q[k] / zq) for k in range(K)) / B
            pairs += 1
    return total / pairs


def test_dino_loss_matches_naive_loop():
    g = torch.Generator().manual_seed(0)
    student = torch.randn(5, 3, 7, generator=g, dtype=torch.float64)
    teacher = torch.randn(2, 3, 7, generator=g, dtype=torch.float64)
    center = torch.randn(7, generator=g, dtype=torch.float64) * 0.1
    got = dino_loss(student, teacher, center, 0.1, 0.04).item()
    want = naive_dino_loss(student.tolist(), teacher.tolist(), center.tolist())
    assert abs(got - want) < 1e-6
    got = dino_loss(student.float(), teacher.float(), center.float()).item()
    assert abs(got - want) < 1e-4 * abs(want)


def naive_jaccard(attn, mask, mass):
    h, w = len(attn), len(attn[0])
    H, W = len(mask), len(mask[0])
    total = sum(map(sum, attn))
    ranked = sorted(((attn[i][j], i, j) for i in range(h) for j in range(w)), reverse=True)
    kept, acc = set(), 0.0
    for value, i, j in ranked:  # add the largest patches until they hold `mass`
        if acc >= mass * total:
            break
        kept.add((i, j))
        acc += value
    inter = union = 0
    for y in range(H):
        for x in range(W):
            a = (y * h // H, x * w // W) in kept
            inter += a and mask[y][x]
            union += a or mask[y][x]
    return inter / union


def test_attention_jaccard_matches_naive_loop():
    g = torch.Generator().manual_seed(0)
    for _ in range(5):
        attn = torch.rand(4, 4, generator=g) ** 3
        mask = torch.rand(16, 16, generator=g) > 0.6
        for mass in (0.3, 0.6, 0.9):
            assert attention_jaccard(attn, mask, mass) == pytest.approx(
                naive_jaccard(attn.tolist(), mask.tolist(), mass), abs=1e-6
            )
