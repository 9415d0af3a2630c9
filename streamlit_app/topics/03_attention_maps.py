"""Attention maps: where a ViT's [CLS] token looks, per layer and head, for DINO, a supervised
ViT and a random one; thresholded masks and their Jaccard against the true object masks; the
attention of any patch; attention rollout."""

import common
import streamlit as st
import torch

from course_lib.data.rendered import IMAGENET_MEAN, IMAGENET_STD, SHAPES_MEAN, SHAPES_STD, standardize
from course_lib.evaluate import attention_jaccard, threshold_attention
from course_lib.evaluate.attention_maps import attention_rows
from course_lib.viz.dino import heat_overlay, mask_overlay, tile, to_rgb_array, upscale

BUNDLED = {
    "DINO (dino-vit-shapes)": "dino-vit-shapes",
    "supervised (supervised-vit-shapes)": "supervised-vit-shapes",
}
RANDOM = "random init (same ViT, untrained)"
IMAGENET = (list(IMAGENET_MEAN), list(IMAGENET_STD))

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
    image = torch.frombuffer(bytearray(image_bytes), dtype=torch.float32).reshape(shape)
    x = standardize(image[None], *stats)  # (1, 3, H, W)
    rows, roll = attention_rows(model, x, queries=(0, query), rollout=rollout)
    return rows[:, 0], (roll[0] if rollout else None)  # (layers, heads, 2, N), (2, N)


def grid_of(rows, p, size):
    """(heads, N) rows → (heads, h, w) maps over the patches (the [CLS] column dropped)."""
    h = w = size // p
    return rows[:, 1:].reshape(-1, h, w)


def show_grid(image, maps_per_layer, zoom, caption):
    """A layer × (heads + mean) grid of overlays as one image."""
    tiles = []
    for maps in maps_per_layer:  # (heads, h, w)
        tiles += [heat_overlay(image, m) for m in maps] + [heat_overlay(image, maps.mean(0))]
    ncols = maps_per_layer[0].shape[0] + 1
    st.image(upscale(tile(tiles, ncols), zoom).clip(0, 1), caption=caption)


# -- controls ------------------------------------------------------------------------------------
choices = list(BUNDLED) + [RANDOM] + list(official_choices())
choice = st.selectbox("Model", choices, index=0)
model, size, stats, note = load_model(choice)
if note:
    st.info(note)
if choice in official_choices():  # the official ViTs take any multiple of their patch size
    size = st.select_slider("Input size (pixels)", [224, 320, 480], value=224)
image, item = common.image_picker("attn", size)
if image is None:
    st.stop()

p = model.config.patch_size
h = w = size // p
depth, heads = len(model.blocks), model.blocks[0].attn.num_heads
c1, c2, c3 = st.columns(3)
mass = c1.slider("Attention mass kept", 0.05, 0.95, 0.6, 0.05)
layer = c2.slider("Layer for masks and queries", 1, depth, depth) - 1
q_row = c3.number_input("Query patch row", 0, h - 1, h // 2)
q_col = c3.number_input("Query patch column", 0, w - 1, w // 2)
query = 1 + int(q_row) * w + int(q_col)

image = image.float().contiguous()
thumb_side = h * max(1, 128 // h)  # drawings at ~128 px: a 480-px image has 72 maps to draw
thumb = torch.nn.functional.interpolate(
    image[None], size=(thumb_side, thumb_side), mode="bilinear", antialias=True, align_corners=False
)[0].clamp(0, 1)
zoom = max(1, 256 // thumb_side)
small = h * w <= 1024  # rollout multiplies (N × N) maps: instant at 64 px, seconds at 480 px
rollout = small or st.checkbox("Compute attention rollout (slow for large images)", value=False)
rows, roll = compute(choice, image.numpy().tobytes(), tuple(image.shape), query, rollout)
cls_maps = [grid_of(rows[L, :, 0], p, size) for L in range(depth)]  # each (heads, h, w)

tab_cls, tab_mask, tab_query, tab_roll = st.tabs(
    ["[CLS] per layer and head", "Thresholded masks", "Attention of any patch", "Rollout"]
)
with tab_cls:
    st.caption(
        f"Rows: layers 1–{depth}; columns: heads 1–{heads}, then the mean over heads. "
        "Each map is scaled to its own maximum."
    )
    show_grid(thumb, cls_maps, 1, "[CLS] attention")

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
    q_maps = [grid_of(rows[L, :, 1], p, size) for L in range(depth)]
    marked = to_rgb_array(thumb).copy()
    s = thumb_side // h  # pixels per patch in the drawing
    marked[int(q_row) * s : (int(q_row) + 1) * s, int(q_col) * s : (int(q_col) + 1) * s] = [0.1, 0.8, 1.0]
    st.image(upscale(marked, zoom), caption=f"query patch ({int(q_row)}, {int(q_col)})", width=160)
    show_grid(thumb, q_maps, 1, "attention of the query patch")

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
