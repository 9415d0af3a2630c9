"""CLIP on ShapesWorld, measured on the bundled clip-shapes (after `python -m course_lib.train clip`):

    python -m course_lib.experiments clip rescore   # the card's metrics with the current evaluation
    python -m course_lib.experiments clip results   # data/results/clip_shapes.json: zero-shot, prompt
                                                    # engineering, retrieval, failure probes, pointing game
    python -m course_lib.experiments clip curve --run runs/clip   # data/results/clip_training_curve.json

Every number comes from `course_lib.evaluate.clip_shapes` on freshly rendered ShapesWorld images:
720 one-object test images (seed 0), 360 of the never-seen compositions, 10 galleries of 100 test
pairs; the relation probe on 400 two-object test images (seed 3); the pointing game on every
object of 25 two-object test images (seed 5). Each command runs on a CPU in a few minutes.
"""

import argparse
import logging
from pathlib import Path

from course_lib.checkpoints import CHECKPOINT_DIR, card, write_json
from course_lib.data.captions import PROMPTS, render_captions
from course_lib.evaluate.clip_shapes import evaluate_clip_shapes, pointing_game, relation_probe
from course_lib.official.clip import load_clip
from course_lib.train.metrics import read_metrics

RESULTS = Path(__file__).resolve().parents[2] / "data" / "results"
log = logging.getLogger(__name__)

GOALS = {"zero_shot_shape": 0.95, "zero_shot_color": 0.95, "zero_shot_color_shape": 0.85,
         "held_out_color_shape": 0.6}
PAPER_PROMPT_GAINS = {"template": 1.3, "ensemble": 3.5}  # points on ImageNet (CLIP paper, Sec. 3.1.4)
PROBE_DATA = (400, 3)  # two-object test images, seed
REPRODUCE = ("python -m course_lib.experiments clip results (relation_probe, pointing_game: "
             "course_lib.evaluate.clip_shapes; the card's metrics: "
             "python -m course_lib.experiments clip rescore)")
REPRODUCE_POINTING = ("python -m course_lib.experiments clip results "
                      "(course_lib.evaluate.clip_shapes.pointing_game)")
READING = ("chance is 0.5: CLIP does not read the relation word; it does tell which object carries "
           "which size")


