"""The lecture's activity, "when is a ViT worth it?": test accuracy against training-set size.

A ResNet and a ViT of the same compute (≈ 16 M multiply-adds per 64 px image) are trained on
ShapesWorld subsets of growing size. Every run sees the same number of training images
(`--images-seen`, so small sets are repeated for more epochs): the same compute per size.
The results go to data/results/vit_vs_cnn.json (with this command) and vit_vs_cnn.png.

    python -m course_lib.experiments vit-vs-cnn --jobs 8   # the recorded run (CPU, 8 processes)
    python -m course_lib.experiments vit-vs-cnn --sizes 500 2000 --images-seen 4096 --out /tmp/quick
"""

import argparse
import json
import multiprocessing as mp
import platform
import shlex
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import torch

from course_lib.complexity import count_flops, count_params
from course_lib.train import fit, get_recipe

REPO = Path(__file__).resolve().parents[2]

# Two models of about the same multiply-adds per image (count_flops: 16.1 M and 15.7 M).
MODELS = {
    "ResNet (4×4 stem, 1 block/stage)": ("supervised-resnet", {"width": 32, "blocks": 1, "stem_stride": 4}),
    "ViT (patch 8, 64-d, 4 blocks)": ("supervised-vit", {"patch_size": 8, "embed_dim": 64, "depth": 4,
                                                         "num_heads": 2, "drop_path_rate": 0.0}),
}


def model_cost(recipe_name, options, img_size):
    recipe = get_recipe(recipe_name)
    model = recipe.build_model(recipe.make_config(**options, img_size=img_size)).eval()
    x = torch.zeros(1, 3, img_size, img_size)
    return {"params": count_params(model), "multiply_adds": count_flops(model, x)}


def run_one(recipe_name, options, size, args):
    steps = args.images_seen // args.batch_size
    steps_per_epoch = size // args.batch_size
    config = dict(options, train_size=size, val_size=args.test_size, steps=steps, batch_size=args.batch_size,
                  lr=args.lr, warmup_epochs=0.05 * steps / steps_per_epoch, eval_every=steps,
                  save_every=max(1, steps // 4),
                  seed=args.seed, threads=args.threads, progress=False, log_every=max(1, steps // 20),
                  device=args.device)
    out = Path(args.runs) / f"{recipe_name}-{size}"
    summary = fit(recipe_name, **config, out=str(out), resume=True)
    return {"test_accuracy": summary["metrics"]["test_accuracy"], "seconds": round(summary["seconds"], 1),
            "epochs": round(steps / steps_per_epoch, 1), "steps": steps, "config": config}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 2000, 8000, 32000])
    parser.add_argument("--images-seen", type=int, default=49_152)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--test-size", type=int, default=2000)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--jobs", type=int, default=1, help="runs trained at the same time (processes)")
    parser.add_argument("--runs", default="runs/vit_vs_cnn")
    parser.add_argument("--out", default=str(REPO / "data" / "results" / "vit_vs_cnn"))
    args = parser.parse_args(argv)
    words = argv if argv is not None else sys.argv[1:]
    command = "python -m course_lib.experiments vit-vs-cnn " + " ".join(map(shlex.quote, words))
    results = {
        "title": "When is a ViT worth it? ShapesWorld, equal compute per run",
        "command": command.strip(),
        "images_seen_per_run": args.images_seen,
        "models": {label: {"recipe": r, "options": o, **model_cost(r, o, 64)}
                   for label, (r, o) in MODELS.items()},
        "machine": f"{platform.processor() or platform.machine()}, torch {torch.__version__}, "
                   f"{args.threads} thread(s)",
        "runs": [],
    }
    started = time.time()
    todo = [(label, size) for size in args.sizes for label in MODELS]
    with ProcessPoolExecutor(max_workers=args.jobs, mp_context=mp.get_context("spawn")) as pool:
        futures = {pool.submit(run_one, *MODELS[label], size, args): (label, size) for label, size in todo}
        for future in as_completed(futures):  # record each run as soon as it ends
            label, size = futures[future]
            results["runs"].append({"model": label, "train_size": size, **future.result()})
            results["runs"].sort(key=lambda r: (r["train_size"], r["model"]))
            write(results, args.out, started)
    return results


def write(results, out, started):
    from course_lib.viz.train import plot_vit_vs_cnn

    results["total_seconds"] = round(time.time() - started, 1)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(results, indent=1) + "\n")
    plot_vit_vs_cnn(results).savefig(out.with_suffix(".png"), dpi=120)


if __name__ == "__main__":
    main()
