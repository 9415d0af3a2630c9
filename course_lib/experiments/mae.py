"""MAE's ablations at small scale, recorded in data/results/mae_NAME.{json,png}.

    python -m course_lib.experiments mae mask_ratio     # pre-train at 25, 50, 75, 90% masking
    python -m course_lib.experiments mae target         # pixel vs per-patch normalized (norm-pix) targets
    python -m course_lib.experiments mae loss_on        # loss on the removed patches vs on all patches
    python -m course_lib.experiments mae augmentation   # none, fixed crop, random crop, crop + colour
    python -m course_lib.experiments mae all            # the four above (shared runs train once)
    python -m course_lib.experiments mae plots          # redraw every figure from its JSON

Every run is one `python -m course_lib.train mae ...` (its exact command is recorded) with the same
light model (`mae_vit_shapes_small`), data, steps and evaluation; only the option under study
changes. A run writes runs/mae-NAME/ and is reused when its final.json holds the same config, so
the baseline shared by the four experiments trains once. The JSON keeps the "observed" sentence of
the file it replaces: read it again against the new numbers.
"""

import argparse
import json
import logging
from dataclasses import asdict
from pathlib import Path

from course_lib.checkpoints import write_json
from course_lib.train import fit
from course_lib.train.recipe import RUN_ONLY_OPTIONS
from course_lib.train.recipes.mae import MAERecipe

RESULTS = Path(__file__).resolve().parents[2] / "data" / "results"
log = logging.getLogger(__name__)

# The options every run shares (a few minutes each on one CPU thread).
COMMON = {"epochs": 1, "steps": 250, "batch_size": 64, "lr": 0.002, "warmup_epochs": 0.1,
          "eval_every": 100000, "preset": "shapes_small", "train_size": 16000}
# run name (runs/mae-NAME) → the options in which it differs from COMMON
ARMS = {
    "base": {}, "ratio025": {"mask_ratio": 0.25}, "ratio050": {"mask_ratio": 0.5},
    "ratio090": {"mask_ratio": 0.9}, "normpix": {"norm_pix_loss": True}, "lossall": {"loss_on": "all"},
    "aug_none": {"augment": "none"}, "aug_fixed": {"augment": "fixed"}, "aug_color": {"augment": "color"},
}
SETUP = (
    "Small scale, on a shared 2-core CPU: mae_vit_shapes_small (encoder 128-d, depth 4, 4 heads; decoder "
    "64-d, 1 block), 8-px patches on 64-px ShapesWorld, 250 steps of 64 images (16,000 images, one pass), "
    "AdamW lr 2e-3, seed 0. Evaluation on 1,000 held-out ShapesWorld test images: masked MSE with fixed "
    "masks (masked_mse: normalized units at the run's ratio; masked_mse_75, pixel_mse_75: at 75%, pixel "
    "MSE in [0, 1] units, norm-pix predictions un-normalized with the visible patches' statistics), and "
    "linear probe / k-NN (course_lib.evaluate) on the mean patch token of the frozen encoder, fitted on "
    "2,000 train images, label = shape of the largest object (6 classes, chance 16.7%). Single runs: "
    "differences of a few points are within seed noise."
)
METRICS_SOURCE = ("each run's final evaluation, as written in runs/mae-NAME/final.json (metrics); the plot "
                  "is drawn from this file by course_lib.viz.mae (see notebook 08)")
# name → title, [(label, arm)], what the paper reports (and, for augmentation, what each label means)
EXPERIMENTS = {
    "mask_ratio": {
        "experiment": "Masking-ratio sweep: reconstruction error and linear probe",
        "runs": [("0.25", "ratio025"), ("0.5", "ratio050"), ("0.75", "base"), ("0.9", "ratio090")],
        "paper": "MAE Fig. 5 (ViT-L, ImageNet): 75% best for fine-tuning and linear probing.",
    },
    "target": {
        "experiment": "Pixel vs per-patch normalized pixel targets",
        "runs": [("pixel", "base"), ("norm-pix", "normpix")],
        "paper": "MAE Table 1d (ViT-L): pixel 84.9 / norm-pix 85.4 fine-tune.",
    },
    "loss_on": {
        "experiment": "Loss on the removed patches only vs on all patches",
        "runs": [("masked only", "base"), ("all patches", "lossall")],
        "paper": ("MAE Sec. 4: computing the loss on masked patches only is +0.5-1.0% accuracy over "
                  "all pixels."),
    },
    "augmentation": {
        "experiment": "Augmentation ablation (MAE Table 1f) with the linear probe",
        "runs": [("none", "aug_none"), ("fixed", "aug_fixed"), ("random", "base"), ("color", "aug_color")],
        "paper": {"none": {"fine_tune": 84.0, "linear": 65.7},
                  "fixed": {"fine_tune": 84.7, "linear": 73.1},
                  "random": {"fine_tune": 84.9, "linear": 73.5},
                  "color": {"fine_tune": 84.3, "linear": 71.9}},
        "labels": {"none": "no augmentation",
                   "fixed": "crop, fixed size (7/8 of the side) + flip",
                   "random": "random resized crop (scale 0.2-1) + flip",
                   "color": "random crop + colour jitter"},
    },
}