def card_metrics(model, tokenizer, size, eval_size=720, retrieval_size=1000, data_seed=0):
    """Every number of the clip-shapes card, on freshly rendered test sets."""
    return evaluate_clip_shapes(
        model, tokenizer, render_captions(eval_size, size, data_seed, "test", (1, 1)),
        render_captions(eval_size // 2, size, data_seed, "held_out", (1, 1)),
        render_captions(retrieval_size, size, data_seed + 1, "test"))


def rescore(name="clip-shapes", **sizes):
    """Recompute a bundled clip-shapes card's metrics with the current evaluation (on the CPU) and
    write them into its card; the numbers measured at the end of training stay under
    "metrics_at_training"."""
    info = card(name)
    model, tokenizer, size = load_clip(name)
    metrics = card_metrics(model, tokenizer, size, **sizes)
    info.setdefault("metrics_at_training", info["metrics"])
    info["metrics"] = metrics
    info["prompts"] = {k: list(v) for k, v in PROMPTS.items()}
    info["metrics_note"] = ("metrics recomputed after training by `python -m course_lib.experiments clip "
                            "rescore` with the current evaluation; metrics_at_training: the recipe's "
                            "evaluation at the last training step (an earlier prompt set)")
    write_json(CHECKPOINT_DIR / f"{name}.json", info)
    return metrics


def prompt_engineering(metrics):
    """The three prompt sets compared: their accuracy and the gains in points, beside the paper's."""
    accuracy = {prompt: metrics[f"color_shape_{prompt}"] for prompt in PROMPTS}
    return {
        "templates": {k: list(v) for k, v in PROMPTS.items()},
        "accuracy": accuracy,
        "gain_template_points": round(100 * (accuracy["template"] - accuracy["no_template"]), 1),
        "gain_ensemble_over_template_points": round(100 * (accuracy["ensemble"] - accuracy["template"]), 1),
        "paper_imagenet_points": PAPER_PROMPT_GAINS,
    }


def results(name="clip-shapes", out=RESULTS):
    """data/results/clip_shapes.json: every measurement of the bundled model, with how to redo it."""
    info = card(name)
    model, tokenizer, size = load_clip(name)
    metrics = card_metrics(model, tokenizer, size)
    n, seed = PROBE_DATA
    probes = relation_probe(model, tokenizer, render_captions(n, size, seed, "test", (2, 2)))
    pointing = pointing_game(model, tokenizer)
    record = {
        "what": f"{name} (bundled): zero-shot, prompt engineering, retrieval and failure probes on "
                "ShapesWorld",
        "checkpoint": f"data/checkpoints/{name}.safetensors",
        "sha256": info.get("sha256"),
        "command": f"{info['command']} --device {info['training']['device']}",
        "trained_on": info["training"],
        "evaluation": "course_lib.evaluate.clip_shapes.evaluate_clip_shapes: 720 one-object test images "
                      "(seed 0), 360 one-object images of the never-seen compositions, 10 galleries of 100 "
                      "test pairs",
        "metrics": metrics,
        "goals": GOALS,
        "prompt_engineering": prompt_engineering(metrics),
        "failure_probes": {**probes, "data": f"{n} two-object test images (seed {seed})", "reading": READING},
        "reproduce": REPRODUCE,
        "pointing_game": {
            "patch_tokens": round(pointing["patch_tokens"], 3), "occlusion": round(pointing["occlusion"], 3),
            "queries": pointing["queries"],
            "what": "is the best patch of the map for 'a {colour} {shape}' on that object (>= 30% of the "
                    "patch)? every object of 25 two-object test images (seed 5)",
            "reproduce": REPRODUCE_POINTING,
            "random_patch": round(pointing["random_patch"], 3),
        },
    }
    write_json(Path(out) / "clip_shapes.json", record)
    return record


def curve(run_dir="runs/clip", out=RESULTS, every=50, name="clip-shapes"):
    """data/results/clip_training_curve.json: the run's training rows every `every` steps and its
    evaluations, read from RUN/metrics.jsonl."""
    rows = read_metrics(Path(run_dir) / "metrics.jsonl")
    train = [r for r in rows if r.get("split") is None and "loss" in r and r["step"] % every == 0]
    evals = [r for r in rows if r.get("split") is not None]
    info = card(name)
    record = {
        "what": f"training curve of {name} (every {every} steps of its run, from {run_dir}/metrics.jsonl)",
        "command": f"{info['command']} --device {info['training']['device']}",
        "step": [r["step"] for r in train],
        "loss": [round(r["loss"], 4) for r in train],
        "logit_scale_exp": [round(r["logit_scale_exp"], 3) for r in train],
        "batch_accuracy": [round(r["batch_accuracy"], 4) for r in train],
        "val": [{"step": r["step"], "epoch": round(r["epoch"], 3),
                 **{k: round(v, 4) for k, v in r.items() if k not in ("step", "epoch", "split")}}
                for r in evals],
    }
    write_json(Path(out) / "clip_training_curve.json", record)
    return record


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m course_lib.experiments clip", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["rescore", "results", "curve"])
    parser.add_argument("--name", default="clip-shapes", help="the bundled checkpoint")
    parser.add_argument("--run", default="runs/clip", help="curve: the run directory of the training")
    parser.add_argument("--out", default=str(RESULTS), help="results, curve: where the JSON goes")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.what == "rescore":
        log.info("%s", rescore(args.name))
    elif args.what == "results":
        log.info("%s", {k: v for k, v in results(args.name, args.out).items() if k != "trained_on"})
    else:
        log.info("%d training rows", len(curve(args.run, args.out, name=args.name)["step"]))
    return 0
