"""Helpers shared by every page of the app: uploads, samples, errors.

Every bad input becomes one sentence shown with `st.error`; pages never show a traceback.
"""

import io
import sys
from pathlib import Path

import numpy as np
import streamlit as st
import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # so `streamlit run streamlit_app/app.py` finds course_lib uninstalled
    sys.path.insert(0, str(ROOT))

from course_lib.viz.data import to_numpy_image  # noqa: E402, F401  (the pages' image → numpy helper)

MAX_UPLOAD_PIXELS = 250_000_000  # any phone photo (12–200 MP) is fine; a decompression bomb is not
IMAGE_TYPES = ["png", "jpg", "jpeg", "bmp", "gif", "webp", "tif", "tiff"]


def image_from_bytes(data, size):
    """Decode an uploaded file into a (3, size, size) float tensor in [0, 1].

    Returns (tensor, None) on success, or (None, one sentence saying what was wrong) otherwise.
    Grayscale, palette and RGBA images are converted to RGB (alpha composited on white); the
    image is centre-cropped to a square and resized. Large photos are decoded reduced: a JPEG
    by the decoder itself (draft mode, 1/2 to 1/8 of the side), any image by `Image.reduce`, so
    that a 48 MP phone photo costs a fraction of a second.
    """
    from PIL import Image, UnidentifiedImageError

    if not data:
        return None, "The uploaded file is empty: choose a PNG or JPEG image."
    too_large = f"upload one under {MAX_UPLOAD_PIXELS // 1_000_000} megapixels."
    pillow_limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, MAX_UPLOAD_PIXELS  # ours, for this call
    try:
        with Image.open(io.BytesIO(data)) as img:  # reads the header only
            width, height = img.size
            if width * height > MAX_UPLOAD_PIXELS:
                return None, f"The image is {width}×{height} pixels, too large to process here: {too_large}"
            rgb = _decode_reduced(img, 2 * size)  # twice the model's side, for a clean resize
    except Image.DecompressionBombError:  # Pillow's own check, at twice our limit
        return None, f"The image is too large to process here: {too_large}"
    except (UnidentifiedImageError, OSError, ValueError):
        return None, "The uploaded file is not an image this app can read: upload a PNG or JPEG."
    finally:
        Image.MAX_IMAGE_PIXELS = pillow_limit  # Pillow's default again for everything else
    return pil_to_tensor(center_square(rgb).resize((size, size), Image.BICUBIC)), None


def _decode_reduced(img, side):
    """Decode `img` as RGB with its short side no smaller than `side` (and not much larger)."""
    width, height = img.size
    scale = side / min(width, height)
    if img.format == "JPEG" and scale < 1:  # the decoder skips detail it would throw away
        img.draft(None, (max(1, round(width * scale)), max(1, round(height * scale))))
    img.load()
    rgb = _to_rgb(img)
    factor = min(rgb.size) // side
    return rgb.reduce(factor) if factor >= 2 else rgb


def _to_rgb(img):
    """Any PIL mode (L, P, RGBA, CMYK, I;16 ...) → RGB, compositing transparency on white."""
    from PIL import Image

    if img.mode in ("RGBA", "LA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    if img.mode.startswith("I;16") or img.mode == "I":
        arr = np.asarray(img, dtype=np.float64)
        arr = (255 * (arr - arr.min()) / max(arr.max() - arr.min(), 1)).astype(np.uint8)
        return Image.fromarray(arr).convert("RGB")
    return img.convert("RGB")


def center_square(img):
    """Crop a PIL image to its central square."""
    w, h = img.size
    s = min(w, h)
    left, top = (w - s) // 2, (h - s) // 2
    return img.crop((left, top, left + s, top + s))


def pil_to_tensor(img):
    """PIL RGB → (3, H, W) float tensor in [0, 1]."""
    arr = np.asarray(img, dtype=np.float32) / 255.0  # (H, W, 3)
    return torch.from_numpy(arr).permute(2, 0, 1).contiguous()


def load_image_upload(uploaded_file, size):
    """A Streamlit UploadedFile (or None) → (tensor (3, size, size) or None, error or None)."""
    if uploaded_file is None:
        return None, None
    return image_from_bytes(uploaded_file.getvalue(), size)


@st.cache_data(show_spinner=False)
def sample_images(n, size, seed=0, split="test"):
    """n held-out ShapesWorld items as (images (n, 3, size, size), list of item dicts)."""
    from course_lib.data.shapes import ShapesWorld

    ds = ShapesWorld(n, img_size=size, seed=seed, split=split)
    items = [ds[i] for i in range(n)]
    return torch.stack([it["image"] for it in items]), items


def show_error(message):
    """One clear sentence, never a traceback."""
    st.error(message, icon="⚠️")


def image_picker(key, size, n_samples=8, label="Image"):
    """Sidebar-free picker: a ShapesWorld sample or an upload.

    Returns (image (3, size, size) or None, item dict or None). Shows the error itself.
    """
    source = st.radio(label, ["ShapesWorld sample", "Upload an image"], horizontal=True, key=f"{key}_src")
    if source == "Upload an image":
        upload = st.file_uploader("Image file", type=None, key=f"{key}_upload")
        image, error = load_image_upload(upload, size)
        if error:
            show_error(error)
        elif image is None:
            st.info("Upload a PNG or JPEG image, or pick a ShapesWorld sample.")
        return image, None
    try:
        images, items = sample_images(n_samples, size)
    except ImportError:
        show_error("ShapesWorld is not available in this checkout: upload an image instead.")
        return None, None
    idx = st.slider("Sample", 0, n_samples - 1, 0, key=f"{key}_idx")
    return images[idx], items[idx]
