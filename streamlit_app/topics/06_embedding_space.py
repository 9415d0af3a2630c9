"""Embedding space: held-out ShapesWorld images embedded by an encoder, in 2-D, coloured by label.

Pick a point (click it, or type its number) to see its nearest neighbours; below, two random
views of an image as SimCLR draws them.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `import common`

import streamlit as st  # noqa: E402
import torch  # noqa: E402
from common import sample_images, show_error, to_numpy_image  # noqa: E402

SIMCLR = "simclr-resnet-shapes"
SUPERVISED = ("supervised-resnet-shapes", "supervised-vit-shapes")
ENCODERS = {
    "Random init (untrained ResNet)": None,
    "Supervised (trained with labels)": SUPERVISED,
    "SimCLR (NT-Xent, no labels)": (SIMCLR,),
}
NEIGHBOURS = 8


@st.cache_resource(show_spinner="Loading the encoder…")
def load_encoder(choice):
    """(model, input dict of its card) for an entry of ENCODERS; CheckpointError when none is bundled."""
    from course_lib.checkpoints import CheckpointError, card, list_pretrained, load_pretrained
    from course_lib.data.rendered import SHAPES_MEAN, SHAPES_STD
    from course_lib.simclr import simclr_resnet

    names = ENCODERS[choice]
    if names is None:
        torch.manual_seed(0)
        return simclr_resnet().eval(), {"img_size": 64, "mean": SHAPES_MEAN, "std": SHAPES_STD}
    bundled = [n for n in names if n in list_pretrained("bundled")]
    if not bundled:
        raise CheckpointError(
            f"No bundled checkpoint for this encoder ({', '.join(names)}): train it with "
            "`python -m course_lib.train` (see the notebook 06) or choose another encoder."
        )
    return load_pretrained(bundled[0]), card(bundled[0])["input"]


@st.cache_data(show_spinner="Embedding held-out images…")
def embedding(choice, n):
    """(coords (n, 2), h (n, F), labels (n,), colours (n,), captions) for n held-out images."""
    from course_lib.data.shapes import ShapesWorld
    from course_lib.evaluate.probes import embed
    from course_lib.viz.contrastive import pca_2d

    model, preprocessing = load_encoder(choice)
    images, items = sample_images(n, preprocessing["img_size"])
    h = embed(model, images, preprocessing["mean"], preprocessing["std"])  # (n, F)
    labels = torch.tensor([it["label"] for it in items])
    main_colors = [max(it["objects"], key=lambda o: o["area"])["color"] for it in items]
    colors = torch.tensor([ShapesWorld.COLORS.index(c) for c in main_colors])
    return pca_2d(h), h, labels, colors, [it["caption"] for it in items]


def knn_leave_one_out(h, labels, k=20):
    """Accuracy of a k-NN vote (cosine) among the other shown images."""
    x = torch.nn.functional.normalize(h, dim=1)
    sims = x @ x.T  # (n, n)
    sims.fill_diagonal_(-2.0)
    votes = labels[sims.topk(k, dim=1).indices]  # (n, k)
    return (votes.mode(dim=1).values == labels).float().mean().item()


def select_point():
    """Plotly click → the query number input (runs before the page reruns)."""
    points = st.session_state["scatter"].selection.points
    if points and "customdata" in points[0]:
        st.session_state["query"] = int(points[0]["customdata"])


def embedding_panel():
    from course_lib.checkpoints import CheckpointError
    from course_lib.data.shapes import COLOR_RGB, ShapesWorld
    from course_lib.evaluate.probes import nearest_neighbours
    from course_lib.viz.contrastive import embedding_scatter

    col_a, col_b = st.columns([2, 1])
    choice = col_a.selectbox("Encoder", list(ENCODERS), index=2)
    n = col_b.select_slider("Held-out images", [200, 400, 800], value=400)
    try:
        coords, h, labels, colors, captions = embedding(choice, n)
    except (CheckpointError, ImportError) as err:
        show_error(str(err))
        return
    by_color = st.radio("Colour the points by", ["shape (the label)", "colour of the largest object"],
                        horizontal=True) != "shape (the label)"
    m1, m2 = st.columns(2)
    m1.metric(f"20-NN shape accuracy among these {n} images", f"{100 * knn_leave_one_out(h, labels):.1f} %")
    m2.metric("20-NN colour accuracy (not the label)", f"{100 * knn_leave_one_out(h, colors):.1f} %",
              help="How much colour h keeps. The label never depends on colour.")
    if st.session_state.get("query", 0) >= n:
        st.session_state["query"] = 0
    query = st.number_input("Query image (or click a point)", 0, n - 1, key="query")
    idx, sims = nearest_neighbours(h, query, NEIGHBOURS)
    if by_color:
        palette = [f"rgb{tuple(int(255 * v) for v in COLOR_RGB[c])}" for c in ShapesWorld.COLORS]
        fig = embedding_scatter(coords, colors, ShapesWorld.COLORS, title=f"{choice}: principal axes of h",
                                hover=captions, highlight=[query, *idx.tolist()], class_colors=palette,
                                legend_title="colour")
    else:
        fig = embedding_scatter(coords, labels, ShapesWorld.SHAPES, title=f"{choice}: principal axes of h",
                                hover=captions, highlight=[query, *idx.tolist()])
    st.plotly_chart(fig, key="scatter", on_select=select_point, selection_mode="points")
    images, _ = sample_images(n, load_encoder(choice)[1]["img_size"])
    st.caption(f"Query #{query}: {captions[query]}. Its {NEIGHBOURS} nearest neighbours (cosine of h):")
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
    images, _ = sample_images(200, 64)
    with torch.random.fork_rng():
        torch.manual_seed(st.session_state.get("views_seed", 0))
        views = [TwoViews(64, crop=crop, color=color)(images[index][None]) for _ in range(2)]
    shown = [images[index]] + [v[0] for pair in views for v in pair]
    st.image([to_numpy_image(x) for x in shown], caption=["x", "t(x)", "t′(x)", "t″(x)", "t‴(x)"], width=120)


st.title("Embedding space")
st.write("Each dot is a held-out ShapesWorld image, placed by the two principal axes of its "
         "representation h = f(x) and coloured by its label (the shape of its largest object). "
         "Compare the encoders, then colour the points by colour instead: the bundled SimCLR encoder "
         "groups images by colour far more than by shape, because colour is what tells two images "
         "apart and survives its colour jitter (see notebook 06).")
try:
    from course_lib.data import shapes  # noqa: F401
except ImportError:
    show_error("ShapesWorld is not available in this checkout: update course_lib.")
else:
    embedding_panel()
    views_panel()
