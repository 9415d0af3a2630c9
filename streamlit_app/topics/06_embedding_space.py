"""Embedding space: held-out ShapesWorld images embedded by any bundled encoder, in 2-D, coloured
by the main object's shape, colour or pattern, beside what a k-NN on those features predicts.

The features are taken exactly as `python -m course_lib.experiments ssl-cues` takes them (its
`encoders()`: [CLS] or h = f(x), MAE's mean patch token, CLIP's `encode_image`), so the scatter and
the recorded table beside it describe the same vectors. Pick a point (click it, or type its number)
to see its nearest neighbours; below, two random views of an image as SimCLR draws them.
"""

import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `import common`

import common  # noqa: E402
import streamlit as st  # noqa: E402
import torch  # noqa: E402
from common import sample_images, show_error, to_numpy_image  # noqa: E402

# every encoder of `course_lib.experiments.ssl_cues` (the keys of data/results/ssl_cues.json)
DESCRIPTIONS = {
    "simclr-resnet-shapes": "SimCLR ResNet (NT-Xent, no labels)",
    "dino-vit-shapes": "DINO ViT (self-distillation, no labels)",
    "mae-vit-shapes": "MAE ViT (masked pixels, no labels; mean patch token)",
    "clip-shapes": "CLIP image tower (trained on captions)",
    "supervised-resnet-shapes": "Supervised ResNet (trained on the shape label)",
    "supervised-vit-shapes": "Supervised ViT (trained on the shape label)",
    "random-init-vit": "Random init ViT (untrained)",
}
COLOURINGS = {"shape": "shape (the label)", "color": "colour", "pattern": "pattern"}  # of the main object
CUES = {"shape": "shape", "color": "colour", "pattern": "pattern", "size_word": "size (small / large)",
        "n_objects": "number of objects", "second_shape": "second object's shape"}
IMG_SIZE = 64  # the size ssl-cues embeds at, and every bundled card's input size
NEIGHBOURS = 8


def encoder_names():
    """The encoders ssl-cues measures, in this page's order (any new one last)."""
    from course_lib.experiments.ssl_cues import ENCODERS

    measured = [*ENCODERS, "random-init-vit"]
    return [n for n in DESCRIPTIONS if n in measured] + [n for n in measured if n not in DESCRIPTIONS]


@st.cache_resource(show_spinner="Loading the bundled encoders…")
def load_encoders():
    """{name: (model, features, mean, std)}: every bundled encoder, as ssl-cues embeds it."""
    from course_lib.experiments.ssl_cues import encoders

    return encoders()


@st.cache_resource(show_spinner=False)
def held_out(n):
    """(images (n, 3, 64, 64), item dicts) of the first n held-out images: one shared copy.

    A cache_resource, not sample_images' cache_data, because the items hold their objects' masks
    (about 40 MB for 400 images), which cache_data would unpickle on every rerun.
    """
    return sample_images(n, IMG_SIZE)


@st.cache_data(show_spinner=False)
def embedding(name, n):
    """(coords (n, 2), h (n, D)) of the first n held-out images, embedded by encoder `name`."""
    from course_lib.evaluate.probes import embed
    from course_lib.viz.contrastive import pca_2d

    model, features, mean, std = load_encoders()[name]
    images, _ = held_out(n)
    h = embed(model, images, mean, std, features=features)  # (n, D)
    return pca_2d(h), h


def main_object_labels(items, attribute):
    """(labels (n,) ints, class names) of the main (largest) object's `attribute`, as ssl-cues counts it."""
    from course_lib.data.shapes import ShapesWorld

    names = {"shape": ShapesWorld.SHAPES, "color": ShapesWorld.COLORS,
             "pattern": ShapesWorld.PATTERNS}[attribute]
    return torch.tensor([names.index(it["objects"][0][attribute]) for it in items]), names


def read_cues():
    """data/results/ssl_cues.json, loaded, or None when this copy has not recorded it."""
    try:
        return json.loads((common.ROOT / "data" / "results" / "ssl_cues.json").read_text())
    except (OSError, json.JSONDecodeError):
        return None


def cues_panel(name):
    """The recorded k-NN accuracy of each cue for encoder `name`, beside the majority-class baseline."""
    import pandas as pd

    st.markdown("**What a k-NN on these features predicts**")
    results = read_cues()
    if results is None:
        st.info("No k-NN figures are recorded in this copy (data/results/ssl_cues.json is missing): "
                "measure them with `python -m course_lib.experiments ssl-cues`.")
        return
    if name not in results:
        st.info(f"data/results/ssl_cues.json has no row for {name}: re-run "
                "`python -m course_lib.experiments ssl-cues` to measure it.")
        return
    rows = [{"cue": label, "k-NN": results[name][cue], "majority": results["_majority"][cue]}
            for cue, label in CUES.items() if cue in results[name]]
    st.dataframe(pd.DataFrame(rows), hide_index=True, key="cues", column_config={
        "k-NN": st.column_config.ProgressColumn(format="percent", min_value=0.0, max_value=1.0,
                                                help="weighted 20-NN accuracy on held-out test images"),
        "majority": st.column_config.NumberColumn(format="percent",
                                                  help="always guessing the most common value"),
    })
    protocol = results.get("_protocol", {})
    command = protocol.get("command", "python -m course_lib.experiments ssl-cues")
    n_train = re.search(r"--n-train (\d+)", command)
    knn = protocol.get("knn", "weighted k-NN").replace("n_train", n_train[1] if n_train else "n_train")
    st.caption(f"Main object = the largest. {knn[:1].upper() + knn[1:]}; "
               f"{protocol.get('test', 'held-out test images')}. Reproduce with `{command}`.")


