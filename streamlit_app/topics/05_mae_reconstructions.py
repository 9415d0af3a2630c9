"""MAE reconstructions: remove patches, encode the visible ones, let the decoder fill the holes."""

import common
import numpy as np
import streamlit as st
import torch

from course_lib.data.rendered import SHAPES_MEAN, SHAPES_STD
from course_lib.evaluate.reconstruction import fixed_noise, reconstruct
from course_lib.mae import mae_vit_shapes
from course_lib.viz.mae import panel_images, patch_picker_figure

SIZE = 64
NAME = "mae-vit-shapes"

st.title("MAE reconstructions")
st.markdown(
    "A masked autoencoder removes most patches, encodes **only the visible ones**, and a light decoder "
    "predicts the pixels of every removed patch. Its loss is the **mean squared error on the removed "
    "patches only**: pixels are continuous, so the answer to *which loss?* is a regression, not BERT's "
    "cross-entropy."
)


@st.cache_resource(show_spinner=False)
def load_model():
    """(model, mean, std, note): the bundled MAE, or an untrained one and a sentence saying why."""
    from course_lib.checkpoints import CheckpointError, card, load_pretrained

    try:
        info = card(NAME)
        return load_pretrained(NAME), info["input"]["mean"], info["input"]["std"], None
    except CheckpointError as err:
        torch.manual_seed(0)
        note = f"{err} Showing an untrained MAE instead: its reconstructions are noise."
        return mae_vit_shapes().eval(), SHAPES_MEAN, SHAPES_STD, note


def upscale(array, factor=4):
    """(H, W, 3) → (factor·H, factor·W, 3) with sharp pixels (the browser would blur them)."""
    return np.repeat(np.repeat(array, factor, axis=0), factor, axis=1)


def picked_patches(figure_event, typed):
    """Patch indices chosen by box/lasso/click on the picker, plus those typed in the list."""
    chosen = set(typed)
    if figure_event and figure_event.selection:
        chosen |= {p["point_index"] for p in figure_event.selection.get("points", [])
                   if p.get("curve_number") == 1}
    return sorted(chosen)


model, mean, std, note = load_model()
if note:
    common.show_error(note)
p = model.config.patch_size
L = model.config.num_patches

left, right = st.columns([1, 2])
with left:
    image, _ = common.image_picker("mae", SIZE)
    by_hand = st.toggle("Choose the masked patches by hand", key="mae_by_hand")
    if not by_hand:
        ratio = st.slider("Mask ratio", 0.05, 0.95, 0.75, 0.05, key="mae_ratio")
        seed = st.number_input("Seed", 0, 99_999, 0, key="mae_seed")

if image is not None:
    mask = noise = None
    if by_hand:
        with left:
            typed = st.multiselect("Masked patches (row-major index)", list(range(L)), key="mae_typed")
        with right:
            st.caption("Box- or lasso-select the patches to remove (double-click to clear), or list them "
                       "on the left.")
            event = st.plotly_chart(patch_picker_figure(image, p, typed, height=300), on_select="rerun",
                                    selection_mode=("points", "box", "lasso"), key="mae_picker")
        chosen = picked_patches(event, typed)
        mask = torch.zeros(1, L)
        mask[0, chosen] = 1.0
    else:
        noise = fixed_noise(1, L, int(seed))

    with right:
        if mask is not None and mask.sum() == 0:
            st.info("No patch is masked yet: select some patches on the image.")
        else:
            rec = reconstruct(model, image[None], ratio if noise is not None else 0.75, noise=noise,
                                mask=mask, mean=mean, std=std)
            for col, (title, array) in zip(st.columns(4), panel_images(rec)):
                col.image(upscale(array), caption=title, width="stretch")
            removed = int(rec.mask.sum())
            a, b, c = st.columns(3)
            a.metric("Patches removed", f"{removed} / {L}")
            b.metric("Masked-pixel MSE", f"{float(rec.pixel_mse[0]):.4f}", help="on [0, 1] pixels")
            c.metric("Training loss", f"{rec.loss:.3f}", help="MSE on the removed patches, normalized pixels")
            st.caption("The model was trained on ShapesWorld only: on photos it paints shapes-like blobs.")
