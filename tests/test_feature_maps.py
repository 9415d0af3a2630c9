"""Feature maps (DINOv2's PCA colours of patch features): the helper, the figure and the app page."""

import io
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from course_lib.evaluate.features import (
    border_of,
    foreground_side,
    minmax_scale,
    patch_tokens,
    pca_project,
    pca_rgb,
)

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "streamlit_app" / "topics" / "09_feature_maps.py"


def regions_and_features(h, w, regions, dim=24, spread=0.05, seed=0):
    """Patch features from known directions: region r (an (h, w) int map) gets 4·e_r plus noise.

    Region 0 is the zero vector (the background); regions 1..3 lie along three orthogonal axes.
    Returns features (h * w, D).
    """
    g = torch.Generator().manual_seed(seed)
    centres = torch.zeros(4, dim)
    centres[1:, :3] = 4 * torch.eye(3)  # (4, D): 0, 4·e1, 4·e2, 4·e3
    flat = regions.reshape(-1)  # (h * w,)
    return centres[flat] + spread * torch.randn(h * w, dim, generator=g)  # (h * w, D)


def three_objects(h=6, w=8):
    """An (h, w) region map: background on the border, three blocks inside (non-square on purpose)."""
    regions = torch.zeros(h, w, dtype=torch.long)
    regions[1:3, 1:4] = 1
    regions[1:5, 5:7] = 2
    regions[3:5, 1:4] = 3
    return regions


# -- the PCA helper ------------------------------------------------------------------------------
def test_pca_rgb_separates_regions_built_from_known_directions():
    h, w = 6, 8
    regions = three_objects(h, w)
    rgb, keep = pca_rgb(regions_and_features(h, w, regions), h, w)
    assert rgb.shape == (h, w, 3) and keep.shape == (h, w) and keep.all()
    assert rgb.min() >= 0 and rgb.max() <= 1
    for c in range(3):  # every component uses the whole range
        assert rgb[..., c].min() == pytest.approx(0, abs=1e-6) and rgb[..., c].max() == pytest.approx(1)
    means = torch.stack([rgb[regions == r].mean(0) for r in range(4)])  # (4, 3)
    for r in range(4):
        inside = rgb[regions == r]  # (n_r, 3)
        assert (inside - means[r]).norm(dim=1).max() < 0.1  # one region, one colour
    gaps = torch.cdist(means, means) + 10 * torch.eye(4)  # (4, 4), the diagonal pushed away
    assert gaps.min() > 0.5  # different regions, clearly different colours


def test_pca_project_matches_the_covariance_eigenvectors():
    x = torch.randn(50, 7) @ torch.randn(7, 7)  # (50, 7), correlated columns
    coords = pca_project(x, 3)  # (50, 3)
    centred = (x - x.mean(0)).double()
    eigvals, eigvecs = torch.linalg.eigh(centred.T @ centred)  # ascending
    expected = centred @ eigvecs[:, [-1, -2, -3]]  # (50, 3), up to each column's sign
    assert torch.allclose(coords.double().abs(), expected.abs(), atol=1e-3)
    var = coords.var(0)
    assert var[0] >= var[1] >= var[2]
    assert torch.equal(pca_project(x, 3), pca_project(x.clone(), 3))  # the sign rule: reproducible


def test_pca_project_pads_when_fewer_directions_than_asked():
    coords = pca_project(torch.randn(2, 5), 3)  # two points span one direction
    assert coords.shape == (2, 3) and torch.all(coords[:, 1:].abs() < 1e-5)


def test_minmax_scale_per_column_and_constant_columns():
    x = torch.tensor([[1.0, 5.0, 2.0], [3.0, -5.0, 2.0], [2.0, 0.0, 2.0]])
    y = minmax_scale(x)
    assert torch.allclose(y[:, 0], torch.tensor([0.0, 1.0, 0.5]))
    assert torch.allclose(y[:, 1], torch.tensor([1.0, 0.0, 0.5]))
    assert torch.allclose(y[:, 2], torch.full((3,), 0.5))  # a constant column is mid-grey, not black


