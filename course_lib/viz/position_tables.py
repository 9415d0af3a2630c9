"""Figures of positional tables: similarity tiles with a colour bar, one patch's similarity in
several tables side by side (with its images under flips and quarter turns marked), and the mean
similarity of patches that share a row, a column or a ring.

Matplotlib is imported inside the functions, so importing this module is cheap.
"""

import numpy as np
import torch

from course_lib.positions import embedding_similarity
from course_lib.viz.vit import position_similarity_figure


def similarity_tiles_figure(similarity, title):
    """The ViT paper's Fig. 7 (centre), `position_similarity_figure`, with its colour bar.

    similarity: (h, w, h, w) from `course_lib.positions.embedding_similarity`. Every tile shares
    one scale, from the smallest similarity present up to 1. Rows and columns are numbered from 0.
    """
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    fig = position_similarity_figure(similarity, title)
    h, w = similarity.shape[:2]
    axes = np.array(fig.axes).reshape(h, w)
    for i in range(h):  # numbered from 0, as the patches are indexed in code
        axes[i, 0].set_ylabel(str(i), fontsize=6, rotation=0, labelpad=6)
    for j in range(w):
        axes[-1, j].set_xlabel(str(j), fontsize=6)
    fig.supylabel("patch row", fontsize=8)
    fig.supxlabel("patch column", fontsize=8)
    low = float(torch.as_tensor(similarity).min())  # the scale position_similarity_figure uses
    bar = fig.colorbar(ScalarMappable(Normalize(low, 1), "viridis"), ax=fig.axes, fraction=0.04, pad=0.03)
    bar.set_label("cosine similarity", fontsize=8)
    bar.ax.tick_params(labelsize=7)
    return fig


def dihedral_images(i, j, n):
    """The positions patch (i, j) of an n × n grid moves to under flips and quarter turns (≤ 8)."""
    images = set()
    for r, c in ((i, j), (j, i)):  # a transpose, then every flip of rows and columns
        for rr in (r, n - 1 - r):
            for cc in (c, n - 1 - c):
                images.add((rr, cc))
    return sorted(images)


def query_similarity_figure(tables, grid, query=(0, 1)):
    """One patch's similarity to every other, in several tables side by side.

    Args:
        tables: {name: (h*w, D) patch rows of a positional table}.
        grid: h = w, patches per side.
        query: (row, column) of the patch, outlined in black; its images under the flips and
            quarter turns (`dihedral_images`) are ringed in white.
    Returns:
        the matplotlib Figure; each panel has its own colour bar, from its lowest value to 1.
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(tables), figsize=(2.7 * len(tables), 2.7), squeeze=False)
    i, j = query
    for ax, (name, table) in zip(axes[0], tables.items()):
        sim = embedding_similarity(table, (grid, grid))[i, j].numpy()  # (h, w)
        im = ax.imshow(sim, cmap="viridis", vmin=float(sim.min()), vmax=1)
        for r, c in dihedral_images(i, j, grid):
            ax.plot(c, r, "o", mfc="none", mec="white", ms=9, mew=1.5)
        ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, ec="black", lw=2))
        ax.set_title(name, fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
        bar = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03)
        bar.ax.tick_params(labelsize=7)
    fig.suptitle(f"cosine similarity of patch {query} (black square) to every patch\n"
                 "white rings: where flips and quarter turns move it", fontsize=9)
    fig.tight_layout()
    return fig


RELATIONS = ("same row", "same column", "same ring", "neighbours", "all pairs")


def relation_masks(h, w):
    """{relation: (L, L) bool} over the patches of an h × w grid, the diagonal left out.

    A ring is the set of patches at the same distance from the border (ring 0 = the outermost);
    neighbours share a side.
    """
    grid = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")  # two (h, w) index maps
    rows, cols = grid[0].flatten(), grid[1].flatten()  # (L,) each, patches in row-major order
    ring = torch.minimum(torch.minimum(rows, h - 1 - rows), torch.minimum(cols, w - 1 - cols))  # (L,)
    off = ~torch.eye(h * w, dtype=torch.bool)
    step = (rows[:, None] - rows[None]).abs() + (cols[:, None] - cols[None]).abs()  # (L, L) city-block
    return {"same row": (rows[:, None] == rows[None]) & off,
            "same column": (cols[:, None] == cols[None]) & off,
            "same ring": (ring[:, None] == ring[None]) & off,
            "neighbours": step == 1,
            "all pairs": off}


def similarity_by_relation(table, grid):
    """Mean cosine similarity of the pairs of patches in each relation: {relation: float}.

    table: (h*w, D) patch rows; grid: h = w. Rows and columns above "all pairs" mean a table that
    tells rows and columns apart; "same ring" above them, a table that tells the distance from
    the border and little else.
    """
    sim = embedding_similarity(table, (grid, grid)).reshape(grid * grid, grid * grid)  # (L, L)
    return {name: float(sim[mask].mean()) for name, mask in relation_masks(grid, grid).items()}


def relation_bars_figure(stats):
    """Grouped bars: for each relation, one bar per table, the mean similarity of its pairs minus
    the mean over all pairs (a table whose channels are nearly constant is similar everywhere).

    stats: {table name: `similarity_by_relation(table, grid)`}.
    """
    import matplotlib.pyplot as plt

    relations = [r for r in RELATIONS if r != "all pairs"]
    at = np.arange(len(relations))
    width = 0.8 / len(stats)
    fig, ax = plt.subplots(figsize=(8, 3.2))
    for k, (name, values) in enumerate(stats.items()):
        lift = [values[r] - values["all pairs"] for r in relations]
        label = " ".join(name.split()) + f" (all pairs: {values['all pairs']:.2f})"  # joins line breaks
        ax.bar(at + (k - (len(stats) - 1) / 2) * width, lift, width, label=label)
    ax.set_xticks(at, relations)
    ax.axhline(0, c="black", lw=0.8)
    ax.set_ylabel("mean similarity − all-pairs mean")
    ax.legend(fontsize=7, loc="upper left")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig
