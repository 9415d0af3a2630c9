"""Figures of training runs: loss and evaluation curves, and the ViT-versus-CNN data-size plot."""

from matplotlib.figure import Figure

from course_lib.train.metrics import plot_metrics, read_metrics

__all__ = ["plot_metrics", "plot_vit_vs_cnn", "read_metrics"]


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
