"""The "Embedding space" page: every bundled encoder, each colouring, the recorded k-NN table beside."""

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGE = str(ROOT / "streamlit_app" / "topics" / "06_embedding_space.py")
CUES = json.loads((ROOT / "data" / "results" / "ssl_cues.json").read_text())
ENCODERS = ["simclr-resnet-shapes", "dino-vit-shapes", "mae-vit-shapes", "clip-shapes",
            "supervised-resnet-shapes", "supervised-vit-shapes", "random-init-vit"]
CUE_LABELS = ["shape", "colour", "pattern", "size (small / large)", "number of objects",
              "second object's shape"]
CUE_KEYS = ["shape", "color", "pattern", "size_word", "n_objects", "second_shape"]


def _page(n=200):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(PAGE, default_timeout=120).run()
    assert not at.exception, at.exception
    at.select_slider[0].set_value(n).run()  # fewer images: a faster test, the same page
    return at


def _scatter(at):
    """The plotly figure of the scatter, as the browser receives it."""
    charts = at.get("plotly_chart")
    assert len(charts) == 1
    return json.loads(charts[0].proto.spec)


def test_every_measured_encoder_is_offered():
    from course_lib.experiments.ssl_cues import ENCODERS as MEASURED

    at = _page()
    assert at.title[0].value == "Embedding space"
    assert at.selectbox(key="encoder").options[0].endswith("simclr-resnet-shapes")
    names = [o.rsplit(" · ", 1)[1] for o in at.selectbox(key="encoder").options]
    assert sorted(names) == sorted([*MEASURED, "random-init-vit"]) == sorted(ENCODERS)


@pytest.mark.parametrize("name", ENCODERS)
def test_each_encoder_draws_the_scatter_and_its_recorded_knn_table(name):
    at = _page()
    at.selectbox(key="encoder").set_value(name).run()
    assert not at.exception, at.exception
    assert not at.error, at.error[0].value
    spec = _scatter(at)
    assert name in spec["layout"]["title"]["text"]
    assert sum(len(t["x"]) for t in spec["data"][:-1]) == 200  # every image once; the last trace: highlights
    table = at.dataframe[0].value
    assert list(table["cue"]) == CUE_LABELS
    assert list(table["k-NN"]) == [CUES[name][k] for k in CUE_KEYS]
    assert list(table["majority"]) == [CUES["_majority"][k] for k in CUE_KEYS]
    assert any("python -m course_lib.experiments ssl-cues" in c.value for c in at.caption)


@pytest.mark.parametrize("colouring", ["shape", "color", "pattern"])
def test_each_colouring_has_its_legend(colouring):
    from course_lib.data.shapes import COLOR_RGB, ShapesWorld

    at = _page()
    at.selectbox(key="colouring").set_value(colouring).run()
    assert not at.exception, at.exception
    spec = _scatter(at)
    names = {"shape": ShapesWorld.SHAPES, "color": ShapesWorld.COLORS,
             "pattern": ShapesWorld.PATTERNS}[colouring]
    assert [t["name"] for t in spec["data"]] == [*names, "query + neighbours"]
    legend = {"shape": "shape (the label)", "color": "colour", "pattern": "pattern"}[colouring]
    assert spec["layout"]["legend"]["title"]["text"] == legend  # one legend entry per value, titled
    if colouring == "color":  # each colour's points drawn in that colour
        red = spec["data"][list(names).index("red")]["marker"]["color"]
        assert red == "rgb{}".format(tuple(int(255 * v) for v in COLOR_RGB["red"]))


def test_missing_results_file_is_one_sentence(monkeypatch, tmp_path):
    monkeypatch.syspath_prepend(str(ROOT / "streamlit_app"))
    import common

    monkeypatch.setattr(common, "ROOT", tmp_path)  # no data/results/ssl_cues.json there
    at = _page()
    assert not at.exception and not at.dataframe
    assert len(at.info) == 1 and "ssl_cues.json is missing" in at.info[0].value
    assert "python -m course_lib.experiments ssl-cues" in at.info[0].value
    assert at.get("plotly_chart")  # the scatter is still drawn
    (tmp_path / "data" / "results").mkdir(parents=True)
    (tmp_path / "data" / "results" / "ssl_cues.json").write_text(json.dumps({"_majority": CUES["_majority"]}))
    at.run()
    assert not at.exception and "has no row for simclr-resnet-shapes" in at.info[0].value


def test_an_encoder_missing_from_the_bundle_is_one_sentence(monkeypatch):
    import streamlit as st

    from course_lib.experiments import ssl_cues

    bundled = ssl_cues.list_pretrained("bundled")
    without_dino = [n for n in bundled if n != "dino-vit-shapes"]
    monkeypatch.setattr(ssl_cues, "list_pretrained", lambda kind: without_dino)
    st.cache_resource.clear()  # the page's loaded encoders, loaded again without DINO
    try:
        at = _page()
        at.selectbox(key="encoder").set_value("dino-vit-shapes").run()
        assert not at.exception
        assert len(at.error) == 1 and "dino-vit-shapes is not in this checkout's bundle" in at.error[0].value
        assert not at.get("plotly_chart")
        assert list(at.dataframe[0].value["k-NN"]) == [CUES["dino-vit-shapes"][k] for k in CUE_KEYS]
    finally:
        monkeypatch.undo()
        st.cache_resource.clear()


def test_query_neighbours_and_views_controls():
    at = _page()
    at.number_input(key="query").set_value(5).run()
    assert not at.exception
    assert any(c.value.startswith("Query #5:") for c in at.caption)
    neighbours = at.get("image")[0]  # the query and its 8 neighbours
    assert len(neighbours.proto.imgs) == 9 and neighbours.proto.imgs[0].caption == "query"
    at.select_slider[0].set_value(400).run()
    assert at.number_input(key="query").value == 5
    at.checkbox[0].uncheck().run()
    at.button[0].click().run()
    assert not at.exception


@pytest.mark.browser
@pytest.mark.slow
def test_embedding_page_in_chromium(app_url, browser_page):
    """In a real browser: another encoder, another colouring, and a click on a point picks the query."""
    from browser import exception_boxes, wait_until_rendered

    def choose(index, option):
        page.locator('[data-testid="stSelectbox"]').nth(index).click()
        page.get_by_role("option", name=option).click()
        wait_until_rendered(page)

    page = browser_page
    page.goto(f"{app_url}/embedding_space")
    wait_until_rendered(page)
    choose(0, "CLIP image tower (trained on captions) · clip-shapes")
    choose(1, "colour")
    assert "clip-shapes: principal axes" in page.locator(".js-plotly-plot").first.inner_text()
    assert "navy" in page.locator(".js-plotly-plot .legend").first.text_content()
    query = page.get_by_label("Query image (or click a point)")
    assert query.input_value() == "0"
    point = page.locator(".js-plotly-plot .scatterlayer .trace .points path").nth(30).bounding_box()
    page.mouse.click(point["x"] + point["width"] / 2, point["y"] + point["height"] / 2)
    wait_until_rendered(page)
    assert query.input_value() != "0"  # the clicked image is the query now
    assert not exception_boxes(page)