def test_pca_rgb_refuses_features_that_do_not_fill_the_grid():
    with pytest.raises(ValueError, match="do not fill"):
        pca_rgb(torch.randn(10, 4), 3, 3)


# -- foreground only -----------------------------------------------------------------------------
def blob(h, w, top, left, bottom, right):
    regions = torch.zeros(h, w, dtype=torch.long)
    regions[top:bottom, left:right] = 1
    return regions


@pytest.mark.parametrize("regions", [blob(8, 8, 3, 2, 6, 5), blob(8, 8, 1, 1, 7, 7)],
                         ids=["small object", "object larger than the background"])
@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_foreground_only_blacks_out_the_background_side_of_the_first_component(regions, sign):
    h, w = regions.shape
    feats = sign * regions_and_features(h, w, regions)  # the sign must not decide what is kept
    rgb, keep = pca_rgb(feats, h, w, foreground_only=True)
    assert torch.equal(keep, regions == 1)
    assert torch.all(rgb[~keep] == 0)  # background: black
    assert torch.all(rgb[keep].max(dim=-1).values > 0)  # every kept patch has a colour
    assert rgb.min() >= 0 and rgb.max() <= 1


def test_foreground_side_orients_the_component_by_the_border():
    h, w = 4, 5
    border = border_of(h, w)
    assert border.sum() == 2 * h + 2 * w - 4 and not border.reshape(h, w)[1:-1, 1:-1].any()
    first = torch.where(border, 1.0, -3.0)  # the border on the positive side
    assert torch.equal(foreground_side(first, h, w), ~border)
    assert torch.equal(foreground_side(-first, h, w), ~border)


def test_foreground_refit_separates_two_parts_the_first_fit_lumped_together():
    """Two parts of one object: 4·e0 (being object) plus 1·e1 or 1·e2 (which part). The first fit is
    dominated by object vs background; after the background is dropped, the refit colours the parts
    apart (DINOv2's parts of one object)."""
    h = w = 8
    regions = torch.zeros(h, w, dtype=torch.long)
    regions[2:6, 1:4], regions[2:6, 4:7] = 1, 2
    centres = torch.zeros(3, 16)
    centres[1:, 0] = 4.0
    centres[1, 1] = centres[2, 2] = 1.0
    feats = centres[regions.reshape(-1)] + 0.05 * torch.randn(h * w, 16)  # (64, 16)
    rgb, keep = pca_rgb(feats, h, w, foreground_only=True)
    assert torch.equal(keep, regions > 0)
    a, b = rgb[regions == 1].mean(0), rgb[regions == 2].mean(0)  # (3,) each
    assert (a[0] - b[0]).abs() > 0.8  # the refit's first component (red) is now the part
    everything, _ = pca_rgb(feats, h, w)  # fitted on all patches, red is object vs background
    assert (everything[regions == 1].mean(0)[0] - everything[regions == 2].mean(0)[0]).abs() < 0.1


# -- patch features of the models ----------------------------------------------------------------
def test_patch_tokens_of_a_vit_and_of_mae_agree_with_its_encoder():
    from course_lib.mae import mae_vit_micro

    torch.manual_seed(0)
    mae = mae_vit_micro(img_size=32).eval()
    x = torch.randn(2, 3, 32, 32)
    feats = patch_tokens(mae, x)  # every patch, nothing masked
    L = mae.config.num_patches
    assert feats.shape == (2, L, mae.config.embed_dim)
    assert torch.allclose(feats, patch_tokens(mae.to_vit().eval(), x), atol=1e-5)


def test_patch_tokens_refuse_a_model_without_patch_features():
    class Pooled(torch.nn.Module):
        def forward_features(self, x):
            return x.mean(dim=(2, 3))  # (B, C): one vector per image

    for model in (torch.nn.Linear(3, 3), Pooled()):
        with pytest.raises(ValueError) as err:
            patch_tokens(model, torch.randn(1, 3, 8, 8))
        assert "pick a vision transformer." in str(err.value) and "\n" not in str(err.value)


