"""The Attention maps page's labelled layer × head grid, its set-level Jaccard table, and clicking a
patch (course_lib.viz.attention_grid and streamlit_app/topics/03_attention_maps.py)."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from course_lib.viz.attention_grid import (
    PAD,
    held_out_column,
    labelled_attention_grid,
    nearest_patches,
    patch_from_selection,
    reproduce_commands,
    set_level_jaccard_table,
    tile_side,
)

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "streamlit_app" / "topics" / "03_attention_maps.py"
RESULTS = [ROOT / "data" / "results" / f"dino_jaccard{tail}.json" for tail in ("", "_unseen")]


# -- the grid figure ------------------------------------------------------------------------------
def grid_texts(fig):
    return [t.get_text() for t in fig.axes[0].texts]


def test_grid_has_layer_and_head_labels_a_colour_bar_and_one_tile_per_map():
    layers, heads, h = 4, 3, 8
    fig = labelled_attention_grid(torch.rand(3, 64, 64), torch.rand(layers, heads, h, h), title="[CLS]")
    texts = grid_texts(fig)
    assert texts == ["head 1", "head 2", "head 3", "mean of heads"] + [f"layer {i}" for i in range(1, 5)]
    assert len(fig.axes) == 2  # the tiles (one image) and the colour bar
    assert "maximum" in fig.axes[1].get_ylabel()
    assert fig.axes[1].get_ylim() == (0.0, 1.0)
    side = tile_side(h, 160)
    assert side >= 150 and side % h == 0
    grid = fig.axes[0].images[0].get_array()
    assert grid.shape[:2] == (layers * (side + PAD) - PAD, (heads + 1) * (side + PAD) - PAD)
    assert fig.get_suptitle() == "[CLS]"
    width_px = fig.get_figwidth() * fig.dpi  # tiles drawn pixel for pixel
    assert width_px >= (heads + 1) * side


def test_grid_without_mean_column_and_tiles_show_their_own_map():
    maps = torch.zeros(2, 2, 4, 4)
    maps[1, 0, 3, 0] = 1.0  # layer 2, head 1: all attention on the bottom-left patch
    fig = labelled_attention_grid(torch.zeros(3, 32, 32), maps, mean_column=False, tile_px=40)
    assert grid_texts(fig) == ["head 1", "head 2", "layer 1", "layer 2"]
    grid = np.asarray(fig.axes[0].images[0].get_array())
    side, s = 40, 10  # 40-px tiles, 10 px per patch
    tile = grid[side + PAD : 2 * side + PAD, :side]  # row 2, column 1
    hot, cold = tile[3 * s + 5, 5], tile[5, 5]
    assert hot.sum() > cold.sum() + 0.5  # the attended patch is bright, the rest dark


def test_grid_marks_the_query_patch_in_every_tile():
    fig = labelled_attention_grid(torch.zeros(3, 32, 32), torch.ones(1, 2, 4, 4), mark=(1, 2), tile_px=40)
    grid = np.asarray(fig.axes[0].images[0].get_array())
    for col in range(3):  # head 1, head 2, mean
        x0 = col * (40 + PAD)
        assert np.allclose(grid[10, x0 + 20], [0.1, 0.9, 1.0])  # top edge of patch (row 2, column 3)
        assert not np.allclose(grid[15, x0 + 25], [0.1, 0.9, 1.0])  # its inside is the map


def test_notebook_grid_numbers_layers_and_heads_from_one():
    from course_lib.viz.dino import attention_grid_figure

    fig = attention_grid_figure(torch.rand(3, 32, 32), torch.rand(2, 3, 4, 4))
    titles = [ax.get_title() for ax in fig.axes]
    labels = [ax.get_ylabel() for ax in fig.axes]
    assert "head 1" in titles and "head 3" in titles and "head 0" not in titles
    assert "layer 1" in labels and "layer 2" in labels and "layer 0" not in labels


# -- the set-level table ----------------------------------------------------------------------------
def read_results():
    if not all(p.exists() for p in RESULTS):
        pytest.skip("data/results/dino_jaccard*.json are not in this checkout")
    return [json.loads(p.read_text()) for p in RESULTS]


def test_jaccard_table_values_equal_the_jsons():
    found = read_results()
    results = {held_out_column(r): r for r in found}
    assert list(results) == ["test images 0–499", "test images 500–1,499"]
    table = set_level_jaccard_table(results)
    assert table["model"] == ["random init", "supervised", "DINO", "a fixed centred blob"]
    for column, result in results.items():
        expected = [result[k]["best_head"] for k in ("random", "supervised", "dino")]
        assert table[column] == expected + [result["_reference"]["centred_blob_jaccard"]]
    assert reproduce_commands(results)[1].startswith("python -m course_lib.experiments dino compare")


def test_jaccard_table_with_a_model_missing():
    ref = {"centred_blob_jaccard": 0.4, "first_test_image": 0, "n_test": 10}
    table = set_level_jaccard_table({"a": {"dino": {"best_head": 0.5}, "_reference": ref}})
    assert table == {"model": ["DINO", "a fixed centred blob"], "a": [0.5, 0.4]}


# -- clicking a patch --------------------------------------------------------------------------------
def clicked(*points):
    return {"selection": {"points": [{"x": x, "y": y} for x, y in points], "point_indices": []}}


def test_patch_from_selection_maps_image_pixels_to_patches():
    grid, side = (8, 8), 128  # 16 px per patch
    assert patch_from_selection(None, grid, side) == (None, None)
    assert patch_from_selection(clicked(), grid, side) == (None, None)
    assert patch_from_selection(clicked((0, 0)), grid, side) == ((0, 0), None)
    assert patch_from_selection(clicked((127.9, 16.0)), grid, side) == ((1, 7), None)
    assert patch_from_selection(clicked((40, 100)), grid, side) == ((6, 2), None)
    assert patch_from_selection(clicked((8, 8), (24, 8)), grid, side) == ((0, 1), None)  # the last counts
    assert patch_from_selection(clicked((40, 100)), (4, 4), side) == ((3, 1), None)
    for outside in [(-1, 5), (5, 128), (200, 3), ("a", 3)]:
        patch, error = patch_from_selection(clicked(outside), grid, side)
        assert patch is None and "outside the image" in error


def test_patch_picker_marks_the_query_and_its_neighbours():
    from course_lib.viz.attention_grid import patch_picker_figure

    fig = patch_picker_figure(torch.rand(3, 64, 64), (4, 4), (1, 2), [(0, 0), (3, 3)])
    patches = fig.data[1]
    assert len(patches.x) == 16 and patches.x[0] == 8 and patches.y[4] == 24  # patch centres
    assert [(t.x[0], t.y[0]) for t in fig.data[2:]] == [(8, 8), (56, 56), (40, 24)]  # neighbours, query


def test_nearest_patches_by_cosine_similarity():
    features = torch.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, 0.1], [-1.0, 0.0], [1.0, 1.0]])
    index, sims = nearest_patches(features, 0, k=3)
    assert index.tolist() == [2, 4, 1]  # the query itself is left out
    assert sims[0] == pytest.approx(1.0) and sims[3] == pytest.approx(-1.0)
    assert sims[4] == pytest.approx(2**-0.5)


# -- the page ---------------------------------------------------------------------------------------
def page():
    from streamlit.testing.v1 import AppTest

    sys.path.insert(0, str(ROOT / "streamlit_app"))
    return AppTest.from_file(str(PAGE), default_timeout=120)


def test_page_shows_the_labelled_grids_and_the_set_level_table():
    found = read_results()
    at = page()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    frame = at.dataframe[0].value
    assert list(frame["model"]) == ["random init", "supervised", "DINO", "a fixed centred blob"]
    assert list(frame["test images 0–499"])[2] == found[0]["dino"]["best_head"]
    assert list(frame["test images 500–1,499"])[1] == found[1]["supervised"]["best_head"]
    sentence = next(c.value for c in at.caption if "held-out" in c.value)
    assert found[0]["_reference"]["command"] in sentence and found[1]["_reference"]["command"] in sentence
    assert len(at.image) >= 5  # [CLS] grid, masks, similarity map, query grid, rollout
    assert len(at.table) == 1
    rows = [n for n in at.number_input if n.label.startswith("Query patch row")]
    assert rows[0].value == 5  # the middle of an 8 × 8 grid, 1-based
    rows[0].set_value(1).run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("query (row 1, column 5)" in m.value for m in at.markdown)


# -- in a real browser: click a patch ---------------------------------------------------------------
@pytest.mark.browser
@pytest.mark.slow
def test_clicking_a_patch_in_chromium_selects_it(app_url, browser_page):
    from browser import exception_boxes, wait_until_rendered

    page_ = browser_page
    page_.goto(f"{app_url}/attention_maps")
    wait_until_rendered(page_)
    page_.get_by_role("tab", name="Attention of any patch").click()
    chart = page_.locator('[data-testid="stPlotlyChart"] .nsewdrag').first
    chart.wait_for(timeout=60_000)
    box = chart.bounding_box()
    cell = box["width"] / 8  # 8 × 8 patches
    page_.mouse.click(box["x"] + 1.5 * cell, box["y"] + 6.5 * cell)  # row 7, column 2
    page_.wait_for_selector("text=query (row 7, column 2)", timeout=60_000)
    wait_until_rendered(page_)
    assert not exception_boxes(page_)
    ARTIFACTS = ROOT / "test-artifacts" / "screenshots"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page_.screenshot(path=str(ARTIFACTS / "attention_maps_click.png"), full_page=True)
