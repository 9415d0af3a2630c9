"""The contrastive-learning experiments, recorded in data/results/contrastive_NAME.{json,png}.

    python -m course_lib.experiments simclr losses        # triplet vs NT-Xent at the same compute
    python -m course_lib.experiments simclr temperature   # τ ∈ {0.05, 0.1, 0.5, 1.0}
    python -m course_lib.experiments simclr batch_size    # 32 … 512 at the same number of epochs
    python -m course_lib.experiments simclr augmentation  # crop only, colour only, crop + colour
    python -m course_lib.experiments simclr color_strength  # colour distortion s ∈ {0.25, 0.5, 1}
    python -m course_lib.experiments simclr seeds         # the default arm with seeds 0, 1, 2
    python -m course_lib.experiments simclr baselines     # random init and supervised, same encoder
    python -m course_lib.experiments simclr plots         # redraw every figure from its JSON
    python -m course_lib.experiments simclr card          # baselines into the bundled SimCLR card

Every arm is one run of a recipe (its exact `python -m course_lib.train ...` line is recorded)
with the same encoder, data, epochs and evaluation; only the option under study changes. The
accuracies are of the frozen representation h = f(x): k-NN (k = 20) and a linear probe fitted
on 2,048 clean training images, scored on 1,024 `val` and 1,024 `test` images.
"""

import argparse
import json
import logging
import platform
import tempfile
import time
from pathlib import Path

import torch
from safetensors.torch import load_file

from course_lib.checkpoints import CHECKPOINT_DIR, card, list_pretrained, load_pretrained, write_json
from course_lib.data.probe_sets import shapes_probe_data
from course_lib.evaluate.probes import probe_metrics
from course_lib.simclr import simclr_resnet
from course_lib.train import get_recipe
from course_lib.train.bundle import command_line
from course_lib.train.engine import fit
from course_lib.train.recipes.simclr import ContrastiveTrainConfig
from course_lib.viz.contrastive import experiment_figure

RESULTS = Path(__file__).resolve().parents[2] / "data" / "results"
log = logging.getLogger(__name__)

# name → (the option under study, [(recipe, options), ...], what the paper reports)
EXPERIMENTS = {
    "losses": ("loss", [("triplet", {}), ("simclr", {})],
               "SimCLR Table 2 (linear eval, ImageNet): NT-Xent 63.9%, margin triplet 50.9% (57.9% with "
               "semi-hard negative mining), NT-Logistic 51.6%."),
    "temperature": ("temperature", [("simclr", {"temperature": t}) for t in (0.05, 0.1, 0.5, 1.0)],
                    "SimCLR Table 5 (ℓ2-normalized, linear eval): τ 0.05 → 59.7, 0.1 → 64.4, "
                    "0.5 → 60.7, 1.0 → 58.0."),
    "batch_size": ("batch_size", [("simclr", {"batch_size": b}) for b in (32, 64, 128, 256, 512)],
                   "SimCLR Figure 9: larger batches are better, most clearly for short training."),
    "augmentation": ("augmentation", [("simclr", {"crop": True, "color": False}),
                                      ("simclr", {"crop": False, "color": True}),
                                      ("simclr", {"crop": True, "color": True})],
                     "SimCLR Figure 5: no single transformation learns good representations; crop "
                     "followed by colour distortion is the best pair (56.3% linear on ImageNet)."),
    "color_strength": ("color_strength", [("simclr", {"color_strength": s}) for s in (0.25, 1.0, 0.5)],
                       "SimCLR Table 1: stronger colour distortion helps SimCLR (59.6% at strength 1/8, "
                       "63.2% at 1, 64.5% with blur) while supervised training gets slightly worse "
                       "(77.0% → 75.7%)."),
    "seeds": ("seed", [("simclr", {"seed": s}) for s in (1, 2, 0)],
              "Not in the paper: the spread between seeds says which differences above are real."),
}
BASELINES_PAPER = ("SimCLR Figure 1: a linear probe on SimCLR features matches a supervised ResNet-50 "
                   "only with a 4× wider encoder (76.5% vs 76.5% top-1, ImageNet).")
METRICS = ("knn_top1", "linear_top1", "test_knn_top1", "test_linear_top1")


