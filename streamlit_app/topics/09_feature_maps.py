"""Feature maps: the first three principal components of each model's patch features as RGB
(DINOv2's Figure 1), for DINO, MAE and a supervised ViT side by side; foreground-only as an option."""

import common
import streamlit as st
import torch

from course_lib.data.rendered import standardize
from course_lib.evaluate import jaccard, upsample_mask
from course_lib.evaluate.features import patch_tokens, pca_rgb
from course_lib.viz.features import COLOURS_SENTENCE, feature_maps_figure

MODELS = {  # the name drawn on the figure → the bundled checkpoint
    "DINO": "dino-vit-shapes",
    "MAE": "mae-vit-shapes",
    "supervised ViT": "supervised-vit-shapes",
}

st.title("Feature maps")
st.markdown(
    "A ViT gives one feature vector per patch. Fit a **PCA** to one image's patch features and paint "
    "each patch with its first three components as red, green and blue (DINOv2's Figure 1): the "
    "colours show which patches the model describes alike, with no label involved. DINOv2's "
    "**foreground-only** variant keeps the patches on the object's side of the first component, "
    "refits the PCA on them and colours only those."
)


@st.cache_resource(show_spinner=False)
def load_models():
    """({name: (model, card input)}, [one sentence per model that could not be loaded])."""
    from course_lib.checkpoints import CheckpointError, card, list_pretrained, load_pretrained

    loaded, notes = {}, []
    for name, checkpoint in MODELS.items():
        if checkpoint not in list_pretrained("bundled"):
            notes.append(f"`{checkpoint}` is not bundled in this checkout, so {name} is left out.")
            continue
        try:
            loaded[name] = load_pretrained(checkpoint), card(checkpoint)["input"]
        except CheckpointError as err:
            notes.append(f"{name} is left out: {err}")
    return loaded, notes


def model_input(image, info):
    """(3, S, S) image in [0, 1] → (1, 3, size, size) standardized with the card's statistics."""
    size = info["img_size"]
    x = image[None].float()  # (1, 3, S, S)
    if x.shape[-1] != size:
        x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", antialias=True)
    return standardize(x.clamp(0, 1), info["mean"], info["std"])  # (1, 3, size, size)


def feature_maps(models, image, foreground_only):
    """{name: (rgb (h, w, 3), foreground (h, w) bool)}, or an error sentence per failing model."""
    maps, errors = {}, []
    for name, (model, info) in models.items():
        try:
            feats = patch_tokens(model, model_input(image, info))[0]  # (L, D)
        except ValueError as err:  # a model without patch features, an input it cannot take
            errors.append(f"{name}: {err}")
            continue
        h = w = info["img_size"] // model.config.patch_size
        maps[name] = pca_rgb(feats, h, w, foreground_only=foreground_only)
    return maps, errors


def jaccard_notes(maps, true_mask):
    """{name: 'Jaccard 0.xx'}: the kept patches against the drawing's true object mask."""
    notes = {}
    for name, (_, keep) in maps.items():
        kept = upsample_mask(keep, true_mask.shape)  # (H, W) bool
        notes[name] = f"foreground Jaccard {float(jaccard(kept, true_mask.bool())):.2f}"
    return notes


# -- controls ------------------------------------------------------------------------------------
models, missing = load_models()
for note in missing:
    st.info(note)
if not models:
    common.show_error("None of the bundled ViTs is in this checkout: train one, then reload the page.")
    st.stop()
size = max(info["img_size"] for _, info in models.values())

left, right = st.columns([1, 3])
with left:
    image, item = common.image_picker("features", size)
    foreground_only = st.toggle(
        "Foreground only", key="features_foreground",
        help="Threshold the first component, refit the PCA on the object's patches, background black.",
    )
if image is None:
    st.stop()

with st.spinner("Computing the patch features and their PCA…"):
    maps, errors = feature_maps(models, image, foreground_only)
for error in errors:
    common.show_error(error)
if not maps:
    st.stop()

with right:
    has_mask = item is not None and item.get("foreground") is not None
    notes = jaccard_notes(maps, item["foreground"]) if foreground_only and has_mask else None
    fig = feature_maps_figure(image, {name: rgb for name, (rgb, _) in maps.items()}, notes=notes)
    st.pyplot(fig, clear_figure=True)
    st.caption(
        COLOURS_SENTENCE + " The bundled models were trained on ShapesWorld drawings only, so on a photo "
        "their maps say little."
    )
    if foreground_only:
        st.caption(
            "Black patches are background: the side of the first component where the image's border "
            "lies (objects rarely touch it)."
            + (" The Jaccard compares the kept patches with the drawing's true object mask." if notes else "")
        )
