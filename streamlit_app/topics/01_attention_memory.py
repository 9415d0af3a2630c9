"""Attention memory: why pixels cannot be tokens (the lecture's discussion question)."""

import common
import streamlit as st

from course_lib.complexity import attention_matrix_bytes, format_bytes, tokens_for_image
from course_lib.viz.vit import memory_figure

st.title("Attention memory")
st.markdown(
    "Every head of every layer builds an **N × N** attention matrix. With pixels as tokens an "
    "R × R image has N = R² tokens, so each matrix has **(R²)² = R⁴** entries."
)

DTYPES = {"float32 (4 bytes)": 4, "float16 / bfloat16 (2 bytes)": 2, "float64 (8 bytes)": 8}
left, right = st.columns([1, 2])
with left:
    size = st.number_input("Image side R (pixels)", min_value=1, max_value=8192, value=224, step=16)
    patch = st.number_input("Patch size (1 = pixels as tokens)", min_value=1, max_value=256, value=16)
    heads = st.number_input("Heads", min_value=1, max_value=128, value=16)
    layers = st.number_input("Layers", min_value=1, max_value=256, value=48)
    batch = st.number_input("Batch", min_value=1, max_value=4096, value=1)
    dtype = st.selectbox("Data type", list(DTYPES))

with right:
    if size % patch:
        common.show_error(
            f"A patch size of {patch} does not divide a {size}-pixel image: pick a patch size that "
            f"divides {size} (for example {next(p for p in (16, 14, 8, 4, 2, 1) if size % p == 0)})."
        )
    else:
        n = tokens_for_image(size, patch, cls_token=patch > 1)
        total = attention_matrix_bytes(n, heads, layers, batch, DTYPES[dtype])
        one = attention_matrix_bytes(n, 1, 1, 1, DTYPES[dtype])
        c1, c2, c3 = st.columns(3)
        c1.metric("Tokens N", f"{n:,}")
        c2.metric("One matrix", format_bytes(one))
        c3.metric("All matrices", format_bytes(total))
        st.caption(
            f"{batch} × {layers} layers × {heads} heads × {n:,}² entries × {DTYPES[dtype]} bytes = "
            f"{total:,} bytes" + (" (+1 token for [CLS])" if patch > 1 else "")
        )
        st.plotly_chart(memory_figure(heads, layers, batch, DTYPES[dtype], patch_size=max(patch, 2),
                                      max_size=max(1024, size)), use_container_width=True)
