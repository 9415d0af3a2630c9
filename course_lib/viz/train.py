"""Figures of training runs: loss and evaluation curves, and the ViT-versus-CNN data-size plot."""

import json
from pathlib import Path

from matplotlib.figure import Figure


def read_metrics(path):
    """The rows of a run's metrics.jsonl, as a list of dicts."""
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def plot_metrics(rows, title=""):
    """Training loss (left) and every evaluation metric (right) against the step: a Figure."""
    train = [r for r in rows if "loss" in r and r.get("split") is None]
    evals = [r for r in rows if r.get("split") is not None]
    fig = Figure(figsize=(9, 3.2), layout="constrained")
    ax_loss, ax_eval = fig.subplots(1, 2)
    ax_loss.plot([r["step"] for r in train], [r["loss"] for r in train], lw=1)
    ax_loss.set(xlabel="step", ylabel="training loss", title=title)
    names = sorted({k for r in evals for k in r} - {"step", "epoch", "split"})
    for name in names:  # evaluation losses beside the training loss, other metrics on the right
        points = [(r["step"], r[name]) for r in evals if name in r]
        (ax_loss if "loss" in name else ax_eval).plot(*zip(*points), marker="o", ms=3, label=name)
    ax_eval.set(xlabel="step", title="evaluation")
    for ax in (ax_loss, ax_eval):
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    return fig


def plot_vit_vs_cnn(results):
    """Test accuracy against training-set size, one line per model and compute budget (log x).

    `results` is the dict stored in data/results/vit_vs_cnn.json: {"runs": [{"model",
    "train_size", "test_accuracy", "images_seen", ...}, ...], ...}. Several budgets (images seen
    per run) get one line each, the smaller ones dashed.
    """
    fig = Figure(figsize=(6, 4), layout="constrained")
    ax = fig.subplots()
    budgets = sorted({r.get("images_seen", results.get("images_seen_per_run")) for r in results["runs"]})
    models = sorted({r["model"] for r in results["runs"]})
    for color, model in zip(("tab:blue", "tab:orange", "tab:green", "tab:red"), models):
        for budget in budgets:
            runs = sorted((r for r in results["runs"] if r["model"] == model
                           and r.get("images_seen", results.get("images_seen_per_run")) == budget),
                          key=lambda r: r["train_size"])
            label = model if len(budgets) == 1 else f"{model}, {budget // 1024}k images seen"
            style = "-" if budget == budgets[-1] else "--"
            sizes, accuracies = [r["train_size"] for r in runs], [100 * r["test_accuracy"] for r in runs]
            ax.plot(sizes, accuracies, style, color=color, marker="o", label=label)
    ax.set_xscale("log")
    ax.axhline(100 / 6, color="grey", ls=":", lw=1, label="chance (6 shapes)")
    ax.set(xlabel="training images", ylabel="test accuracy (%)", ylim=(0, 100),
           title=results.get("title", "When is a ViT worth it?"))
    ax.title.set_fontsize(10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig
