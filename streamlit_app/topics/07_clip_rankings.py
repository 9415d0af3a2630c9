"""CLIP rankings: zero-shot labels for an image, text → image search, the similarity matrix, and
where in the image a text matches."""

import common
import streamlit as st
import torch

from course_lib import clip as C
from course_lib.evaluate.clip import (
    class_embeddings,
    occlusion_text_map,
    patch_text_similarity,
    ranking_sentence,
    zero_shot_classify,
)
from course_lib.viz.clip import overlay, ranked_bars, similarity_heatmap

NAME = "clip-shapes"
GALLERY_SIZE = 60

st.title("CLIP rankings")
st.markdown(
    "CLIP embeds images and texts in one space; a label's score is the cosine similarity of the "
    "image with a sentence about the label, times the learned 1/τ, then a softmax over the labels. "
    "No classifier is trained: the labels are typed. The model here is the bundled `clip-shapes`, "
    "trained on ShapesWorld captions such as *a large red triangle above a small blue circle*."
)


@st.cache_resource(show_spinner=False)
def load_model():
    """(model, tokenizer, image size, note): the bundled CLIP, or an untrained one and why."""
    from course_lib.checkpoints import CheckpointError
    from course_lib.data.captions import shapes_tokenizer
    from course_lib.official.clip import load_clip

    try:
        model, tokenizer, size = load_clip(NAME)
        return model, tokenizer, size, None
    except CheckpointError as err:
        torch.manual_seed(0)
        tok = shapes_tokenizer()
        model = C.clip_shapes_tiny(vocab_size=tok.vocab_size).eval()
        return model, tok, 64, f"{err} Showing an untrained CLIP instead: its rankings are noise."


@st.cache_resource(show_spinner=False, max_entries=64)
def text_embeddings(labels, template):
    """(C, E) unit class embeddings of `labels` (a tuple) with `template`; cached per list."""
    model, tok, _, _ = load_model()
    return class_embeddings(model, tok, list(labels), [template])


@st.cache_resource(show_spinner=False)
def gallery_data():
    """Held-out ShapesWorld images, their captions and unit image embeddings."""
    model, _, size, _ = load_model()
    images, items = common.sample_images(GALLERY_SIZE, size, seed=1)
    with torch.no_grad():
        feats = model.encode_image(C.preprocess(images), normalize=True)  # (N, E)
    return images, [it["caption"] for it in items], feats


def default_labels():
    from course_lib.data.shapes import ShapesWorld

    return "\n".join(f"{c} {s}" for c in ShapesWorld.COLORS for s in ShapesWorld.SHAPES)


def check_template(template):
    """One sentence if the template cannot hold a label, else None."""
    if template.count("{}") != 1:
        return "The template needs exactly one {} where the label goes, for example “a {}”."
    return None


def rank_labels(model, size):
    image, item = common.image_picker("clip", size)
    template = st.text_input("Template", "a {}", key="clip_template")
    text = st.text_area("Labels, one per line", default_labels(), height=180, key="clip_labels")
    labels = list(dict.fromkeys(line.strip() for line in text.splitlines() if line.strip()))
    error = check_template(template) or (None if labels else "The label list is empty: type at least "
                                                             "one label, one per line.")
    if error:
        common.show_error(error)
        return
    if image is None:
        return
    probs = zero_shot_classify(model, C.preprocess(image), labels, text_features=text_embeddings(
        tuple(labels), template))[0]
    truth = f"{item['objects'][0]['color']} {item['objects'][0]['shape']}" if item else None
    target = labels.index(truth) if truth in labels else None
    left, right = st.columns([1, 2])
    left.image(common.to_numpy_image(image), caption=item["caption"] if item else "your image", width=220)
    if target is not None:
        right.markdown(f"**{ranking_sentence(probs, target, truth)}** labels.")
    else:
        best = int(probs.argmax())
        right.markdown(f"Best label: **{labels[best]}** ({probs[best]:.1%}), out of {len(labels)}.")
    right.plotly_chart(ranked_bars(labels, probs, target), key="clip_bars")


def search_gallery(model, tok):
    images, captions, feats = gallery_data()
    query = st.text_input("Text query", "a large red circle", key="clip_query").strip()
    k = st.slider("Top k", 1, 15, 5, key="clip_k")
    if not query:
        common.show_error("The query is empty: type a description such as “a small blue star”.")
        return
    with torch.no_grad():
        text = model.encode_text(tok([query]), normalize=True)[0]  # (E,)
    scores = feats @ text  # (N,)
    top = scores.argsort(descending=True)[:k].tolist()
    st.image([common.to_numpy_image(images[i]) for i in top], width=128,
             caption=[f"{scores[i]:.2f} · {captions[i]}" for i in top])


@st.cache_data(show_spinner=False, max_entries=32)
def heatmap_png(start, n):
    """The similarity matrix of gallery images start..start+n and their captions, as PNG bytes."""
    import io

    import matplotlib.pyplot as plt

    model, tok, _, _ = load_model()
    images, captions, feats = gallery_data()
    idx = list(range(start, start + n))
    with torch.no_grad():
        text = model.encode_text(tok([captions[i] for i in idx]), normalize=True)  # (n, E)
    fig = similarity_heatmap(feats[idx] @ text.T, images[idx], [captions[i] for i in idx])
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def similarity_matrix():
    n = st.slider("Batch size", 2, 8, 5, key="clip_batch")
    start = st.number_input("First image", 0, GALLERY_SIZE - 8, 0, key="clip_start")
    st.image(heatmap_png(int(start), n))
    st.caption("Training pushes the diagonal up and everything else down: that is clip_loss.")


@st.cache_data(show_spinner=False, max_entries=64)
def match_overlay(image_array, text, method):
    """(H, W, 3) image with the patch map of `text` over it; cached per image, text and method."""
    model, tok, _, _ = load_model()
    image = torch.from_numpy(image_array).permute(2, 0, 1)  # (3, H, W)
    with torch.no_grad():
        emb = model.encode_text(tok([text]), normalize=True)[0]
    make_map = occlusion_text_map if method.startswith("Occlusion") else patch_text_similarity
    grid = make_map(model, C.preprocess(image), emb)[0]  # (h, w)
    return overlay(image, grid)


def match_map(size):
    image, _ = common.image_picker("clip_map", size)
    text = st.text_input("Text", "a red circle", key="clip_map_text").strip()
    method = st.radio("Map", ["Occlusion: similarity lost when a patch is hidden",
                              "Patch tokens: each patch projected like [CLS]"], key="clip_map_method")
    if not text:
        common.show_error("The text is empty: type what to look for, such as “a green square”.")
        return
    if image is None:
        return
    array = common.to_numpy_image(image)
    st.image([array, match_overlay(array, text, method)], width=256,
             caption=["image", f"where “{text}” matches (bright = more)"])
    st.caption("CLIP only trained its [CLS] token to match texts. Hiding one patch at a time and measuring "
               "how much the image–text similarity drops shows where the evidence is; projecting each "
               "patch token like the [CLS] token is cheaper but much less reliable (pointing game in "
               "data/results/clip_shapes.json: 54% vs 14%, a random patch 17%).")


model, tok, size, note = load_model()
if note:
    common.show_error(note)
view = st.radio("View", ["Rank labels", "Text → images", "Similarity matrix", "Where does the text match?"],
                horizontal=True, key="clip_view")
if view == "Rank labels":
    rank_labels(model, size)
elif view == "Text → images":
    search_gallery(model, tok)
elif view == "Similarity matrix":
    similarity_matrix()
else:
    match_map(size)
