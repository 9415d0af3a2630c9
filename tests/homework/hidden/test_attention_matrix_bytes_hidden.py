import pytest

from course_lib.complexity import attention_matrix_bytes

ex = pytest.mark.exercise


@ex("attention_matrix_bytes", points=1)
def test_batch_and_half_precision():
    expected = 8 * 12 * 12 * 197**2 * 2
    assert attention_matrix_bytes(197, heads=12, layers=12, batch=8, bytes_per_element=2) == expected
