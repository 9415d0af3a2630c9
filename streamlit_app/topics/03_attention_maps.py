"""Attention maps: where a ViT's [CLS] token looks, per layer and head, for DINO, a supervised
ViT and a random one; thresholded masks and their Jaccard against the true object masks; the
attention of any patch; attention rollout."""

import common
import streamlit as st
import torch

from course_lib.data.rendered import IMAGENET_MEAN, IMAGENET_STD, SHAPES_MEAN, SHAPES_STD, standardize
from course_lib.evaluate import attention_jaccard, threshold_attention
from course_lib.evaluate.attention_maps import attention_rows
from course_lib.viz.attention_grid import (
    figure_png,
    held_out_column,
    labelled_attention_grid,
    nearest_patches,
    patch_from_selection,
    patch_picker_figure,
    reproduce_commands,
    set_level_jaccard_table,
)
from course_lib.viz.dino import heat_overlay, mask_overlay, tile, upscale

BUNDLED = {
    "DINO (dino-vit-shapes)": "dino-vit-shapes",
    "supervised (supervised-vit-shapes)": "supervised-vit-shapes",
}
RANDOM = "random init (same ViT, untrained)"
IMAGENET = (list(IMAGENET_MEAN), list(IMAGENET_STD))
RESULTS = tuple(common.ROOT / "data" / "results" / f"dino_jaccard{tail}.json" for tail in ("", "_unseen"))
CLICK = "attn_click"  # the patch picker's selection state in st.session_state

st.title("Attention maps")
st.markdown(
    "A ViT's [CLS] token gathers the image through attention. DINO, trained with **no labels**, "
    "learns heads whose [CLS] attention outlines the objects; a supervised ViT and an untrained "
    "one are here for comparison. DINO's measurement keeps the smallest set of patches that "
    "holds a given **mass** of a head's attention (60% in the paper) and compares it with the "
    "true mask by Jaccard (intersection over union)."
)


def official_choices():
    """Official DINO backbones whose weights are already in the download cache."""
    from course_lib.checkpoints import cache_dir
    from course_lib.official.dino import OFFICIAL_BACKBONES, official_url

    return {
        f"official {name} (downloaded)": name
        for name in OFFICIAL_BACKBONES
        if (cache_dir() / official_url(name).rsplit("/", 1)[-1]).exists()
    }


@st.cache_resource(show_spinner=False)
def load_model(choice):
    """(model, image size, (mean, std), note or None) for a menu entry."""
    from course_lib.checkpoints import CheckpointError, card, list_pretrained, load_pretrained
    from course_lib.official.dino import load_official
    from course_lib.vit import vit_tiny

    official = official_choices()
    if choice in official:
        return load_official(official[choice]), 224, IMAGENET, None
    name = BUNDLED.get(choice)
    note = None
    if name is not None:
        if name in list_pretrained("bundled"):
            try:
                info = card(name)["input"]
                return load_pretrained(name), info["img_size"], (info["mean"], info["std"]), None
            except CheckpointError as err:
                note = f"{err} Showing a random-init ViT of the same shape instead."
        else:
            note = (
                f"`{name}` is not bundled in this checkout yet: showing a random-init ViT of the same "
                f"shape instead (train it with `python -m course_lib.train "
                f"{'dino' if name.startswith('dino') else 'supervised-vit'} --bundle {name}`)."
            )
    torch.manual_seed(0)
    model = vit_tiny(patch_size=8, img_size=64, depth=6, num_classes=0).eval()
    return model, 64, (SHAPES_MEAN, SHAPES_STD), note


@st.cache_data(show_spinner=False, max_entries=32)
def compute(choice, image_bytes, shape, query, rollout):
    """[CLS] and query-patch rows of every layer (and the rollout's) for one image."""
    model, _, stats, _ = load_model(choice)
    x = model_input(image_bytes, shape, stats)  # (1, 3, H, W)
    rows, roll = attention_rows(model, x, queries=(0, query), rollout=rollout)
    return rows[:, 0], (roll[0] if rollout else None)  # (layers, heads, 2, N), (2, N)


def model_input(image_bytes, shape, stats):
    """The image's bytes → the standardized batch (1, 3, H, W) the model takes."""
    image = torch.frombuffer(bytearray(image_bytes), dtype=torch.float32).reshape(shape)
    return standardize(image[None], *stats)


@st.cache_data(show_spinner=False, max_entries=32)
def patch_features(choice, image_bytes, shape):
    """The last layer's patch features (L, D) of one image, or None for a model without them."""
    model, _, stats, _ = load_model(choice)
    if not hasattr(model, "forward_features"):
        return None
    with torch.no_grad():
        return model.forward_features(model_input(image_bytes, shape, stats))[0, 1:]  # (L, D)


