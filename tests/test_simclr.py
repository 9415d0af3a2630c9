"""SimCLR: shapes, "throw away g", the two views, a learning step, the recipes, the app page."""

from pathlib import Path

import pytest
import torch

from course_lib.losses import nt_xent_loss, triplet_loss
from course_lib.simclr import SimCLR, SimCLRConfig, TwoViews, simclr_vit

TINY_VIT = dict(encoder="vit", width=16, depth=1, patch_size=16, img_size=32)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def test_forward_is_h_and_project_is_z():
    model = SimCLR(SimCLRConfig(**TINY_VIT)).eval()
    x = torch.rand(4, 3, 32, 32)
    h = model(x)
    assert h.shape == (4, model.num_features) == (4, 48)
    z = model.project(x)
    assert z.shape == (4, 128)
    assert torch.allclose(z, model.head(h))  # z = g(h): the head is a separate, discardable module


def test_projection_head_is_two_layer_mlp():
    model = SimCLR(SimCLRConfig(**TINY_VIT, proj_hidden=32, proj_dim=8))
    linears = [m for m in model.head.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(48, 32), (32, 8)]
    assert any(isinstance(m, torch.nn.ReLU) for m in model.head.modules())


@pytest.mark.parametrize("loss", ["nt_xent", "triplet"])
def test_loss_matches_the_loss_functions(loss):
    model = SimCLR(SimCLRConfig(**TINY_VIT, loss=loss, temperature=0.2, margin=0.3)).train()
    a, b = torch.rand(6, 3, 32, 32), torch.rand(6, 3, 32, 32)
    z = model.project(torch.cat([a, b]))  # the same single pass as the model's loss
    z_a, z_b = z[:6], z[6:]
    if loss == "nt_xent":
        expected = nt_xent_loss(z_a, z_b, 0.2)
    else:
        expected = triplet_loss(z_a, z_b, z_b.roll(1, 0), 0.3)
    assert model.loss(a, b).item() == pytest.approx(expected.item(), abs=1e-6)


def test_unknown_options_are_one_sentence():
    with pytest.raises(ValueError, match="Unknown SimCLR loss"):
        SimCLR(SimCLRConfig(**TINY_VIT, loss="cosine"))
    with pytest.raises(ValueError, match="Unknown SimCLR encoder"):
        SimCLR(SimCLRConfig(encoder="lstm"))


@pytest.mark.parametrize("crop,color", [(True, True), (True, False), (False, True), (False, False)])
def test_two_views_shapes_and_independence(crop, color):
    images = torch.rand(5, 3, 32, 32)
    a, b = TwoViews(32, crop=crop, color=color)(images)
    assert a.shape == b.shape == (5, 3, 32, 32)
    assert a.min() >= 0 and a.max() <= 1
    if crop or color:
        assert not torch.allclose(a, b)  # two independent draws
    else:
        assert torch.equal(a, images) and torch.equal(b, images)


def test_color_only_views_keep_geometry():
    """Colour distortion never moves pixels: a single bright pixel stays where it was."""
    images = torch.zeros(3, 3, 16, 16)
    images[:, :, 4, 11] = 1.0
    a, _ = TwoViews(16, crop=False, color=True)(images)
    for view in a:
        assert view.sum(0).flatten().argmax().item() == 4 * 16 + 11


def test_training_step_lowers_the_loss():
    """A few steps on fixed views: NT-Xent must go down (the model can learn at all)."""
    model = simclr_vit(**{k: v for k, v in TINY_VIT.items() if k != "encoder"})
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    a, b = torch.rand(8, 3, 32, 32), torch.rand(8, 3, 32, 32)
    first = model.loss(a, b).item()
    for _ in range(15):
        loss = model.loss(a, b)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert model.loss(a, b).item() < first - 0.1


def test_resnet_encoder_feature_size():
    model = SimCLR(SimCLRConfig(encoder="resnet", width=8, depth=1)).eval()
    assert model.num_features == 64  # widths (8, 16, 32, 64)
    h = model(torch.rand(2, 3, 32, 32))
    assert h.shape == (2, 64)
    assert model.project(torch.rand(2, 3, 32, 32)).shape == (2, 128)


# ---- the "Embedding space" page -------------------------------------------------------------
PAGE = str(Path(__file__).resolve().parents[1] / "streamlit_app" / "pages" / "06_embedding_space.py")


def _page():
    from streamlit.testing.v1 import AppTest

    return AppTest.from_file(PAGE, default_timeout=60)


def test_page_runs_with_every_encoder():
    at = _page().run()
    assert not at.exception
    assert at.title[0].value == "Embedding space"
    for choice in at.selectbox[0].options:
        at.selectbox[0].select(choice).run()
        assert not at.exception, choice
        # either the embedding is shown, or one sentence says which checkpoint is missing
        assert at.metric or (at.error and "checkpoint" in at.error[0].value)


def test_page_query_and_views_controls():
    at = _page().run()
    at.selectbox[0].select("Random init (untrained ResNet)").run()
    assert not at.exception and at.metric
    at.number_input(key="query").set_value(5).run()
    assert not at.exception
    at.checkbox[0].uncheck().run()
    at.button[0].click().run()
    assert not at.exception
