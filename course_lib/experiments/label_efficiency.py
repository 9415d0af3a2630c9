"""Label efficiency: test accuracy against the number of labelled images per class.

The lecture's claim in one figure: with few labels, self-supervised features beat training from
scratch. Labelled sets are drawn balanced (label = shape of the largest object, 6 shapes) from
ShapesWorld's train split, 3 times per count; all are scored on the same held-out test images,
each method by its paper's protocol, every checkpoint loaded by name from data/checkpoints/:

| arm | checkpoint | protocol |
|---|---|---|
| `resnet_scratch` | supervised-resnet-shapes (architecture and recipe only) | trained from scratch |
| `vit_scratch` | supervised-vit-shapes (architecture and recipe only) | trained from scratch |
| `simclr_linear` | simclr-resnet-shapes | frozen h, linear probe |
| `dino_knn`, `dino_linear` | dino-vit-shapes | frozen [CLS], weighted k-NN (k = 20, T = 0.07), linear |
| `mae_finetune`, `mae_linear` | mae-vit-shapes | end-to-end fine-tuning; mean patch token, linear |
| `clip_zero_shot` | clip-shapes | zero-shot with prompts: 0 labels |

The trained arms share one loop (`course_lib.train.finetune`) and one budget, `budget_steps(n) =
clamp(round(epochs · n / batch), min_steps, max_steps)`; the ViT from scratch and MAE's fine-tuning
also share the supervised-vit recipe's hyperparameters, seeds and batches: they differ only in
their starting weights. Nothing is chosen on the test images (fixed budgets and probe settings, no
early stopping), so no validation split is needed.

    python -m course_lib.experiments label-efficiency      # → data/results/label_efficiency.{json,png}
    python -m course_lib.experiments label-efficiency --counts 5 25 --draws 1 --out /tmp/le
    python -m course_lib.experiments label-efficiency --resume   # continue an interrupted run
"""

import argparse
import json
import math
import shlex
import statistics
import sys
from dataclasses import fields
from pathlib import Path

import torch
from tqdm.auto import tqdm

import course_lib.train.finetune as ft
from course_lib.checkpoints import card, load_pretrained
from course_lib.data.rendered import RenderedShapes, render_shapes
from course_lib.evaluate.clip_shapes import image_features, zero_shot_predictions
from course_lib.evaluate.probes import embed, encoder_of, knn_accuracy, linear_probe_accuracy, patch_mean_of
from course_lib.experiments import ExperimentError
from course_lib.official.clip import load_clip
from course_lib.train import get_recipe
from course_lib.train.batches import mix_seed
from course_lib.train.bundle import machine
from course_lib.train.state import Clock

REPO = Path(__file__).resolve().parents[2]
ARMS = {  # id → (legend label, the bundled checkpoint it loads)
    "resnet_scratch": ("supervised ResNet, from scratch", "supervised-resnet-shapes"),
    "vit_scratch": ("supervised ViT, from scratch", "supervised-vit-shapes"),
    "simclr_linear": ("SimCLR + linear", "simclr-resnet-shapes"),
    "dino_knn": ("DINO + k-NN", "dino-vit-shapes"), "dino_linear": ("DINO + linear", "dino-vit-shapes"),
    "mae_finetune": ("MAE + fine-tuning", "mae-vit-shapes"), "mae_linear": ("MAE + linear", "mae-vit-shapes"),
    "clip_zero_shot": ("CLIP zero-shot", "clip-shapes"),
}
CHECKPOINTS = {arm: name for arm, (_, name) in ARMS.items()}
PROBES = {"simclr_linear": (encoder_of, "linear"), "dino_knn": (encoder_of, "knn"),  # (feature, classifier)
          "dino_linear": (encoder_of, "linear"), "mae_linear": (patch_mean_of, "linear")}
TRAINED = {  # trained arms: the supervised checkpoint whose architecture and recipe they take
    "resnet_scratch": "supervised-resnet-shapes", "vit_scratch": "supervised-vit-shapes",
    "mae_finetune": "supervised-vit-shapes",  # the ViT arm's recipe: only the starting weights differ
}
NUM_CLASSES = 6