def select_point():
    """Plotly click → the query number input (runs before the page reruns)."""
    points = st.session_state["scatter"].selection.points
    if points and "customdata" in points[0]:
        st.session_state["query"] = int(points[0]["customdata"])


def scatter_panel(name, coords, items, query, highlight):
    from course_lib.data.shapes import COLOR_RGB
    from course_lib.viz.contrastive import embedding_scatter

    attribute = st.selectbox("Colour the points by the main object's", list(COLOURINGS),
                             format_func=COLOURINGS.get, key="colouring")
    labels, names = main_object_labels(items, attribute)
    palette = None
    if attribute == "color":  # each colour drawn in itself
        palette = [f"rgb{tuple(int(255 * v) for v in COLOR_RGB[c])}" for c in names]
    fig = embedding_scatter(coords, labels, names, title=f"{name}: principal axes of its features",
                            hover=[it["caption"] for it in items], highlight=[query, *highlight],
                            class_colors=palette, legend_title=COLOURINGS[attribute])
    st.plotly_chart(fig, key="scatter", on_select=select_point, selection_mode="points")


def embedding_panel():
    from course_lib.evaluate.probes import nearest_neighbours

    col_a, col_b = st.columns([2, 1])
    name = col_a.selectbox("Encoder", encoder_names(), key="encoder",
                           format_func=lambda n: f"{DESCRIPTIONS.get(n, n)} · {n}")
    n = col_b.select_slider("Held-out images", [200, 400, 800], value=400)
    if name not in load_encoders():
        show_error(f"{name} is not in this checkout's bundle of checkpoints: train it (see its notebook) "
                   "or choose another encoder.")
        cues_panel(name)
        return
    with st.spinner(f"Embedding {n} held-out images with {name}…"):
        coords, h = embedding(name, n)
    images, items = held_out(n)
    if st.session_state.get("query", 0) >= n:
        st.session_state["query"] = 0
    query = st.number_input("Query image (or click a point)", 0, n - 1, key="query")
    idx, sims = nearest_neighbours(h, query, NEIGHBOURS)
    left, right = st.columns([3, 2])
    with left:
        scatter_panel(name, coords, items, query, idx.tolist())
    with right:
        cues_panel(name)
    st.caption(f"Query #{query}: {items[query]['caption']}. Its {NEIGHBOURS} nearest neighbours (cosine):")
    st.image([to_numpy_image(images[query])] + [to_numpy_image(images[i]) for i in idx.tolist()],
             caption=["query"] + [f"#{i} · {s:.2f}" for i, s in zip(idx.tolist(), sims.tolist())], width=88)


def views_panel():
    from course_lib.data.augment import TwoViews

    st.subheader("Two views, as SimCLR draws them")
    st.caption("t, t′ ~ T: random resized crop and flip, then colour distortion. The loss asks the "
               "model to map both views close together, and away from the other images' views.")
    c1, c2, c3, c4 = st.columns(4)
    index = c1.number_input("Image", 0, 199, 0, key="views_image")
    crop = c2.checkbox("Crop + flip", True)
    color = c3.checkbox("Colour distortion", True)
    if c4.button("Draw new views"):
        st.session_state["views_seed"] = st.session_state.get("views_seed", 0) + 1
    images, _ = held_out(200)
    with torch.random.fork_rng():
        torch.manual_seed(st.session_state.get("views_seed", 0))
        views = [TwoViews(64, crop=crop, color=color)(images[index][None]) for _ in range(2)]
    shown = [images[index]] + [v[0] for pair in views for v in pair]
    st.image([to_numpy_image(x) for x in shown], caption=["x", "t(x)", "t′(x)", "t″(x)", "t‴(x)"], width=120)


st.title("Embedding space")
st.write("Each dot is a held-out ShapesWorld image, placed by the two principal axes of an encoder's "
         "frozen features and coloured by its main (largest) object's shape, colour or pattern. "
         "Beside it, what a k-NN on the same features predicts, measured on other held-out images. "
         "In the recorded run, SimCLR, DINO and MAE predict the main object's colour far better than "
         "its shape (about as badly as an untrained ViT does): colour is what tells two images "
         "apart, so that is what they kept; the supervised encoders, trained on the shape, keep it.")
try:
    from course_lib.data import shapes  # noqa: F401
except ImportError:
    show_error("ShapesWorld is not available in this checkout: update course_lib.")
else:
    embedding_panel()
    views_panel()
