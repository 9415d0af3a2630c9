"""The non-local block (Wang et al. 2018, embedded Gaussian): identity at init, the formula against
a naive loop over positions, and its attention over positions."""

import pytest
import torch

from course_lib.attention import NonLocalBlock


def test_identity_at_initialization():
    block = NonLocalBlock(16)
    x = torch.randn(2, 16, 6, 5)
    assert torch.equal(block(x), x)


def test_gradient_reaches_the_zero_projection():
    """Zero init must not freeze the block: W_z gets a gradient, and then θ, φ, g do too."""
    block = NonLocalBlock(8)
    x = torch.randn(2, 8, 4, 4)
    block(x).square().sum().backward()
    assert block.w_z.weight.grad.abs().sum() > 0


def _randomize(block):
    with torch.no_grad():
        for p in block.parameters():
            p.normal_(0, 0.3)
    return block


def test_formula_against_naive_loop():
    block = _randomize(NonLocalBlock(6, inner_dim=3)).double()
    x = torch.randn(1, 6, 3, 4, dtype=torch.double)
    out, attn = block(x, return_attention=True)
    theta, phi, g = block.theta(x)[0], block.phi(x)[0], block.g(x)[0]  # (inner, H, W) each
    positions = [(i, j) for i in range(3) for j in range(4)]
    y = torch.zeros(3, 3, 4, dtype=torch.double)
    for n, (i, j) in enumerate(positions):
        scores = torch.stack([theta[:, i, j] @ phi[:, a, b] for a, b in positions])
        weights = scores.softmax(0)  # f(x_i, x_j) / C(x), the embedded Gaussian
        assert torch.allclose(attn[0, n], weights)
        y[:, i, j] = sum(w * g[:, a, b] for w, (a, b) in zip(weights, positions))
    expected = block.w_z(y[None]) + x
    assert torch.allclose(out, expected)


@pytest.mark.parametrize("subsample, keys", [(False, 64), (True, 16)])
def test_attention_over_positions(subsample, keys):
    block = _randomize(NonLocalBlock(8, subsample=subsample))
    out, attn = block(torch.randn(2, 8, 8, 8), return_attention=True)
    assert out.shape == (2, 8, 8, 8)
    assert attn.shape == (2, 64, keys)
    assert torch.allclose(attn.sum(-1), torch.ones(2, 64))


def test_resnet_nonlocal_starts_as_the_plain_resnet():
    from course_lib.cnn import ResNet, resnet_nonlocal

    ours = resnet_nonlocal(num_classes=4, stem_stride=4, nonlocal_stages=(1,)).eval()
    plain = ResNet(num_classes=4, stem_stride=4).eval()
    extra = {k for k in ours.state_dict() if k not in plain.state_dict()}
    assert extra and all(".theta." in k or ".phi." in k or ".g." in k or ".w_z." in k for k in extra)
    plain.load_state_dict({k: v for k, v in ours.state_dict().items() if k not in extra}, strict=True)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(ours(x), plain(x), atol=1e-6)
        maps = ours.get_nonlocal_attention(x)
    assert [tuple(m.shape) for m in maps] == [(2, 64, 64)]  # 8 × 8 positions after stage 2


def test_nonlocal_recipe_is_registered():
    from course_lib.train import get_recipe

    recipe = get_recipe("supervised-resnet-nonlocal")
    cfg = recipe.Config(nonlocal_stage=2)
    assert recipe.model_kwargs(cfg)["nonlocal_stages"] == [2]


def test_bundled_nonlocal_resnet():
    """The bundled checkpoint loads strictly, classifies held-out shapes, and its map is a distribution."""
    from course_lib.checkpoints import card, list_pretrained, load_pretrained
    from course_lib.data.shapes import ShapesWorld

    name = "resnet-nonlocal-shapes"
    if name not in list_pretrained("bundled"):
        pytest.skip(f"{name} is not bundled in this copy")
    model, info = load_pretrained(name), card(name)
    world = ShapesWorld(300, img_size=64, seed=0, split="test")
    batch = world.batch(range(300))
    mean = torch.tensor(info["input"]["mean"])[:, None, None]
    std = torch.tensor(info["input"]["std"])[:, None, None]
    x = (batch["image"] - mean) / std
    with torch.no_grad():
        accuracy = (model(x).argmax(-1) == batch["label"]).float().mean().item()
        (attn,) = model.get_nonlocal_attention(x[:2])
    assert accuracy > 0.65  # 0.811 on 2,000 test images when trained; chance is 1/6
    assert attn.shape == (2, 64, 64)
    assert torch.allclose(attn.sum(-1), torch.ones(2, 64), atol=1e-5)
    assert model.layer2[-1].w_z.weight.abs().sum() > 0  # training moved it off the identity
