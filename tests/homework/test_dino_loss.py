"""Graded: DINO's cross-entropy with centering and sharpening (course_lib/losses.py)."""

import pytest
import torch

from course_lib.losses import dino_loss

ex = pytest.mark.exercise


def naive(student, teacher, center, ts=0.1, tt=0.04):
    total, pairs = 0.0, 0
    for t in range(teacher.shape[0]):
        targets = ((teacher[t] - center) / tt).softmax(-1)
        for s in range(student.shape[0]):
            if s == t:
                continue
            log_p = (student[s] / ts).log_softmax(-1)
            total += (-(targets * log_p).sum(-1)).mean().item()
            pairs += 1
    return total / pairs


@ex("dino_loss", points=1)
def test_scalar():
    loss = dino_loss(torch.randn(4, 3, 10), torch.randn(2, 3, 10), torch.zeros(10))
    assert loss.ndim == 0


@ex("dino_loss", points=3)
def test_equals_loop_over_view_pairs():
    student, teacher, center = torch.randn(5, 3, 7), torch.randn(2, 3, 7), torch.randn(7)
    assert abs(dino_loss(student, teacher, center).item() - naive(student, teacher, center)) < 1e-5