@st.cache_data(show_spinner=False, max_entries=32)
def grid_png(maps, thumb, title, mark=None):
    """PNG of the labelled layer × head grid (numpy arguments, so the cache hashes them quickly).

    maps: (layers, heads, h, w); thumb: (3, S, S), the image drawn under them.
    """
    fig = labelled_attention_grid(torch.from_numpy(thumb), torch.from_numpy(maps), title=title, mark=mark)
    return figure_png(fig)


def resized(image, side):
    """(3, H, W) → (3, side, side) in [0, 1], antialiased."""
    return torch.nn.functional.interpolate(
        image[None], size=(side, side), mode="bilinear", antialias=True, align_corners=False
    )[0].clamp(0, 1)


def patch_name(patch):
    """(row, col), 0-based → 'row 3, column 5' (1-based, as on every label)."""
    return f"(row {patch[0] + 1}, column {patch[1] + 1})"


def grid_of(rows, p, size):
    """(heads, N) rows → (heads, h, w) maps over the patches (the [CLS] column dropped)."""
    h = w = size // p
    return rows[:, 1:].reshape(-1, h, w)


@st.cache_data(show_spinner=False)
def jaccard_results(paths):
    """{column: result JSON} for the result files that exist (none: {})."""
    import json

    found = [json.loads(path.read_text()) for path in paths if path.exists()]
    return {held_out_column(r): r for r in found}


def show_set_level_jaccard():
    """The table of each model's best-head Jaccard over the held-out test sets, and its commands."""
    results = jaccard_results(RESULTS)
    if not results:
        st.caption("The set-level comparison is not in this checkout (`data/results/dino_jaccard.json`).")
        return
    st.markdown("**Best-head Jaccard over whole held-out sets** (last layer, 60% of the attention mass)")
    table = set_level_jaccard_table(results)
    st.dataframe(table, hide_index=True, column_config={c: st.column_config.NumberColumn(format="%.3f")
                                                         for c in table if c != "model"})
    commands = " and ".join(f"`{c}`" for c in reproduce_commands(results))
    st.caption(
        "Measured on held-out ShapesWorld test images, which no model trained on (the samples below are "
        f"test images 0–7); one sample can rank the models differently. Reproduce with {commands}."
    )


def apply_click(h, w, side):
    """A new click on the patch picker becomes the query patch (written into the number inputs)."""
    state = st.session_state.get(CLICK)
    patch, error = patch_from_selection(state, (h, w), side)
    if error:
        common.show_error(error)
    key = repr(((state or {}).get("selection") or {}).get("points", [])[-1:])  # the click, not the patch
    if patch is None:  # a second click on a patch deselects it: the next click counts again
        st.session_state.pop("attn_click_applied", None)
    elif st.session_state.get("attn_click_applied") != key:
        st.session_state["attn_click_applied"] = key
        st.session_state["attn_q_row"], st.session_state["attn_q_col"] = patch[0] + 1, patch[1] + 1


