"""Graded: MAE's per-sample random masking (course_lib/mae.py)."""

import pytest
import torch

from course_lib.mae import random_masking

ex = pytest.mark.exercise


@ex("random_masking", points=1)
def test_shapes_and_counts():
    x = torch.randn(3, 16, 5)
    visible, mask, ids_restore = random_masking(x, 0.75)
    assert visible.shape == (3, 4, 5) and mask.shape == (3, 16) and ids_restore.shape == (3, 16)
    assert torch.equal(mask.sum(1), torch.full((3,), 12.0))


@ex("random_masking", points=2)
def test_visible_tokens_are_the_unmasked_ones_in_noise_order():
    x = torch.arange(2 * 6, dtype=torch.float32).reshape(2, 6, 1)
    noise = torch.tensor([[0.9, 0.1, 0.5, 0.3, 0.8, 0.7], [0.2, 0.6, 0.4, 0.9, 0.1, 0.3]])
    visible, mask, _ = random_masking(x, 0.5, noise=noise)
    assert visible[0, :, 0].tolist() == [1.0, 3.0, 2.0]  # the 3 smallest noises, smallest first
    assert visible[1, :, 0].tolist() == [10.0, 6.0, 11.0]
    assert mask.tolist() == [[1, 0, 0, 0, 1, 1], [0, 1, 1, 1, 0, 0]]