def labelled_draws(labels, counts, draws, seed=0):
    """Balanced labelled sets: {draw: {count: pool indices (NUM_CLASSES · count,)}}.

    Draw d shuffles each class's pool indices with seed (seed, d) and takes the first `count` of
    each, so a draw's smaller sets are nested in its larger ones (less noise along a curve).
    """
    by_class = [torch.nonzero(labels == c).flatten() for c in range(NUM_CLASSES)]
    if min(len(idx) for idx in by_class) < max(counts):
        raise ExperimentError(f"The pool of {len(labels)} train images holds fewer than {max(counts)} "
                              "images of some shape: raise --pool.")
    sets = {}
    for d in range(draws):
        g = torch.Generator().manual_seed(mix_seed(seed, 101, d))
        order = [idx[torch.randperm(len(idx), generator=g)] for idx in by_class]
        sets[d] = {n: torch.cat([o[:n] for o in order]) for n in counts}
    return sets


def held_out_images(n, start=500, seed=0):
    """ShapesWorld test items start … start + n − 1 (500: past the images used for any choice)."""
    rendered = render_shapes(start + n, 64, seed, "test")
    return RenderedShapes(rendered.images[start:], rendered.labels[start:])


def timing(clock):
    """{"seconds", "cpu_seconds"} of a Clock: CPU counts every thread; on a shared machine they differ."""
    wall, cpu = clock.read()
    return {"seconds": round(wall, 1), "cpu_seconds": round(cpu, 1)}


def trained_model(arm, seed):
    """(classifier, recipe config, input card) of a trained arm. The config is the supervised card's
    (on its recipe's defaults; fields the recipe no longer has are left out); the classifier is
    that recipe's fresh model, or for MAE its encoder as a ViT with a new head."""
    info = card(TRAINED[arm])
    recipe = get_recipe(info["recipe"])
    names = {f.name for f in fields(recipe.Config)}
    cfg = recipe.make_config(**{k: v for k, v in info["config"].items() if k in names})
    torch.manual_seed(seed)  # the from-scratch initialization, or MAE's new head
    if arm != "mae_finetune":
        return recipe.build_model(cfg), cfg, info["input"]
    encoder = load_pretrained(CHECKPOINTS[arm]).to_vit()
    model = ft.classifier_from_encoder(encoder, NUM_CLASSES, cfg.drop_path_rate)  # the ViT arm's drop-path
    return model, cfg, card(CHECKPOINTS[arm])["input"]


def mae_is_the_vit_architecture():
    """True when MAE's encoder has the from-scratch ViT's shape: then MAE − ViT is pre-training alone."""
    vit = card(TRAINED["vit_scratch"])["model"]["kwargs"]
    mae = load_pretrained(CHECKPOINTS["mae_finetune"]).to_vit().config
    return all(getattr(mae, k) == v for k, v in vit.items() if k != "num_classes")


def run_trained(arm, pool, idx, test, draw, args):
    """Train one arm on pool[idx]; returns {"accuracy", "steps", "final_loss"}."""
    seed = mix_seed(args.seed, draw)  # the same for every arm of a draw: same init seed and batches
    model, cfg, info = trained_model(arm, seed)
    steps = ft.budget_steps(len(idx), args.batch_size, args.epochs, args.min_steps, args.max_steps)
    recipe = ft.FinetuneConfig(steps=steps, batch_size=args.batch_size, lr=cfg.lr, min_lr=cfg.min_lr,
                               weight_decay=cfg.weight_decay, label_smoothing=cfg.label_smoothing,
                               layer_decay=1.0 if arm == "resnet_scratch" else args.layer_decay,
                               translate=cfg.translate, flip=cfg.flip, rotate=cfg.rotate, seed=seed,
                               device=args.device, progress=True)
    model, loss = ft.finetune(model, pool.images[idx], pool.labels[idx], recipe, info["mean"], info["std"])
    acc = ft.accuracy(model, test.images, test.labels, info["mean"], info["std"], args.device)
    return {"accuracy": acc, "steps": steps, "final_loss": round(loss, 4)}