def arm_label(recipe, options):
    """A short name for an arm: 'triplet', 'τ = 0.1', 'crop only', ..."""
    if "crop" in options:
        return {(True, False): "crop only", (False, True): "colour only"}.get(
            (options["crop"], options["color"]), "crop + colour")
    if "temperature" in options:
        return options["temperature"]
    if "batch_size" in options:
        return options["batch_size"]
    if "color_strength" in options:
        return options["color_strength"]
    if "seed" in options:
        return f"seed {options['seed']}"
    return {"simclr": "NT-Xent", "triplet": "triplet"}[recipe]


def final_loss(run_dir):
    """The last training loss logged in run_dir/metrics.jsonl."""
    rows = [json.loads(line) for line in (Path(run_dir) / "metrics.jsonl").read_text().splitlines()]
    return [r["loss"] for r in rows if "loss" in r][-1]


def run_arm(recipe_name, options, common):
    """Train one arm in a temporary directory; returns its row of the results table.

    Arms shared by several experiments (τ = 0.5, batch 128, crop + colour, NT-Xent) run once:
    rows are cached by their command line in the temporary directory.
    """
    recipe = get_recipe(recipe_name)
    cfg = recipe.make_config(**{**common, **options}, progress=False)
    cache = Path(tempfile.gettempdir()) / "contrastive_arms.json"
    rows = json.loads(cache.read_text()) if cache.exists() else {}
    key = command_line(recipe_name, cfg) + f" --device {cfg.device}"
    if "color_knn_top1" in rows.get(key, {}):  # rows of an older version lack the colour probe
        return rows[key]
    with tempfile.TemporaryDirectory(prefix="contrastive-") as out:
        cfg.out = out
        summary = fit(recipe, cfg)
        loss = final_loss(out)
    card = summary["card"]
    metrics = {k: round(v, 4) for k, v in card["metrics"].items()}
    row = {"recipe": recipe_name, **options, **metrics, "final_loss": round(loss, 4),
           "seconds": round(summary["seconds"], 1), "command": card["command"]}
    rows = json.loads(cache.read_text()) if cache.exists() else {}  # another process may have written
    cache.write_text(json.dumps({**rows, key: row}, indent=1))
    return row


def baselines(common):
    """Random init and supervised training of the same encoder, scored the same way."""
    cfg = ContrastiveTrainConfig(**common)
    probe = shapes_probe_data(cfg.probe_size, cfg.val_size, cfg.img_size, cfg.data_seed)
    torch.manual_seed(cfg.seed)
    random_init = simclr_resnet(width=cfg.width, depth=cfg.depth, stem_stride=cfg.stem_stride)
    metrics = probe_metrics(random_init, probe)
    rows = [{"arm": "random init", "recipe": "random init", **{k: round(v, 4) for k, v in metrics.items()},
             "command": "python -m course_lib.experiments simclr baselines"}]
    rows.append(supervised_arm(cfg, probe))
    return rows


def supervised_arm(cfg, probe):
    """The `supervised-resnet` recipe on the same encoder, images and epochs; probed like SimCLR."""
    recipe = get_recipe("supervised-resnet")
    options = dict(width=cfg.width, blocks=cfg.depth, stem_stride=cfg.stem_stride, train_size=cfg.train_size,
                   img_size=cfg.img_size, epochs=cfg.epochs, batch_size=cfg.batch_size, seed=cfg.seed,
                   device=cfg.device, threads=cfg.threads, eval_every=1_000_000)
    with tempfile.TemporaryDirectory(prefix="contrastive-") as out:
        sup_cfg = recipe.make_config(**options, out=out, progress=False)
        summary = fit(recipe, sup_cfg)
        model = recipe.build_model(sup_cfg)
        model.load_state_dict(_final_state(out))
    metrics = {k: round(v, 4) for k, v in probe_metrics(model.cpu(), probe).items()}
    return {"arm": "supervised", "recipe": "supervised-resnet", **metrics,
            "classifier_test_accuracy": round(summary["metrics"].get("test_accuracy", float("nan")), 4),
            "seconds": round(summary["seconds"], 1), "command": summary["card"]["command"]}


