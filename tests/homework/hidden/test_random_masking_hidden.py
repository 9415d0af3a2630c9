import pytest
import torch

from course_lib.mae import random_masking

ex = pytest.mark.exercise


@ex("random_masking", points=1)
def test_every_sample_gets_its_own_mask():
    _, mask, _ = random_masking(torch.randn(8, 49, 3), 0.75)
    assert len({tuple(row.tolist()) for row in mask}) > 1


@ex("random_masking", points=1)
def test_ids_restore_unshuffles():
    x = torch.randn(2, 10, 4)
    noise = torch.rand(2, 10)
    _, _, ids_restore = random_masking(x, 0.3, noise=noise)
    shuffled = torch.gather(x, 1, noise.argsort(1).unsqueeze(-1).expand(-1, -1, 4))
    assert torch.equal(torch.gather(shuffled, 1, ids_restore.unsqueeze(-1).expand(-1, -1, 4)), x)
