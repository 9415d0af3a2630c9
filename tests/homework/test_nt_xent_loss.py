"""Graded: SimCLR's NT-Xent (course_lib/losses.py)."""

import math

import pytest
import torch
import torch.nn.functional as F

from course_lib.losses import nt_xent_loss

ex = pytest.mark.exercise


def naive(z_a, z_b, t):
    z = torch.cat([z_a, z_b])
    n2, n = len(z), len(z_a)
    total = 0.0
    for i in range(n2):
        j = (i + n) % n2
        num = math.exp(F.cosine_similarity(z[i], z[j], dim=0).item() / t)
        den = sum(math.exp(F.cosine_similarity(z[i], z[k], dim=0).item() / t) for k in range(n2) if k != i)
        total += -math.log(num / den)
    return total / n2


@ex("nt_xent_loss", points=1)
def test_scalar_and_positive():
    loss = nt_xent_loss(torch.randn(4, 8), torch.randn(4, 8))
    assert loss.ndim == 0 and loss.item() > 0


@ex("nt_xent_loss", points=3)
def test_equals_algorithm_1():
    z_a, z_b = torch.randn(5, 6), torch.randn(5, 6)
    assert abs(nt_xent_loss(z_a, z_b, 0.5).item() - naive(z_a, z_b, 0.5)) < 1e-5