class FrozenFeatures:
    """Each frozen encoder's features of the labelled images (all draws) and of the test images, once."""

    def __init__(self, pool, union, test, device):
        self.images, self.device = (pool.images[union], test.images), device
        self.labels, self.test_labels = pool.labels, test.labels
        self.row = torch.full((len(pool),), -1, dtype=torch.long)
        self.row[union] = torch.arange(len(union))  # pool index → row of the embedded union
        self.cache, self.seconds = {}, {}  # {(checkpoint, feature): (union features, test features)}

    def get(self, name, features):
        key, clock = (name, features.__name__), Clock()
        if key not in self.cache:
            info, model = card(name)["input"], load_pretrained(name).to(self.device)
            self.cache[key] = [embed(model, x, info["mean"], info["std"], device=self.device,
                                     features=features) for x in self.images]
            self.seconds[f"{name} ({features.__name__})"] = timing(clock)
        return self.cache[key]


def run_probe(arm, frozen, idx, args):
    """A frozen-feature arm on the labelled set pool[idx]: {"accuracy"}."""
    features, classifier = PROBES[arm]
    pool_f, test_f = frozen.get(CHECKPOINTS[arm], features)
    train_f, train_y, test_y = pool_f[frozen.row[idx]], frozen.labels[idx], frozen.test_labels
    if classifier == "knn":
        return {"accuracy": knn_accuracy(train_f, train_y, test_f, test_y, k=20, temperature=0.07)}
    return {"accuracy": linear_probe_accuracy(train_f, train_y, test_f, test_y, seed=args.seed)}


@torch.no_grad()
def clip_zero_shot(test, device):
    """clip-shapes' zero-shot shape accuracy on the test images (its prompt ensemble, no labels)."""
    model, tokenizer, _ = load_clip(CHECKPOINTS["clip_zero_shot"])
    feats = image_features(model.to(device), test, device)  # (n, E), unit length
    predicted = zero_shot_predictions(model, tokenizer, feats)["shape"]
    return {"accuracy": (predicted == test.labels).float().mean().item()}


def summarise(runs):
    """{count: {"mean", "std" (sample std over draws; 0 for one), "accuracies"}} of an arm's runs."""
    by_count = {}
    for run in sorted(runs, key=lambda r: (r["count"], r["draw"])):
        by_count.setdefault(str(run["count"]), []).append(run["accuracy"])
    return {c: {"mean": statistics.fmean(a), "std": statistics.stdev(a) if len(a) > 1 else 0.0,
                "accuracies": a} for c, a in by_count.items()}


def write(results, out, clock, figure=False):
    """Summarise every arm's runs into OUT.json (after each run: watch it, resume it); OUT.png too."""
    from course_lib.viz.label_efficiency import plot_label_efficiency

    results.update(timing(clock))
    for arm in results["arms"].values():
        arm["by_count"] = summarise(arm["runs"])
        arm.update({k: round(sum(r[k] for r in arm["runs"]), 1) for k in ("seconds", "cpu_seconds")})
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(results, indent=1) + "\n")
    if figure:
        plot_label_efficiency(results).savefig(out.with_suffix(".png"), dpi=120)


def new_results(args, command):
    protocol = {k: getattr(args, k) for k in ("counts", "draws", "seed", "n_test", "test_start", "pool",
                                             "batch_size", "epochs", "min_steps", "max_steps", "layer_decay")}
    results = {
        "title": "Label efficiency on ShapesWorld: test accuracy against labelled images per class",
        "command": command, "machine": machine(torch.device(args.device)), "seconds": 0.0, "cpu_seconds": 0.0,
        "protocol": {**protocol, "test": f"ShapesWorld test split (seed {args.seed}), images "
                                         f"{args.test_start} … {args.test_start + args.n_test - 1}",
                     "labelled": f"balanced draws from the first {args.pool} train images, nested per draw",
                     "budget": "steps = clamp(round(epochs · n / min(batch_size, n)), min_steps, max_steps)",
                     "knn": "weighted k-NN, k = 20, cosine, T = 0.07 (DINO)",
                     "linear": "course_lib.evaluate.probes.linear_probe (standardized features, 300 steps)"},
        "chance": 1 / NUM_CLASSES,
        "checkpoints": {n: card(n).get("sha256") for n in sorted({CHECKPOINTS[a] for a in args.arms})},
        "arms": {a: {"label": ARMS[a][0], "checkpoint": CHECKPOINTS[a], "runs": []} for a in args.arms},
    }
    if "mae_finetune" in args.arms:
        results["mae_is_the_vit_architecture"] = mae_is_the_vit_architecture()
    return results


