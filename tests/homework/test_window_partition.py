"""Graded: window_partition (course_lib/swin/windows.py)."""

import pytest
import torch

from course_lib.swin import window_partition

ex = pytest.mark.exercise


@ex("window_partition", points=1)
def test_shape():
    assert window_partition(torch.zeros(2, 8, 12, 5), 4).shape == (2 * 2 * 3, 4, 4, 5)


@ex("window_partition", points=2)
def test_windows_in_row_major_order():
    x = torch.arange(2 * 4 * 6, dtype=torch.float32).reshape(2, 4, 6, 1)
    windows = window_partition(x, 2)  # per image: 2 window rows × 3 window columns
    assert torch.equal(windows[1], x[0, 0:2, 2:4])  # image 0, window row 0, column 1
    assert torch.equal(windows[3], x[0, 2:4, 0:2])  # image 0, window row 1, column 0
    assert torch.equal(windows[6], x[1, 0:2, 0:2])  # image 1 comes after all of image 0
