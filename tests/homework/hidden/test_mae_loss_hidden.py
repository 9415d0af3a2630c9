import pytest
import torch

from course_lib.losses import mae_loss

ex = pytest.mark.exercise


@ex("mae_loss", points=1)
def test_norm_pix_target():
    target = torch.randn(2, 3, 8) * 5 + 2
    mask = torch.ones(2, 3)
    mean, var = target.mean(-1, keepdim=True), target.var(-1, keepdim=True)
    normalized = (target - mean) / (var + 1e-6) ** 0.5
    assert mae_loss(target, normalized, mask, norm_pix=True).item() < 1e-8
    assert mae_loss(target, target, mask, norm_pix=True).item() > 1


@ex("mae_loss", points=1)
def test_per_sample_mask_weights():
    target, pred = torch.zeros(2, 2, 1), torch.tensor([[[1.0], [3.0]], [[5.0], [7.0]]])
    mask = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    assert abs(mae_loss(target, pred, mask).item() - (1 + 49) / 2) < 1e-5