def _final_state(run_dir):
    return load_file(str(Path(run_dir) / "final.safetensors"))


def run(name, common):
    """Run every arm of experiment `name`; write data/results/contrastive_NAME.json and .png."""
    started = time.time()
    if name == "baselines":
        rows, option, paper = baselines(common), "recipe", BASELINES_PAPER
    else:
        option, arms, paper = EXPERIMENTS[name]
        rows = []
        for recipe, options in arms:
            log.info("experiment %s: %s %s", name, recipe, options)
            rows.append({"arm": arm_label(recipe, options), **run_arm(recipe, options, common)})
    result = {"experiment": name, "varied": option, "rows": rows, "common": common, "paper": paper,
              "command": f"python -m course_lib.experiments simclr {name} " + _flags(common),
              "machine": f"{platform.machine()} CPU, {torch.get_num_threads()} threads"
              if common.get("device", "cpu") == "cpu" else common["device"],
              "seconds": round(time.time() - started, 1)}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"contrastive_{name}.json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    if name != "baselines":
        plot(result).savefig(RESULTS / f"contrastive_{name}.png", dpi=110)
    return result


def plot(result):
    """The experiment's figure (`course_lib.viz.contrastive.experiment_figure`), beside the
    baselines when data/results/contrastive_baselines.json exists."""
    path = RESULTS / "contrastive_baselines.json"
    return experiment_figure(result, json.loads(path.read_text()) if path.exists() else None)


def replot():
    """Redraw every contrastive_*.png from its JSON (after the baselines exist)."""
    for path in sorted(RESULTS.glob("contrastive_*.json")):
        result = json.loads(path.read_text())
        if result["experiment"] != "baselines":
            plot(result).savefig(path.with_suffix(".png"), dpi=110)


def annotate_card(name="simclr-resnet-shapes"):
    """Put the baselines beside a bundled SimCLR card's metrics, all probed the same way.

    Adds `baselines`: random init and supervised training of the same encoder for the same
    epochs on the same images (the supervised run takes about half the compute of SimCLR's,
    one view per image instead of two) and, when bundled, the larger `supervised-resnet-shapes`.
    """
    info = card(name)
    cfg = info["config"]
    device = cfg["device"] if cfg["device"] != "auto" else "cpu"  # a card trained on cuda: baselines too
    common = {"epochs": cfg["epochs"], "train_size": cfg["train_size"], "seed": cfg["seed"], "device": device,
              "threads": cfg["threads"]}
    compared = {}
    for row in baselines(common):
        keep = {k: v for k, v in row.items() if k.endswith("top1") or k in ("command", "seconds")}
        compared[f"{row['arm']} (same encoder)"] = keep
    if "supervised-resnet-shapes" in list_pretrained("bundled"):
        probe = shapes_probe_data(cfg["probe_size"], cfg["val_size"], cfg["img_size"], cfg["data_seed"])
        metrics = probe_metrics(load_pretrained("supervised-resnet-shapes"), probe)
        compared["supervised-resnet-shapes (bundled)"] = {k: round(v, 4) for k, v in metrics.items()}
    info["baselines"] = compared
    info["evaluation"] = ("k-NN (k = 20, cosine, DINO's weighted vote) and a linear probe on the frozen h, "
                          f"fitted on {cfg['probe_size']} clean training images, scored on {cfg['val_size']} "
                          "val and test images; color_knn_top1: k-NN for the colour of the largest object.")
    write_json(CHECKPOINT_DIR / f"{name}.json", info)
    return info


def _flags(common):
    return " ".join(f"--{k.replace('_', '-')} {v}" for k, v in common.items())


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m course_lib.experiments simclr", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", choices=[*EXPERIMENTS, "baselines", "plots", "card"])
    parser.add_argument("--epochs", type=float, default=10.0)
    parser.add_argument("--train-size", type=int, default=4096)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.name == "plots":
        return replot()
    if args.name == "card":
        return log.info("%s", annotate_card()["baselines"])
    common = {"epochs": args.epochs, "train_size": args.train_size, "seed": args.seed, "device": args.device,
              "threads": args.threads}
    result = run(args.name, common)
    for row in result["rows"]:
        log.info("%s", {k: v for k, v in row.items() if k != "command"})

