"""Graded: the 2-D sin-cos table (course_lib/positions.py)."""

import pytest
import torch

from course_lib.positions import sincos_1d, sincos_2d

ex = pytest.mark.exercise


@ex("sincos_2d", points=1)
def test_shape_and_cls_row():
    table = sincos_2d(16, 3, cls_token=True)
    assert table.shape == (10, 16)
    assert torch.equal(table[0], torch.zeros(16))


@ex("sincos_2d", points=2)
def test_first_half_is_the_column_second_half_the_row():
    table = sincos_2d(16, (2, 3))  # 2 rows, 3 columns, row-major
    for index in range(6):
        row, col = divmod(index, 3)
        assert torch.allclose(table[index, :8], sincos_1d(8, torch.tensor([float(col)]))[0], atol=1e-6)
        assert torch.allclose(table[index, 8:], sincos_1d(8, torch.tensor([float(row)]))[0], atol=1e-6)
