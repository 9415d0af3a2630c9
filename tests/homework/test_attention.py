"""Graded: explicit attention (course_lib/attention.py)."""

import math

import pytest
import torch

from course_lib.attention import explicit_attention

ex = pytest.mark.exercise


@ex("attention", points=1)
def test_shapes_and_rows_sum_to_one():
    q, k, v = torch.randn(2, 3, 5, 4), torch.randn(2, 3, 7, 4), torch.randn(2, 3, 7, 4)
    out, attn = explicit_attention(q, k, v, 0.5)
    assert out.shape == (2, 3, 5, 4) and attn.shape == (2, 3, 5, 7)
    assert torch.allclose(attn.sum(-1), torch.ones(2, 3, 5), atol=1e-6)


@ex("attention", points=2)
def test_matches_a_loop_over_queries():
    q, k, v = torch.randn(1, 1, 3, 4), torch.randn(1, 1, 6, 4), torch.randn(1, 1, 6, 4)
    out, attn = explicit_attention(q, k, v, 1 / math.sqrt(4))
    for i in range(3):
        scores = torch.tensor([float(q[0, 0, i] @ k[0, 0, j]) / 2 for j in range(6)])
        weights = scores.softmax(0)
        assert torch.allclose(attn[0, 0, i], weights, atol=1e-6)
        assert torch.allclose(out[0, 0, i], (weights[:, None] * v[0, 0]).sum(0), atol=1e-6)
