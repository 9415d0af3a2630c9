"""Home: what is inside, which bundled models exist, how to open the notebooks."""

import common  # noqa: F401  (puts course_lib on the path)
import streamlit as st

from course_lib import __version__

st.title("Vision transformers & self-supervised learning")
st.caption(f"Teaching kit v{__version__}: every model written from scratch in PyTorch, "
           "runs offline on a CPU.")

st.markdown(
    """
This app goes with the lecture's notebooks. Pick a page on the left:

| page | what you can explore |
|---|---|
| **Attention memory** | why pixels cannot be tokens: the size of the attention matrix, in bytes |
| **Patches and positions** | an image cut into patches, the token sequence, positional-embedding similarity |
| **Attention maps** | DINO's [CLS] attention, layer × head; click a patch: its attention, its neighbours |
| **Swin windows** | windows, shifted windows, and why their cost grows linearly |
| **MAE reconstructions** | mask 75% of an image and watch a masked autoencoder fill it in |
| **Embedding space** | every bundled encoder's embeddings in 2-D, what a k-NN on them knows |
| **CLIP rankings** | zero-shot classification, "Ranked k out of N", text-to-image search |
| **Spectrograms** | audio as an image: STFT, mel, patches, a transformer classifier |
| **Feature maps** | patch features' first three principal components as RGB: DINO, MAE, ViT |

Pages appear as their topics are built; the ones listed in the sidebar are the ones in this copy.
"""
)

st.subheader("Bundled models")
try:
    from course_lib.checkpoints import list_pretrained

    names = list_pretrained()
except Exception as err:  # noqa: BLE001 - the home page must render whatever state the kit is in
    names = []
    st.warning(f"The checkpoint index could not be read ({err}).")
bundled = [n for n in names if "-" in n]  # bundled names use dashes, official ones underscores
if bundled:
    st.markdown("\n".join(f"- `{name}`" for name in bundled))
else:
    st.info("No bundled checkpoint in this copy yet: pages fall back to randomly initialized models.")

st.subheader("Notebooks")
st.markdown(
    """
Open the lecture notebooks with **`make lab`** (JupyterLab on `notebooks/`, with the kit importable).
They are numbered in lecture order and each runs top to bottom on a laptop CPU in under two minutes.
"""
)
