"""Graded: MAE's loss on masked patches (course_lib/losses.py)."""

import pytest
import torch

from course_lib.losses import mae_loss

ex = pytest.mark.exercise


@ex("mae_loss", points=1)
def test_zero_when_prediction_is_exact():
    target = torch.randn(2, 4, 12)
    assert mae_loss(target, target.clone(), torch.ones(2, 4)).item() == 0


@ex("mae_loss", points=2)
def test_only_masked_patches_count():
    target, pred = torch.zeros(1, 4, 3), torch.zeros(1, 4, 3)
    pred[0, 0] = 10.0  # a visible patch: must not count
    pred[0, 1] = 2.0  # a masked patch with error 4 per value
    mask = torch.tensor([[0.0, 1.0, 1.0, 0.0]])
    assert abs(mae_loss(target, pred, mask).item() - 2.0) < 1e-6  # (4 + 0) / 2 masked patches
