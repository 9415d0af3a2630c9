"""Why centering and sharpening: DINO collapse runs on ShapesWorld.

Three short runs (both on, no centering, no sharpening) → data/results/dino_collapse.{json,png}.

    python benchmarks/dino_collapse.py [STEPS=200]
"""

import json
import platform
import sys
import time

import torch

from course_lib.data import ShapesWorld
from course_lib.dino import CollapseConfig, collapse_experiment
from course_lib.viz.dino import collapse_figure


def last_mean(values, n=10):
    return sum(values[-n:]) / len(values[-n:])


def main(steps):
    torch.set_num_threads(1)
    images = ShapesWorld(512, image_size=32, seed=0, split="train").batch(range(512))["image"]
    start = time.time()
    runs = collapse_experiment(images, steps=steps, crop_size=32, batch_size=32)
    seconds = time.time() - start
    summary = {
        name: {**run, "final_entropy": last_mean(run["entropy"]), "final_kl": last_mean(run["kl"]),
               "final_top_share": last_mean(run["top_share"])}
        for name, run in runs.items()
    }
    out = {
        "command": f"python benchmarks/dino_collapse.py {steps}  (course_lib.dino.collapse_experiment "
                   "on 512 ShapesWorld train images at 32 px)",
        "config": {**CollapseConfig().__dict__, "steps": steps, "crop_size": 32, "batch_size": 32},
        "seconds_total": round(seconds, 1),
        "machine": platform.machine() + " CPU, 1 thread (shared)",
        "runs": summary,
    }
    with open("data/results/dino_collapse.json", "w") as f:
        json.dump(out, f, indent=1)
    collapse_figure(runs).savefig("data/results/dino_collapse.png", dpi=100)
    for name, run in summary.items():
        print(name, run["regime"], run["regime_found"], round(run["final_entropy"], 3),
              round(run["final_kl"], 3), round(run["final_top_share"], 3))
    print("seconds", round(seconds, 1))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