# -- the figure ----------------------------------------------------------------------------------
def test_feature_maps_figure_titles_every_panel_with_its_model():
    from course_lib.viz.features import feature_maps_figure, patch_blocks

    image = torch.rand(3, 32, 32)
    maps = {"DINO": torch.rand(4, 4, 3), "MAE": torch.rand(4, 4, 3)}
    assert patch_blocks(maps["DINO"], (32, 32)).shape == (32, 32, 3)
    assert np.allclose(patch_blocks(maps["DINO"], (32, 32))[:8, :8], maps["DINO"][0, 0].numpy())
    fig = feature_maps_figure(image, maps, notes={"MAE": "Jaccard 0.50"})
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["image", "DINO", "MAE\nJaccard 0.50"]


# -- the app page --------------------------------------------------------------------------------
def run_page():
    from streamlit.testing.v1 import AppTest

    sys.path.insert(0, str(ROOT / "streamlit_app"))
    at = AppTest.from_file(str(PAGE), default_timeout=120)
    at.run()
    return at


def captions(at):
    return " ".join(c.value for c in at.caption)


def test_page_draws_the_three_models_and_switches_to_foreground_only():
    at = run_page()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "Feature maps"
    assert not at.error and not at.info  # all three bundled models loaded
    assert len(at.image) == 1  # the figure
    assert "principal components" in captions(at) and "drawings" in captions(at)
    at.toggle(key="features_foreground").set_value(True).run()
    assert not at.exception
    assert "Black patches are background" in captions(at) and "Jaccard" in captions(at)
    at.slider(key="features_idx").set_value(3).run()  # another sample, still foreground only
    assert not at.exception and len(at.image) == 1
    at.toggle(key="features_foreground").set_value(False).run()
    assert not at.exception and "Black patches" not in captions(at)


def png_bytes(size=(90, 120)):
    buf = io.BytesIO()
    Image.fromarray((np.random.default_rng(0).random((*size, 3)) * 255).astype("uint8")).save(buf, "PNG")
    return buf.getvalue()


def test_page_upload_good_and_bad():
    at = run_page()
    at.radio(key="features_src").set_value("Upload an image").run()
    assert not at.exception and at.info and not at.image  # waits for a file
    at.file_uploader(key="features_upload").set_value(("notes.png", b"not an image", "image/png")).run()
    assert not at.exception
    assert len(at.error) == 1 and "not an image" in at.error[0].value
    at.file_uploader(key="features_upload").set_value(("photo.png", png_bytes(), "image/png")).run()
    assert not at.exception and not at.error and len(at.image) == 1
    at.toggle(key="features_foreground").set_value(True).run()  # no true mask: no Jaccard
    assert not at.exception and "Jaccard" not in captions(at)


@pytest.mark.browser
def test_page_in_chromium_with_a_good_and_a_bad_upload_and_the_toggle(app_url, browser_page, tmp_path):
    from browser import exception_boxes, try_good_and_bad_upload, wait_until_rendered

    url = f"{app_url}/feature_maps"
    page = browser_page
    page.goto(url)
    wait_until_rendered(page)
    page.get_by_text("Foreground only").click()
    page.wait_for_selector("text=Black patches are background", timeout=90_000)
    wait_until_rendered(page)
    assert not exception_boxes(page)
    try_good_and_bad_upload(page, url, tmp_path, "principal components")


def test_the_set_level_experiment_scores_every_model_against_the_true_masks():
    from course_lib.experiments.feature_maps import foreground_jaccard

    results = foreground_jaccard(n=6, start=100)
    assert "random-init-vit" in results
    for label in ("dino-vit-shapes", "mae-vit-shapes", "supervised-vit-shapes", "random-init-vit"):
        if label in results:
            assert 0.0 <= results[label]["mean"] <= 1.0 and 0.0 <= results[label]["median"] <= 1.0
    assert 0.0 < results["_every_non_border_patch"] < results["_best_on_the_grid"] <= 1.0