def show_query_patch(key, thumb, grid, patch, k=8):
    """The clickable image (query patch in cyan, its k most similar patches circled) and the
    cosine-similarity map of the last layer's patch features."""
    h, w = grid
    features = patch_features(*key)
    near, sims = [], None
    if features is None:
        st.caption("This model gives no patch features: only the attention below is shown.")
    else:
        index, sims = nearest_patches(features, patch[0] * w + patch[1], k)
        near = [divmod(int(i), w) for i in index]
    left, right = st.columns(2)
    with left:
        st.markdown(f"**Click a patch** — query {patch_name(patch)}; white circles: its {k} most similar")
        st.plotly_chart(patch_picker_figure(thumb, grid, patch, near), key=CLICK, on_select="rerun",
                        selection_mode="points", width="content", theme=None,
                        config={"displayModeBar": False})
    if sims is not None:
        similarity = heat_overlay(thumb, sims.reshape(h, w).clamp_min(0))  # (S, S, 3)
        caption = "cosine similarity to the query patch (last layer's features, 0 to its maximum)"
        right.image(upscale(similarity, max(1, 256 // thumb.shape[-1])), caption=caption, width=300)


# -- controls ------------------------------------------------------------------------------------
choices = list(BUNDLED) + [RANDOM] + list(official_choices())
choice = st.selectbox("Model", choices, index=0)
model, size, stats, note = load_model(choice)
if note:
    st.info(note)
if choice in official_choices():  # the official ViTs take any multiple of their patch size
    size = st.select_slider("Input size (pixels)", [224, 320, 480], value=224)
show_set_level_jaccard()
image, item = common.image_picker("attn", size)
if image is None:
    st.stop()

p = model.config.patch_size
h = w = size // p
depth, heads = len(model.blocks), model.blocks[0].attn.num_heads
thumb_side = h * max(1, 128 // h)  # drawings at ~128 px: a 480-px image has 72 maps to draw
apply_click(h, w, thumb_side)  # before the number inputs, which it sets
for key, default in (("attn_q_row", h // 2 + 1), ("attn_q_col", w // 2 + 1)):
    st.session_state[key] = min(max(int(st.session_state.get(key, default)), 1), h)  # a new grid size
c1, c2, c3 = st.columns(3)
mass = c1.slider("Attention mass kept", 0.05, 0.95, 0.6, 0.05)
layer = c2.slider("Layer for masks and queries", 1, depth, depth) - 1
q_row = int(c3.number_input(f"Query patch row (1–{h})", 1, h, key="attn_q_row")) - 1
q_col = int(c3.number_input(f"Query patch column (1–{w})", 1, w, key="attn_q_col")) - 1
query = 1 + q_row * w + q_col  # token index: [CLS] is token 0

image = image.float().contiguous()
thumb = resized(image, thumb_side)
zoom = max(1, 256 // thumb_side)
small = h * w <= 1024  # rollout multiplies (N × N) maps: instant at 64 px, seconds at 480 px
rollout = small or st.checkbox("Compute attention rollout (slow for large images)", value=False)
key = (choice, image.numpy().tobytes(), tuple(image.shape))
with st.spinner("Running the model…"):
    rows, roll = compute(*key, query, rollout)
cls_maps = [grid_of(rows[L, :, 0], p, size) for L in range(depth)]  # each (heads, h, w)
thumb_np = thumb.numpy()

tab_cls, tab_mask, tab_query, tab_roll = st.tabs(
    ["[CLS] per layer and head", "Thresholded masks", "Attention of any patch", "Rollout"]
)
with tab_cls:
    st.caption("Each map is scaled to its own maximum; the last column is the mean over heads.")
    with st.spinner("Drawing the grid…"):
        st.image(grid_png(torch.stack(cls_maps).numpy(), thumb_np, "[CLS] attention"))

with tab_mask:
    maps = cls_maps[layer]  # (heads, h, w)
    kept = threshold_attention(maps, mass)  # (heads, h, w)
    true_mask = item["foreground"] if item is not None else None
    shown_mask = None
    if true_mask is not None:  # the outline at the drawing's size
        shown_mask = (
            torch.nn.functional.interpolate(true_mask[None, None].float(), size=thumb.shape[-2:])[0, 0] > 0.5
        )
    tiles = [mask_overlay(thumb, kept[i], shown_mask) for i in range(heads)]
    tiles.append(mask_overlay(thumb, threshold_attention(maps.mean(0), mass), shown_mask))
    st.image(
        upscale(tile(tiles, heads + 1), zoom).clip(0, 1),
        caption=f"layer {layer + 1}: green = patches holding {mass:.0%} of the attention; "
        "white = the true object outline (ShapesWorld only); last = mean over heads",
    )
    if true_mask is not None:
        scores = attention_jaccard(maps, true_mask, mass)  # (heads,)
        st.table(
            {
                "head": [f"head {i + 1}" for i in range(heads)] + ["mean of heads", "best head"],
                "Jaccard": [f"{s:.3f}" for s in scores.tolist()]
                + [f"{scores.mean():.3f}", f"{scores.max():.3f}"],
            }
        )
    else:
        st.caption("Jaccard needs a true mask: pick a ShapesWorld sample.")

with tab_query:
    show_query_patch(key, thumb, (h, w), (q_row, q_col))
    q_maps = torch.stack([grid_of(rows[L, :, 1], p, size) for L in range(depth)])  # (layers, heads, h, w)
    with st.spinner("Drawing the grid…"):
        title = f"attention of the query patch {patch_name((q_row, q_col))}"
        st.image(grid_png(q_maps.numpy(), thumb_np, title, (q_row, q_col)))

with tab_roll:
    st.caption(
        "Attention rollout (Abnar & Zuidema 2020): per layer, average the heads, add the "
        "residual path (½ I + ½ A), and multiply the layers, so the map shows how much each "
        "patch contributes to the final [CLS] token (left) and to the query patch (right)."
    )
    if roll is None:
        st.stop()
    roll_maps = [roll[i, 1:].reshape(h, w) for i in range(2)]
    st.image(
        upscale(tile([heat_overlay(thumb, m) for m in roll_maps], 2), zoom).clip(0, 1),
        caption="rollout: [CLS] | query patch",
    )
