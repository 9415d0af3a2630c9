import pytest
import torch

from course_lib.patches import patchify, unpatchify

ex = pytest.mark.exercise


@ex("patchify", points=1)
def test_inverse_of_unpatchify_on_rectangles():
    imgs = torch.randn(3, 3, 16, 40)
    assert torch.equal(unpatchify(patchify(imgs, 8), 8, grid_size=(2, 5)), imgs)


@ex("patchify", points=1)
def test_each_token_is_one_patch():
    imgs = torch.randn(1, 3, 12, 12)
    tokens = patchify(imgs, 4)
    patch = imgs[0, :, 4:8, 8:12]  # grid row 1, column 2 → token 5
    assert torch.equal(tokens[0, 5], patch.permute(1, 2, 0).reshape(-1))