def result_config(config):
    """The options of a config (a dict) that change the result: run-only options left out."""
    return {k: v for k, v in config.items() if k not in RUN_ONLY_OPTIONS}


def train_arm(arm, common, runs_dir, run_options):
    """Train run `arm` into runs_dir/mae-ARM (or reuse it); returns its final.json card and options."""
    options = {**common, **ARMS[arm]}
    out = Path(runs_dir) / f"mae-{arm}"
    final = out / "final.json"
    wanted = result_config(asdict(MAERecipe().make_config(**options)))
    if final.exists() and result_config(json.loads(final.read_text())["config"]) == wanted:
        log.info("mae run %s: reusing %s", arm, final)
    else:
        log.info("mae run %s: %s", arm, options)
        fit("mae", **options, **run_options, out=str(out), progress=False)
    return json.loads(final.read_text()), options, out


def run_record(label, arm, common, runs_dir, run_options):
    """One entry of a result's "runs": label, ratio, the command that trains it, options, metrics."""
    card, options, out = train_arm(arm, common, runs_dir, run_options)
    return {"label": label, "mask_ratio": card["config"]["mask_ratio"],
            "command": f"{card['command']} --out {out}", "options": options,
            "metrics": {k: round(v, 5) for k, v in card["metrics"].items()}, "training": card["training"]}


def run(name, common=None, runs_dir="runs", results=RESULTS, run_options=None):
    """Train (or reuse) every run of experiment `name`; write results/mae_NAME.json and .png."""
    spec, common = EXPERIMENTS[name], {**COMMON, **(common or {})}
    runs = [run_record(label, arm, common, runs_dir, run_options or {}) for label, arm in spec["runs"]]
    path = Path(results) / f"mae_{name}.json"
    previous = json.loads(path.read_text()) if path.exists() else {}
    result = {
        "experiment": spec["experiment"],
        "command": f"python -m course_lib.experiments mae {name}",
        "setup": SETUP if common == COMMON else f"{SETUP} Options changed from this setup: {common}.",
        "observed": previous.get("observed", "(to be written after reading the numbers)"),
        "paper": spec["paper"],
        **({"labels": spec["labels"]} if "labels" in spec else {}),
        "runs": runs,
        "reproduce": [r["command"] for r in runs],
        "metrics_source": METRICS_SOURCE,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, result)
    save_figure(name, result, path.with_suffix(".png"))
    return result


def figure(name, result):
    """The experiment's figure: the masking-ratio sweep, or bars of the linear probe per run."""
    from course_lib.viz.mae import plot_ablation, plot_mask_ratio_sweep

    return plot_mask_ratio_sweep(result["runs"]) if name == "mask_ratio" else plot_ablation(result["runs"])


def save_figure(name, result, path):
    import matplotlib.pyplot as plt

    fig = figure(name, result)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def replot(results=RESULTS):
    """Redraw every mae_NAME.png from its JSON."""
    for name in EXPERIMENTS:
        path = Path(results) / f"mae_{name}.json"
        if path.exists():
            save_figure(name, json.loads(path.read_text()), path.with_suffix(".png"))


def parse_value(text):
    """'0.5' → 0.5, 'true' → True, 'micro' → 'micro' (the value of a --set KEY=VALUE)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m course_lib.experiments mae", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="+", choices=[*EXPERIMENTS, "all", "plots"])
    parser.add_argument("--runs", default="runs", help="where the runs are written (runs/mae-NAME)")
    parser.add_argument("--results", default=str(RESULTS), help="where mae_NAME.json and .png are written")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="change a shared option of every run, e.g. --set steps=500 (repeatable)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if "plots" in args.names:
        replot(args.results)
        return 0
    common = dict(item.split("=", 1) for item in args.set)
    common = {key.replace("-", "_"): parse_value(value) for key, value in common.items()}
    names = list(EXPERIMENTS) if "all" in args.names else args.names
    for name in names:
        result = run(name, common, args.runs, args.results, {"device": args.device, "threads": args.threads})
        for record in result["runs"]:
            log.info("%s %s: %s", name, record["label"], record["metrics"])
    return 0
