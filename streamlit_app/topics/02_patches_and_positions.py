"""Patches & positions: an image as a sequence of patch tokens, and where each token sits."""

import common
import matplotlib.pyplot as plt
import streamlit as st

from course_lib.positions import embedding_similarity, sincos_2d
from course_lib.viz.vit import patch_grid_figure, position_similarity_figure, token_strip_figure

st.title("Patches and positions")
st.markdown("A ViT cuts the image into p × p patches, flattens each one into a token, and adds a "
            "positional embedding so the transformer knows where each token came from.")

SIZE = 64
left, right = st.columns([1, 1])
with left:
    image, _ = common.image_picker("patches", SIZE)
    patch = st.select_slider("Patch size p", options=[4, 8, 16, 32], value=8)

if image is not None:
    with left:
        fig = patch_grid_figure(image, patch)
        st.pyplot(fig, clear_figure=True)
        plt.close(fig)
    with right:
        grid = SIZE // patch
        st.markdown(f"**{grid}×{grid} = {grid * grid} tokens** of {patch}·{patch}·3 = "
                    f"{patch * patch * 3} numbers each.")
        fig = token_strip_figure(image, patch, max_tokens=min(16, grid * grid))
        st.pyplot(fig, clear_figure=True)
        plt.close(fig)

        source = st.radio("Positional table", ["2-D sin-cos (MAE)", "bundled ViT (learned)"], horizontal=True)
        table, note = sincos_2d(64, grid), None
        if source.startswith("bundled"):
            try:
                from course_lib.checkpoints import load_pretrained

                vit = load_pretrained("supervised-vit-shapes")
                learned = vit.positional_table(grid, grid)[0, 1:].detach()  # (L, D) resized to the grid
                table = learned
            except Exception as err:  # noqa: BLE001 - any failure falls back to the sin-cos table
                note = f"The bundled ViT could not be loaded ({err}); showing the sin-cos table instead."
        if note:
            st.info(note)
        sim = embedding_similarity(table, (grid, grid))
        fig = position_similarity_figure(sim[:8, :8, :, :] if grid > 8 else sim)
        st.pyplot(fig, clear_figure=True)
        plt.close(fig)
        st.caption("Tile (i, j): similarity of patch (i, j)'s embedding to every other patch "
                   "(as in the ViT paper's Figure 7). Nearby patches have similar embeddings.")
