"""Why centering and sharpening: DINO collapse runs on ShapesWorld → data/results/dino_collapse.{json,png}.

    python benchmarks/dino_collapse.py [STEPS=200]
"""
import json, sys, time, platform
import torch
torch.set_num_threads(1)
from course_lib.dino import collapse_experiment, CollapseConfig
from course_lib.data import ShapesWorld
from course_lib.viz.dino import collapse_figure
steps = int(sys.argv[1]) if len(sys.argv) > 1 else 200
images = ShapesWorld(512, image_size=32, seed=0, split="train").batch(range(512))["image"]
t = time.time()
runs = collapse_experiment(images, steps=steps, crop_size=32, batch_size=32)
seconds = time.time() - t
out = {"command": f"python benchmarks/dino_collapse.py {steps}  (course_lib.dino.collapse_experiment on 512 ShapesWorld train images at 32 px)",
       "config": {**CollapseConfig().__dict__, "steps": steps, "crop_size": 32, "batch_size": 32},
       "seconds_total": round(seconds, 1), "machine": platform.machine() + " CPU, 1 thread (shared)",
       "runs": {k: {**v, "final_entropy": sum(v["entropy"][-10:]) / 10, "final_kl": sum(v["kl"][-10:]) / 10,
                    "final_top_share": sum(v["top_share"][-10:]) / 10} for k, v in runs.items()}}
json.dump(out, open("data/results/dino_collapse.json", "w"), indent=1)
collapse_figure(runs).savefig("data/results/dino_collapse.png", dpi=100)
for k, v in out["runs"].items():
    print(k, v["regime"], v["regime_found"], round(v["final_entropy"], 3), round(v["final_kl"], 3), round(v["final_top_share"], 3))
print("seconds", seconds)
