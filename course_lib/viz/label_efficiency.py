"""The label-efficiency figure: test accuracy against labelled images per class, one curve per method.

    fig = plot_label_efficiency(json.loads(Path("data/results/label_efficiency.json").read_text()))

The lecture's argument in one figure: with few labels, features learned without labels (SimCLR,
DINO, MAE) beat the same networks trained from scratch; CLIP, taught by captions, needs none.
"""

from matplotlib.figure import Figure

__all__ = ["plot_label_efficiency"]

# from-scratch arms dashed and grey-ish, self-supervised arms solid and coloured
STYLES = {
    "resnet_scratch": ("dimgrey", "--", "s"),
    "vit_scratch": ("black", "--", "^"),
    "simclr_linear": ("tab:blue", "-", "o"),
    "dino_knn": ("tab:orange", "-", "o"),
    "dino_linear": ("tab:orange", ":", "D"),
    "mae_finetune": ("tab:green", "-", "o"),
    "mae_linear": ("tab:green", ":", "D"),
}


def curve(arm):
    """(counts, mean %, std %) of an arm's "by_count" entry, sorted by count."""
    rows = sorted((int(c), v) for c, v in arm["by_count"].items())
    counts = [c for c, _ in rows]
    return counts, [100 * v["mean"] for _, v in rows], [100 * v["std"] for _, v in rows]


def plot_label_efficiency(results):
    """Accuracy (%) against labels per class (log x), mean ± std over the draws as a band.

    `results` is the dict of data/results/label_efficiency.json: {"arms": {id: {"label",
    "by_count": {"5": {"mean", "std", "accuracies"}, ...}}, ...}, "chance": 1/6, ...}. An arm
    measured only at 0 labels (CLIP zero-shot) is drawn as a horizontal line.
    """
    fig = Figure(figsize=(9, 4.5), layout="constrained")
    ax = fig.subplots()
    ticks = set()
    for key, arm in results["arms"].items():
        counts, mean, std = curve(arm)
        if counts == [0]:  # zero-shot: no labels at all
            ax.axhline(mean[0], color="tab:purple", ls="-.", lw=1.5, label=f"{arm['label']} (0 labels)")
            continue
        color, style, marker = STYLES.get(key, (None, "-", "o"))
        ticks.update(counts)
        line, = ax.plot(counts, mean, style, color=color, marker=marker, label=arm["label"])
        low, high = [m - s for m, s in zip(mean, std)], [m + s for m, s in zip(mean, std)]
        ax.fill_between(counts, low, high, color=line.get_color(), alpha=0.15, lw=0)
    ax.axhline(100 * results.get("chance", 1 / 6), color="grey", ls=":", lw=1, label="chance (1/6)")
    ax.set_xscale("log")
    if ticks:  # the measured counts as plain numbers: 5, 25, 100, ...
        ax.set_xticks(sorted(ticks), [str(t) for t in sorted(ticks)])
        ax.minorticks_off()
    ax.set(xlabel="labelled training images per class", ylabel="test accuracy (%)", ylim=(0, 100),
           title=results.get("title", "Label efficiency on ShapesWorld"))
    ax.title.set_fontsize(10)
    ax.grid(alpha=0.3)
    fig.legend(fontsize=8, loc="outside right center")  # beside the axes: never over a curve
    return fig
