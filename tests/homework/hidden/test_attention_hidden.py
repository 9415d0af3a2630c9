import pytest
import torch
import torch.nn.functional as F

from course_lib.attention import explicit_attention

ex = pytest.mark.exercise


@ex("attention", points=1)
def test_equals_torch_sdpa():
    q, k, v = torch.randn(2, 4, 9, 8), torch.randn(2, 4, 9, 8), torch.randn(2, 4, 9, 8)
    out, _ = explicit_attention(q, k, v, 8**-0.5)
    assert torch.allclose(out, F.scaled_dot_product_attention(q, k, v), atol=1e-5)


@ex("attention", points=1)
def test_scale_matters():
    q, k, v = torch.randn(1, 1, 4, 16) * 3, torch.randn(1, 1, 4, 16) * 3, torch.randn(1, 1, 4, 16)
    _, a1 = explicit_attention(q, k, v, 0.25)
    _, a2 = explicit_attention(q, k, v, 1.0)
    assert not torch.allclose(a1, a2)
    assert torch.allclose(a1, (q @ k.transpose(-2, -1) * 0.25).softmax(-1), atol=1e-6)
