"""Graded: patchify (course_lib/patches.py)."""

import pytest
import torch

from course_lib.patches import patchify

ex = pytest.mark.exercise


@ex("patchify", points=1)
def test_shape():
    assert patchify(torch.zeros(2, 3, 32, 48), 8).shape == (2, 24, 192)


@ex("patchify", points=2)
def test_values_in_row_column_channel_order():
    imgs = torch.arange(3 * 4 * 4, dtype=torch.float32).reshape(1, 3, 4, 4)
    tokens = patchify(imgs, 2)
    # token 2 = grid row 1, column 0; inside it (row, column, channel)
    expected = [imgs[0, c, 2 + r, s].item() for r in range(2) for s in range(2) for c in range(3)]
    assert tokens[0, 2].tolist() == expected
