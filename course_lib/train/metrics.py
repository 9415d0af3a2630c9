"""A run's metrics: one JSON object per line in metrics.jsonl, and the curves drawn beside it.

The engine draws metrics.png itself at the end of a run, so that every run directory can be
read at a glance; `course_lib.viz.train` re-exports `plot_metrics` for the notebooks.
"""

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


class MetricsLog:
    """Appends one JSON object per line; on resume keeps only the rows up to the resumed step."""

    def __init__(self, path, start_step, active):
        self.path, self.active, self.rows = Path(path), active, []
        if not active:
            return
        if start_step > 0 and self.path.exists():
            lines = self.path.read_text().splitlines()
            self.rows = [r for r in map(json.loads, lines) if r["step"] <= start_step]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text("".join(json.dumps(r) + "\n" for r in self.rows))

    def write(self, row):
        if self.active:
            self.rows.append(row)
            with open(self.path, "a") as f:
                f.write(json.dumps(row) + "\n")

    def plot(self, title):
        if self.active and self.rows:
            plot_metrics(self.rows, title=title).savefig(self.path.with_suffix(".png"), dpi=100)
