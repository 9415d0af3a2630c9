"""The layer × head grid of attention maps as one labelled matplotlib figure, and the set-level
Jaccard table that goes above it.

Rows are "layer 1" … "layer L", columns "head 1" … "head H" (then "mean of heads"): 1-based, as
everywhere in the kit's figures and app. Each map is scaled to its own maximum, so the one colour
bar reads "share of that map's maximum". The figure is laid out in pixels (no layout engine), the
tiles drawn as one image, so a 6 × 4 grid draws and encodes in about a tenth of a second.
"""

import torch

from course_lib.viz.data import to_numpy_image
from course_lib.viz.dino import heat_overlay, tile

# margins around the tiles, in pixels: row labels, column labels (+ a title), colour bar and its label
LEFT, TOP, TITLE, BOTTOM, PAD, BAR, BAR_LABELS = 34, 26, 26, 8, 4, 16, 70


def tile_side(h, tile_px):
    """The side in pixels of a tile over an h-patch grid: a multiple of h, about `tile_px`."""
    return h * max(1, round(tile_px / h))


def labelled_attention_grid(image, maps, mean_column=True, title=None, mark=None, tile_px=160, dpi=100,
                            cmap="inferno"):
    """Layer × head grid of attention overlays, labelled on the figure, with a colour bar.

    Args:
        image: (3, H, W) in [0, 1], drawn under every map.
        maps: (layers, heads, h, w) attention over the patch grid (e.g. the [CLS] row).
        mean_column: add a last column with the mean over heads.
        mark: (row, col) of a patch to outline in cyan in every tile (the query patch), or None.
        tile_px: about the side of each tile in pixels (a multiple of h, so each patch is a block).

    Returns a Figure drawn pixel for pixel at `dpi`: axes 0 holds the tiles as one image (one
    imshow is 20× faster than an axes per tile) with the row and column labels as its texts;
    axes 1 is the colour bar.
    """
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure

    L, heads, h, w = maps.shape
    maps = maps.detach().float().cpu()
    if mean_column:
        maps = torch.cat([maps, maps.mean(1, keepdim=True)], dim=1)  # (L, heads + 1, h, w)
    n_cols, side = maps.shape[1], tile_side(h, tile_px)
    thumb = resize_square(image, side)  # (3, side, side)
    tiles = [outline(heat_overlay(thumb, m, cmap=cmap), mark, h) for m in maps.flatten(0, 1)]  # row-major
    grid = tile(tiles, n_cols, pad=PAD)  # (L·(side+PAD)-PAD, n_cols·(side+PAD)-PAD, 3)
    gh, gw = grid.shape[:2]
    top = TOP + TITLE * bool(title)
    W, H = LEFT + gw + 3 * PAD + BAR + BAR_LABELS, top + gh + BOTTOM
    fig = Figure(figsize=(W / dpi, H / dpi), dpi=dpi)
    ax = fig.add_axes((LEFT / W, BOTTOM / H, gw / W, gh / H))
    ax.imshow(grid.clip(0, 1), interpolation="nearest")
    ax.set_axis_off()
    names = [f"head {i + 1}" for i in range(heads)] + (["mean of heads"] if mean_column else [])
    for c, name in enumerate(names):
        ax.text(c * (side + PAD) + side / 2, -6, name, ha="center", va="bottom", fontsize=10)
    for r in range(L):
        ax.text(-6, r * (side + PAD) + side / 2, f"layer {r + 1}", ha="right", va="center", rotation=90,
                fontsize=10)
    cax = fig.add_axes(((W - BAR - BAR_LABELS) / W, (BOTTOM + 0.1 * gh) / H, BAR / W, 0.8 * gh / H))
    bar = fig.colorbar(ScalarMappable(Normalize(0, 1), cmap), cax=cax)
    bar.set_label("attention ÷ the map's own maximum", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=11, y=1 - 4 / H, va="top")
    return fig


def resize_square(image, side):
    """(3, H, W) in [0, 1] → (3, side, side), antialiased."""
    return torch.nn.functional.interpolate(
        image[None].float(), size=(side, side), mode="bilinear", antialias=True, align_corners=False
    )[0].clamp(0, 1)


def outline(tile_rgb, mark, h, width=2, color=(0.1, 0.9, 1.0)):
    """Draw a square around patch `mark` = (row, col) of an h × h grid into an (S, S, 3) tile."""
    if mark is None:
        return tile_rgb
    s = tile_rgb.shape[0] // h  # pixels per patch
    r0, c0 = mark[0] * s, mark[1] * s
    box = tile_rgb[r0 : r0 + s, c0 : c0 + s]  # a view: painting it paints the tile
    box[:width], box[-width:], box[:, :width], box[:, -width:] = color, color, color, color
    return tile_rgb


def figure_png(fig):
    """PNG bytes of a Figure (the app caches these, so a rerun does not draw it again)."""
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=fig.dpi, pil_kwargs={"compress_level": 1})  # fast to encode
    return buffer.getvalue()


# -- the set-level comparison ---------------------------------------------------------------------
JACCARD_MODELS = {"random": "random init", "supervised": "supervised", "dino": "DINO"}


def set_level_jaccard_table(results):
    """Best-head Jaccard of each model on each held-out set, as columns for a table.

    Args:
        results: {column name: the JSON of `python -m course_lib.experiments dino compare`}.

    Returns {"model": [random init, supervised, DINO, centred blob], column: [values]}; a model
    missing from a file gets None.
    """
    labels = [key for key in JACCARD_MODELS if any(key in r for r in results.values())]
    table = {"model": [JACCARD_MODELS[k] for k in labels] + ["a fixed centred blob"]}
    for column, result in results.items():
        values = [result[k]["best_head"] if k in result else None for k in labels]
        table[column] = values + [result["_reference"]["centred_blob_jaccard"]]
    return table


def held_out_column(result):
    """'test images 0–499' for a result whose reference says first_test_image 0 and n_test 500."""
    ref = result["_reference"]
    start = ref["first_test_image"]
    return f"test images {start:,}–{start + ref['n_test'] - 1:,}"


def reproduce_commands(results):
    """The recorded command of each result, in order (what the app prints under the table)."""
    return [r["_reference"]["command"] for r in results.values()]



# -- clicking a patch -----------------------------------------------------------------------------
def patch_from_selection(selection, grid, side):
    """The patch a click chose, from the selection state of `st.plotly_chart(on_select=...)`.

    Args:
        selection: {"selection": {"points": [{"x": ..., "y": ...}, ...]}} (or None), coordinates in
            the pixels of a `side` × `side` image; the last point counts.
        grid: (h, w) patches.

    Returns ((row, col) or None, one sentence or None): no point gives (None, None); a point
    outside the image gives (None, the sentence).
    """
    points = ((selection or {}).get("selection") or {}).get("points") or []
    if not points:
        return None, None
    x, y = points[-1].get("x"), points[-1].get("y")
    inside = all(isinstance(v, (int, float)) and 0 <= v < side for v in (x, y))
    if not inside:
        return None, "That click was outside the image: click on one of its patches."
    h, w = grid
    return (int(y * h // side), int(x * w // side)), None


def patch_picker_figure(image, grid, query, neighbours=()):
    """A plotly figure of the image with one clickable marker per patch centre.

    The query patch is a cyan square and its nearest patches (a list of (row, col)) white circles.
    """
    import plotly.graph_objects as go

    img = (to_numpy_image(image) * 255).round().astype("uint8")  # (S, S, 3)
    side, (h, w) = img.shape[0], grid
    ph, pw = side / h, side / w
    rows, cols = zip(*[(r, c) for r in range(h) for c in range(w)])
    fig = go.Figure(go.Image(z=img, hoverinfo="skip"))
    centre = dict(x=[(c + 0.5) * pw for c in cols], y=[(r + 0.5) * ph for r in rows])
    hover = [f"patch ({r + 1}, {c + 1})" for r, c in zip(rows, cols)]
    fig.add_scatter(**centre, mode="markers", marker=dict(size=max(4, 200 // h), opacity=0.15, color="white"),
                    hovertext=hover, hoverinfo="text", name="patches")
    for (r, c), style in [(n, dict(symbol="circle-open", color="white")) for n in neighbours] + [
        (query, dict(symbol="square-open", color="cyan"))
    ]:
        fig.add_scatter(x=[(c + 0.5) * pw], y=[(r + 0.5) * ph], mode="markers", hoverinfo="skip",
                        marker=dict(size=max(8, 300 // h), line=dict(width=3), **style), showlegend=False)
    fig.update_layout(width=360, height=360, margin=dict(l=0, r=0, t=0, b=0), showlegend=False,
                      clickmode="event+select", dragmode=False)
    fig.update_xaxes(visible=False, range=[0, side]), fig.update_yaxes(visible=False, range=[side, 0])
    return fig


def nearest_patches(features, query, k=8):
    """The k patches most like the query by cosine similarity of their features.

    Args:
        features: (L, D) patch features (no [CLS]); query: index in 0 … L-1.

    Returns (indices (k,) best first, the query excluded; similarity to the query (L,)).
    """
    f = torch.nn.functional.normalize(features.float(), dim=-1)  # (L, D), unit rows
    sims = f @ f[query]  # (L,) cosine similarity to the query patch
    order = sims.argsort(descending=True)
    return order[order != query][:k], sims
