"""Graded: the shifted-window attention mask (course_lib/swin/windows.py)."""

import pytest
import torch

from course_lib.swin import shifted_window_mask

ex = pytest.mark.exercise


@ex("shifted_window_mask", points=1)
def test_shape_and_values():
    mask = shifted_window_mask(8, 8, 4, 2)
    assert mask.shape == (4, 16, 16)
    assert set(mask.unique().tolist()) == {0.0, -100.0}


@ex("shifted_window_mask", points=2)
def test_first_window_is_open_and_last_is_split_in_four():
    mask = shifted_window_mask(8, 8, 4, 2)
    assert torch.equal(mask[0], torch.zeros(16, 16))  # untouched by the roll: one region
    # the last window holds 4 regions of 2×2 tokens: each token may attend to 4 of the 16
    assert ((mask[3] == 0).sum(dim=1) == 4).all()
