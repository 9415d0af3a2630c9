import pytest
import torch

from course_lib.swin import window_partition, window_reverse

ex = pytest.mark.exercise


@ex("window_partition", points=1)
def test_window_reverse_undoes_it():
    x = torch.randn(3, 14, 21, 4)
    assert torch.equal(window_reverse(window_partition(x, 7), 7, 14, 21), x)
