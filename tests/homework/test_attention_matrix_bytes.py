"""Graded: attention memory arithmetic (course_lib/complexity.py)."""

import pytest

from course_lib.complexity import attention_matrix_bytes

ex = pytest.mark.exercise


@ex("attention_matrix_bytes", points=1)
def test_one_matrix():
    assert attention_matrix_bytes(10) == 400


@ex("attention_matrix_bytes", points=2)
def test_the_lecture_number():
    assert attention_matrix_bytes(512 * 512, heads=16, layers=48) == 211_106_232_532_992