def previous_results(args, fresh):
    """An interrupted run's results if --resume and the protocol is the same, else `fresh`."""
    path = Path(args.out).with_suffix(".json")
    if not (args.resume and path.exists()):
        return fresh
    old = json.loads(path.read_text())
    if old.get("protocol") != fresh["protocol"] or old.get("checkpoints") != fresh["checkpoints"]:
        raise ExperimentError(f"{path} holds a run with other settings or checkpoints: "
                              "drop --resume or change --out.")
    old["arms"] = {**fresh["arms"], **old["arms"]}  # the runs done so far, and any arm added
    return old


def jobs(args):
    """(arm, count, draw) in the order they run: cheap arms first, then training by count."""
    cheap = [(a, n, d) for a in args.arms if a in PROBES for n in args.counts for d in range(args.draws)]
    trained = [(a, n, d) for n in args.counts for d in range(args.draws) for a in args.arms if a in TRAINED]
    return cheap + [("clip_zero_shot", 0, 0)] * ("clip_zero_shot" in args.arms) + trained


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m course_lib.experiments label-efficiency",
                                description=__doc__.splitlines()[0])
    p.add_argument("--counts", type=int, nargs="+", default=[5, 25, 100, 500, 2500], help="labels per class")
    p.add_argument("--draws", type=int, default=3, help="labelled sets per count (different seeds)")
    p.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS))
    for flag, default in (("--n-test", 1000), ("--test-start", 500), ("--batch-size", 64),
                          ("--min-steps", 300), ("--max-steps", 1500), ("--seed", 0)):
        p.add_argument(flag, type=int, default=default)
    p.add_argument("--pool", type=int, default=0, help="train images to draw from (0: enough)")
    p.add_argument("--epochs", type=float, default=15.0, help="passes over the labelled set (then clamped)")
    p.add_argument("--layer-decay", type=float, default=1.0, help="ViT arms, from scratch and MAE alike")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--resume", action="store_true", help="skip the runs already in --out's JSON")
    p.add_argument("--out", default=str(REPO / "data" / "results" / "label_efficiency"))
    args = p.parse_args(argv)
    args.pool = args.pool or math.ceil(1.6 * NUM_CLASSES * max(args.counts)) + 200
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    return args


def main(argv=None):
    words = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(words)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    command = " ".join(["python -m course_lib.experiments label-efficiency", *map(shlex.quote, words)])
    results = previous_results(args, new_results(args, command))
    clock = Clock(results["seconds"], results.get("cpu_seconds", 0.0))  # continued by --resume
    pool = render_shapes(args.pool, 64, args.seed, "train")
    test = held_out_images(args.n_test, args.test_start, args.seed)
    sets = labelled_draws(pool.labels, args.counts, args.draws, args.seed)
    union = torch.unique(torch.cat([s[max(args.counts)] for s in sets.values()]))
    frozen = FrozenFeatures(pool, union, test, args.device)
    done = {(a, r["count"], r["draw"]) for a, arm in results["arms"].items() for r in arm["runs"]}
    bar = tqdm([j for j in jobs(args) if j not in done], desc="label efficiency", dynamic_ncols=True)
    for arm, count, draw in bar:
        bar.set_postfix_str(f"{arm}, {count}/class, draw {draw}")
        if arm in PROBES:  # embed once per encoder, timed apart (embedding_seconds)
            frozen.get(CHECKPOINTS[arm], PROBES[arm][0])
        run_clock = Clock()
        if arm in PROBES:
            run = run_probe(arm, frozen, sets[draw][count], args)
        elif arm == "clip_zero_shot":
            run = clip_zero_shot(test, args.device)
        else:
            run = run_trained(arm, pool, sets[draw][count], test, draw, args)
        results["arms"][arm]["runs"].append({**run, "count": count, "draw": draw, **timing(run_clock)})
        results["embedding_seconds"] = {**results.get("embedding_seconds", {}), **frozen.seconds}
        write(results, args.out, clock)
    write(results, args.out, clock, figure=True)
    return results


if __name__ == "__main__":
    main()
