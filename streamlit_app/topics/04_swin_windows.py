"""Swin windows: windows and shifted windows over an image, the mask of one window, and the cost of
global attention against window attention as the image grows."""

import json

import common
import matplotlib.pyplot as plt
import streamlit as st

from course_lib.swin import shifted_window_mask
from course_lib.viz.swin import cost_chart, plot_shift_regions, plot_window_mask, plot_windows

PATCH = 4  # Swin's patch size: one token per 4 × 4 pixels
RESULTS = common.ROOT / "data" / "results" / "swin_scaling.json"

st.title("Swin windows")
st.markdown(
    "Swin computes self-attention only **inside M × M windows** of tokens, so its cost grows "
    "**linearly** with the number of tokens instead of quadratically. Every second block **shifts** "
    "the windows by ⌊M/2⌋ so that neighbouring windows exchange information; after the cyclic "
    "shift, a window can hold tokens from different parts of the image, and a **mask** (−100 "
    "before the softmax) stops them from attending to each other."
)


def divisors(n, low=2):
    return [d for d in range(low, n + 1) if n % d == 0]


@st.cache_data(show_spinner=False)
def load_measurements():
    """The recorded benchmark, or None when it has not been run in this copy."""
    try:
        return json.loads(RESULTS.read_text())
    except (OSError, json.JSONDecodeError):
        return None


left, right = st.columns([1, 1])
with left:
    size = st.select_slider("Image size (pixels)", [64, 112, 224, 384, 448], value=224, key="swin_size")
    grid = size // PATCH
    choices = [d for d in divisors(grid) if d <= grid // 2] or [grid]
    default = 7 if 7 in choices else (12 if 12 in choices else choices[len(choices) // 2])
    M = st.select_slider("Window size M (tokens)", choices, value=default, key="swin_window")
    shift = st.slider("Shift (tokens)", 0, M - 1, M // 2, key="swin_shift",
                      help="0 = W-MSA (regular windows); ⌊M/2⌋ is Swin's SW-MSA.")
    st.caption(f"{size} px in {PATCH}-px patches = a {grid}×{grid} token grid: "
               f"{(grid // M) ** 2} windows of {M * M} tokens.")
    image, _ = common.image_picker("swin", size)

with right:
    if image is not None:
        fig, ax = plt.subplots(figsize=(5, 5))
        plot_windows(image, PATCH, M, shift, ax=ax)
        st.pyplot(fig)
        plt.close(fig)

st.subheader("The attention mask of one window")
if shift == 0:
    st.info("With no shift every window holds one region of the image: no mask is needed (W-MSA).")
else:
    n_windows = (grid // M) ** 2
    window = st.slider("Window (row by row, in the shifted layout)", 0, n_windows - 1, n_windows - 1,
                       key="swin_mask_window")
    c1, c2 = st.columns(2)
    with c1:
        fig, ax = plt.subplots(figsize=(4.5, 4.5))
        plot_shift_regions(grid, M, shift, ax=ax)
        row, col = divmod(window, grid // M)
        ax.add_patch(plt.Rectangle((col * M, row * M), M, M, fill=False, ec="white", lw=3))
        st.pyplot(fig)
        plt.close(fig)
    with c2:
        fig, ax = plt.subplots(figsize=(4.5, 4.5))
        plot_window_mask(grid, M, shift, window, ax=ax)
        st.pyplot(fig)
        plt.close(fig)
    blocked = float((shifted_window_mask(grid, grid, M, shift)[window] < 0).float().mean())
    st.caption(f"Window {window}: {blocked:.0%} of its query–key pairs are masked.")

st.subheader("Cost against image size")
channels = st.select_slider("Channels C", [48, 96, 192, 384, 768], value=96, key="swin_channels")
measured = load_measurements()
sides = [M * k for k in range(1, 41)]
st.plotly_chart(cost_chart(sides, channels, M, measured if channels == 96 and M == 7 else None),
                use_container_width=True)
if measured:
    s = measured["slopes"]
    st.caption(f"Measured (C = 96, M = 7, {measured['machine']['device']}): log-log slope of time against "
               f"tokens {s['vit']['seconds']:.2f} for global attention vs {s['swin']['seconds']:.2f} for "
               f"windows; of memory {s['vit']['peak_bytes']:.2f} vs {s['swin']['peak_bytes']:.2f}. "
               "Markers appear on the chart at C = 96 and M = 7.")
