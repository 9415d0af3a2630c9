"""App pages under Streamlit's AppTest: they render, and bad input gets one clear sentence."""

import io
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "streamlit_app"
sys.path.insert(0, str(APP))


def run_page(name, timeout=120):
    at = AppTest.from_file(str(APP / name), default_timeout=timeout)
    at.run()
    return at


def test_app_entry_discovers_every_page():
    import sys

    sys.path.insert(0, str(APP))
    from app import page_title

    assert page_title(Path("05_mae_reconstructions.py")) == "MAE reconstructions"
    at = AppTest.from_file(str(APP / "app.py"), default_timeout=60)
    at.run()
    assert not at.exception
    assert "Vision transformers" in at.title[0].value


def test_home_page():
    at = run_page("home.py")
    assert not at.exception
    assert any("Bundled models" in s.value for s in at.subheader)


def test_attention_memory_page_numbers():
    at = run_page("topics/01_attention_memory.py")
    assert not at.exception
    at.number_input[0].set_value(512)  # R
    at.number_input[1].set_value(1)  # pixels as tokens
    at.run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Tokens N"] == "262,144"
    assert metrics["All matrices"] == "192.0 TiB"


def test_attention_memory_bad_patch_size():
    at = run_page("topics/01_attention_memory.py")
    at.number_input[0].set_value(100)
    at.number_input[1].set_value(16)
    at.run()
    assert not at.exception
    assert "does not divide" in at.error[0].value


def test_patches_page_renders():
    at = run_page("topics/02_patches_and_positions.py")
    assert not at.exception
    assert at.title[0].value == "Patches and positions"


# -- uploads (the decoding behind every page's uploader) -------------------------------------------
def encode(img, fmt="PNG"):
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


@pytest.mark.parametrize("mode", ["RGB", "L", "RGBA", "P", "I;16", "CMYK"])
def test_upload_any_mode_becomes_rgb(mode):
    import common

    arr = (np.random.rand(40, 60, 3) * 255).astype(np.uint8)
    if mode == "I;16":
        img = Image.fromarray(arr[..., 0].astype(np.uint16) * 200)
    else:
        img = Image.fromarray(arr).convert(mode)
    fmt = "JPEG" if mode == "CMYK" else ("TIFF" if mode == "I;16" else "PNG")
    tensor, error = common.image_from_bytes(encode(img, fmt), 32)
    assert error is None
    assert tensor.shape == (3, 32, 32) and 0 <= tensor.min() and tensor.max() <= 1


def test_upload_bad_files_get_one_sentence():
    import common

    for data in [b"", b"this is not an image", encode(Image.new("RGB", (10, 10)))[:30]]:
        tensor, error = common.image_from_bytes(data, 32)
        assert tensor is None and error.endswith(".") and "\n" not in error


def test_phone_photo_is_drawn_reduced_and_true_to_the_original():
    """A 48 MP JPEG (8064 × 6048, what phones take) is accepted and decoded reduced; the result is
    the same picture as a full decode: left half red, right half blue."""
    import common

    half = np.zeros((6048, 4032, 3), dtype=np.uint8)
    red, blue = half + np.array([220, 30, 30], np.uint8), half + np.array([30, 30, 220], np.uint8)
    photo = np.concatenate([red, blue], axis=1)  # (6048, 8064, 3)
    tensor, error = common.image_from_bytes(encode(Image.fromarray(photo), "JPEG"), 32)
    assert error is None and tensor.shape == (3, 32, 32)
    left, right = tensor[:, :, :12].mean(dim=(1, 2)), tensor[:, :, 20:].mean(dim=(1, 2))  # (3,) each
    assert left[0] > 0.8 and left[2] < 0.2 and right[2] > 0.8 and right[0] < 0.2


def test_upload_leaves_pillows_own_limit_as_it_was(monkeypatch):
    import common

    before = Image.MAX_IMAGE_PIXELS
    monkeypatch.setattr(common, "MAX_UPLOAD_PIXELS", 100)
    common.image_from_bytes(encode(Image.new("RGB", (20, 20))), 32)
    common.image_from_bytes(b"not an image", 32)
    assert Image.MAX_IMAGE_PIXELS == before


def test_upload_huge_image_is_refused(monkeypatch):
    import common

    monkeypatch.setattr(common, "MAX_UPLOAD_PIXELS", 100)
    tensor, error = common.image_from_bytes(encode(Image.new("RGB", (20, 20))), 32)
    assert tensor is None and "too large" in error
