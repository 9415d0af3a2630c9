"""SimCLR: shapes, "throw away g", the two views, a learning step, the recipes.

The "Embedding space" page is tested in test_embedding_page.py.
"""

import pytest
import torch

from course_lib.data.augment import TwoViews
from course_lib.losses import nt_xent_loss, triplet_loss
from course_lib.simclr import SimCLR, SimCLRConfig, simclr_vit

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
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    a, b = torch.rand(8, 3, 32, 32), torch.rand(8, 3, 32, 32)
    first = model.loss(a, b).item()
    for _ in range(8):
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


def test_random_resized_crop_full_box_is_identity_or_flip():
    """min_scale = 1 and aspect 1: the box is the whole image, so the view is x or its mirror."""
    from course_lib.data.augment import resized_crop

    x = torch.rand(6, 3, 16, 16)
    out = resized_crop(x, 16, scale=(1.0, 1.0), ratio=(1.0, 1.0))
    for img, view in zip(x, out):
        assert torch.allclose(view, img, atol=1e-5) or torch.allclose(view, img.flip(-1), atol=1e-5)


def test_quarter_turns_are_exact_rotations_and_any_turn_stays_inside():
    """turn="quarter": every view is one of the 4 rotations of the image (no flip, full box), all 4
    occur; turn="any": the turned square still lies inside the image."""
    from course_lib.data.augment import crop_boxes, resized_crop

    torch.manual_seed(0)
    x = torch.rand(1, 3, 8, 8).expand(64, -1, -1, -1)
    out = resized_crop(x, 8, scale=(1.0, 1.0), ratio=(1.0, 1.0), flip=False, turn="quarter", mode="nearest")
    turns = [[torch.equal(view, torch.rot90(x[0], k, dims=(1, 2))) for k in range(4)] for view in out]
    assert all(sum(t) == 1 for t in turns)  # each view is exactly one rotation
    assert all(any(t[k] for t in turns) for k in range(4))  # and each rotation occurs
    theta = crop_boxes(256, scale=(0.2, 1.0), turn="any")  # (B, 2, 3): output → input coordinates
    corners = torch.tensor([[-1.0, -1, 1], [-1, 1, 1], [1, -1, 1], [1, 1, 1]]).T  # (3, 4) homogeneous
    assert (theta @ corners).abs().max() <= 1 + 1e-5  # the turned view's corners stay in the image


def test_hue_shift_by_zero_and_full_turn_is_identity():
    from course_lib.data.color import hue_shift

    x = torch.rand(2, 3, 8, 8) * 0.5 + 0.25  # away from the clamp
    for angle in (0.0, 2 * torch.pi):
        assert torch.allclose(hue_shift(x, torch.full((2, 1, 1, 1), angle)), x, atol=1e-5)


def test_nearest_neighbours_and_pca():
    from course_lib.evaluate.probes import nearest_neighbours
    from course_lib.viz.contrastive import pca_2d

    h = torch.tensor([[1.0, 0.0, 0.0], [0.9, 0.1, 0.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]])
    idx, sims = nearest_neighbours(h, 0, k=2)
    assert idx.tolist() == [1, 2] and sims[0] > sims[1]
    xy = pca_2d(h)
    assert xy.shape == (4, 2) and torch.allclose(xy.mean(0), torch.zeros(2), atol=1e-6)


def test_embed_standardizes_and_matches_forward():
    from course_lib.data.rendered import standardize
    from course_lib.evaluate.probes import embed

    model = SimCLR(SimCLRConfig(**TINY_VIT)).eval()
    images = torch.rand(5, 3, 32, 32)
    with torch.no_grad():
        expected = model(standardize(images))
    assert torch.allclose(embed(model, images, batch_size=2), expected, atol=1e-5)


def test_figures_build():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from course_lib.viz import contrastive as viz

    z = torch.randn(3, 4)
    figs = [viz.loss_curves(), viz.similarity_matrix_figure(z, z + 0.1),
            viz.views_figure(torch.rand(3, 8, 8), [torch.rand(3, 8, 8)] * 2),
            viz.sweep_figure([{"arm": 0.1, "knn_top1": 0.5, "linear_top1": 0.6},
                              {"arm": 0.5, "knn_top1": 0.4, "linear_top1": 0.7}], "arm", "t",
                             baselines={"random": 0.3}, log_x=True)]
    plotly_fig = viz.embedding_scatter(torch.randn(6, 2), torch.tensor([0, 1, 0, 1, 2, 2]), ["a", "b", "c"],
                                       hover=[str(i) for i in range(6)], highlight=[0, 1])
    assert len(plotly_fig.data) == 4
    for fig in figs:
        plt.close(fig)


def test_recipes_train_and_evaluate(tmp_path):
    """Both recipes run end to end (two steps) and write a card whose model loads strictly."""
    from course_lib.checkpoints import build_from_card, load_state_dict_strict
    from course_lib.train import get_recipe
    from course_lib.train.engine import fit

    for name in ("simclr", "triplet"):
        recipe = get_recipe(name)
        cfg = recipe.make_config(width=4, train_size=64, batch_size=32, epochs=1, probe_size=32, val_size=16,
                                 img_size=32, out=str(tmp_path / name), progress=False, threads=1)
        summary = fit(recipe, cfg)
        card = summary["card"]
        assert set(card["metrics"]) >= {"knn_top1", "linear_top1", "test_knn_top1", "test_linear_top1"}
        model = build_from_card(card)
        assert model.config.loss == ("nt_xent" if name == "simclr" else "triplet")
        from safetensors.torch import load_file

        load_state_dict_strict(model, load_file(str(tmp_path / name / "final.safetensors")))


def test_experiment_arm_labels():
    from course_lib.experiments.contrastive import EXPERIMENTS, arm_label

    labels = [arm_label(r, o) for r, o in EXPERIMENTS["augmentation"][1]]
    assert labels == ["crop only", "colour only", "crop + colour"]
    assert [arm_label(r, o) for r, o in EXPERIMENTS["losses"][1]] == ["triplet", "NT-Xent"]

