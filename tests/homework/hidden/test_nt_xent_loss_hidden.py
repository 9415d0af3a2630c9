import math

import pytest
import torch

from course_lib.losses import nt_xent_loss

ex = pytest.mark.exercise


@ex("nt_xent_loss", points=1)
def test_perfect_pairs_far_from_others():
    z = torch.eye(4)
    loss = nt_xent_loss(z, z.clone(), temperature=0.1)
    # positive similarity 1, the 6 negatives 0: −log(e^10 / (e^10 + 6))
    assert abs(loss.item() - (-math.log(math.exp(10) / (math.exp(10) + 6)))) < 1e-5


@ex("nt_xent_loss", points=1)
def test_scale_invariant_and_temperature():
    z_a, z_b = torch.randn(3, 5), torch.randn(3, 5)
    assert torch.allclose(nt_xent_loss(z_a, z_b), nt_xent_loss(3 * z_a, 0.5 * z_b), atol=1e-5)
    assert not torch.allclose(nt_xent_loss(z_a, z_b, 0.1), nt_xent_loss(z_a, z_b, 1.0))
