"""Figures for contrastive learning: the embedding space, neighbours, views, losses, experiments.

Plotly for what students explore (the 2-D embedding), matplotlib for everything printed on a
slide. Plotting libraries are imported inside the functions, so importing this module is cheap.
"""

import torch
import torch.nn.functional as F

from course_lib.viz.data import to_numpy_image


# -- the embedding space -------------------------------------------------------------------------
def pca_2d(h):
    """(n, F) features → (n, 2) coordinates on their two principal axes (cosine geometry).

    The features are ℓ2-normalized first, because the contrastive losses only see directions.
    """
    x = F.normalize(h.float(), dim=1)  # (n, F) on the unit sphere
    x = x - x.mean(dim=0, keepdim=True)
    _, _, v = torch.linalg.svd(x, full_matrices=False)  # v: (F, F), rows = principal axes
    return x @ v[:2].T  # (n, 2)


def embedding_scatter(coords, labels, class_names, title="", hover=None, highlight=None, class_colors=None,
                      legend_title="label"):
    """Interactive 2-D scatter coloured by label (plotly).

    Args:
        coords: (n, 2); labels: (n,) ints into `class_names`; hover: n strings (e.g. captions).
        highlight: optional list of indices drawn as large outlined markers (a query and its
            neighbours).
        class_colors: optional CSS colour per class (default: plotly's palette).
    """
    import plotly.graph_objects as go

    coords, labels = torch.as_tensor(coords).tolist(), torch.as_tensor(labels).tolist()
    fig = go.Figure()
    for c, name in enumerate(class_names):
        idx = [i for i, y in enumerate(labels) if y == c]
        fig.add_trace(go.Scatter(
            x=[coords[i][0] for i in idx], y=[coords[i][1] for i in idx], mode="markers", name=name,
            marker=dict(size=7, opacity=0.8, color=class_colors[c] if class_colors else None,
                        line=dict(width=0.5, color="grey") if class_colors else None),
            customdata=idx,
            text=[hover[i] for i in idx] if hover else None,
            hovertemplate="#%{customdata}: %{text}<extra>" + name + "</extra>" if hover else None,
        ))
    if highlight:
        fig.add_trace(go.Scatter(
            x=[coords[i][0] for i in highlight], y=[coords[i][1] for i in highlight], mode="markers",
            name="query + neighbours", customdata=list(highlight),
            marker=dict(size=14, color="rgba(0,0,0,0)", line=dict(width=2, color="black")),
        ))
    fig.update_layout(title=title, xaxis_title="PC 1", yaxis_title="PC 2", height=520,
                      legend_title=legend_title, margin=dict(l=10, r=10, t=40, b=10))
    return fig


def image_row(images, titles=None, size=1.6):
    """A row of images (n, 3, H, W) in [0, 1] with optional titles (matplotlib)."""
    import matplotlib.pyplot as plt

    n = len(images)
    fig, axes = plt.subplots(1, n, figsize=(size * n, size * 1.15), squeeze=False)
    for i, ax in enumerate(axes[0]):
        ax.imshow(to_numpy_image(images[i]))  # (H, W, 3)
        ax.set_axis_off()
        if titles:
            ax.set_title(titles[i], fontsize=8)
    fig.tight_layout()
    return fig


def neighbours_figure(images, index, neighbours, similarities, names=None):
    """The query image followed by its nearest neighbours, titled with cosine similarity."""
    picked = [index] + [int(i) for i in neighbours]
    titles = ["query" + (f"\n{names[index]}" if names else "")]
    for i, s in zip(neighbours, similarities):
        titles.append(f"{float(s):.2f}" + (f"\n{names[int(i)]}" if names else ""))
    return image_row(images[picked], titles)


def views_figure(image, views, titles=None):
    """An image and views t(x), t′(x), ... of it, as the model is fed them."""
    titles = titles or ["x"] + [f"view {i + 1}" for i in range(len(views))]
    return image_row(torch.stack([image, *views]), titles, size=2.0)


# -- the three losses on one picture -------------------------------------------------------------
def loss_curves(temperature=0.5, margin=0.2, s_neg=0.3, n_neg=14):
    """Each loss as a function of the positive's similarity s⁺, negatives fixed at s⁻ (matplotlib).

    Triplet stops pushing once s⁺ > s⁻ + margin; the pair loss and NT-Xent never quite stop,
    and NT-Xent (here with `n_neg` negatives) starts higher: more negatives, more to tell apart.
    """
    import matplotlib.pyplot as plt

    s_pos = torch.linspace(-1, 1, 201)
    triplet = torch.relu(s_neg - s_pos + margin)
    pair = -torch.log_softmax(torch.stack([s_pos, torch.full_like(s_pos, s_neg)], 1) / temperature, 1)[:, 0]
    negs = torch.full((len(s_pos), n_neg), s_neg)
    nt_xent = -torch.log_softmax(torch.cat([s_pos[:, None], negs], 1) / temperature, 1)[:, 0]
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    ax.plot(s_pos, triplet, label=f"triplet (margin {margin})")
    ax.plot(s_pos, pair, label=f"SimCLR pair (τ = {temperature})")
    ax.plot(s_pos, nt_xent, label=f"NT-Xent, {n_neg} negatives (τ = {temperature})")
    ax.axvline(s_neg, color="grey", ls=":", lw=1)
    ax.set_xlabel("s⁺ = sim(anchor, positive)   (negatives at the dotted line)")
    ax.set_ylabel("loss")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def similarity_matrix_figure(z_a, z_b, temperature=0.5):
    """Algorithm 1's 2N × 2N matrix s_ij / τ, self-similarities blanked, positives boxed (matplotlib).

    Row i is one softmax of NT-Xent: its boxed cell is the target, every other cell a negative.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    N = len(z_a)
    z = F.normalize(torch.cat([z_a, z_b]).float(), dim=1)  # (2N, D)
    logits = (z @ z.T / temperature).detach()  # (2N, 2N)
    logits.fill_diagonal_(float("nan"))  # k ≠ i: a view is never compared with itself
    fig, ax = plt.subplots(figsize=(4.2, 3.6))
    im = ax.imshow(logits.numpy(), cmap="viridis")
    for i in range(2 * N):
        j = (i + N) % (2 * N)  # the other view of the same image
        ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, ec="red", lw=2))
    names = [f"a{k}" for k in range(N)] + [f"b{k}" for k in range(N)]
    ax.set_xticks(range(2 * N), names, fontsize=7)
    ax.set_yticks(range(2 * N), names, fontsize=7)
    ax.set_title(f"s_ij / τ (τ = {temperature}); red = positive", fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    return fig


# -- the experiments -----------------------------------------------------------------------------
def sweep_figure(rows, x, title, metrics=("knn_top1", "linear_top1"), baselines=None, log_x=False,
                 chance=None):
    """One experiment: accuracy of each arm (matplotlib).

    Args:
        rows: list of dicts, each with the key `x` (the arm: a number or a name) and `metrics`.
        baselines: optional {name: accuracy} drawn as horizontal lines (random init, supervised).
        chance: optional accuracy of guessing (1 / classes), drawn dotted.
    """
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.0, 3.5))
    numeric = all(isinstance(r[x], (int, float)) for r in rows)
    rows = sorted(rows, key=lambda r: r[x]) if numeric else rows
    arms = [r[x] for r in rows]
    pos = arms if numeric else list(range(len(arms)))
    for m in metrics:
        label = {"knn_top1": "shape k-NN", "linear_top1": "shape linear probe",
                 "color_knn_top1": "colour k-NN (diagnostic)"}.get(m, m.replace("_", " "))
        ax.plot(pos, [100 * r[m] for r in rows], "o-" if numeric else "o", label=label)
    for i, (name, acc) in enumerate((baselines or {}).items()):
        ax.axhline(100 * acc, ls="--", lw=1, color=f"C{i + 3}", label=name)
    if chance:
        ax.axhline(100 * chance, ls=":", lw=1, color="grey", label="chance")
    ax.set_ylim(0, 100 * max([r[m] for r in rows for m in metrics] + list((baselines or {}).values())) + 10)
    if log_x and numeric:
        ax.set_xscale("log", base=2)
    if numeric:
        ax.set_xticks(pos, [str(a) for a in arms])
    else:
        ax.set_xticks(pos, arms)
    ax.set_xlabel(x)
    ax.set_ylabel("held-out accuracy (%)")
    ax.set_title(title)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    return fig


def experiment_figure(result, baselines=None):
    """The figure of one recorded experiment (a data/results/contrastive_NAME.json, loaded).

    Accuracy of each arm on the val split (shape k-NN and linear probe, and the colour k-NN when
    every arm has it), beside the linear probes of the rows of `baselines` (the loaded
    contrastive_baselines.json: random init and supervised training of the same encoder).
    """
    base = baselines or {"rows": [], "common": {}}
    epochs = f", {base['common']['epochs']:g} epochs" if base["common"] else ""
    lines = {f"{r['arm']} (linear{epochs if r['arm'] != 'random init' else ''})": r["linear_top1"]
             for r in base["rows"]}
    numeric = result["varied"] in ("temperature", "batch_size", "color_strength")
    common = result["common"]
    title = f"{result['experiment']}: {common['epochs']:g} epochs of {common['train_size']} images"
    metrics = ("knn_top1", "linear_top1")
    if all("color_knn_top1" in r for r in result["rows"]):
        metrics += ("color_knn_top1",)  # the diagnostic: how much colour (not the label) h keeps
    return sweep_figure(result["rows"], "arm", title, metrics=metrics, baselines=lines, log_x=numeric,
                        chance=1 / 6)
