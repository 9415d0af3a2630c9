"""How fast is ShapesWorld generated, and what do the augmentations cost? (one CPU thread)

    python benchmarks/shapes_speed.py                 # ~1 min
    python benchmarks/shapes_speed.py --n 4000 --json data/results/shapes_speed.json

Rates are images per second of CPU time of this thread (what one core can do, even on a busy
machine) and of wall-clock time, each the best of 3 runs. The target for training on the fly:
>= 2,000 images/s at 64 px.
"""

import argparse
import json
import platform
import time

import torch

from course_lib.data import augment
from course_lib.data.shapes import ShapesWorld


def rate(fn, n, repeats=3):
    """Run fn(i) for i < n, `repeats` times; return the best (images/s of thread CPU time, of wall
    time). The best of a few runs is the least disturbed by other processes (as timeit does)."""
    fn(0)  # warm-up
    best_cpu, best_wall = 0.0, 0.0
    for _ in range(repeats):
        cpu, wall = time.thread_time(), time.perf_counter()
        for i in range(n):
            fn(i)
        cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
        best_cpu, best_wall = max(best_cpu, n / cpu), max(best_wall, n / wall)
    return best_cpu, best_wall


def batched(ds, batch_size):
    def fn(b):
        ds.batch(range(b * batch_size, (b + 1) * batch_size))
    return fn


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="images per measurement")
    parser.add_argument("--json", default=None, help="also write the results to this file")
    args = parser.parse_args()
    torch.set_num_threads(1)
    n, rows = args.n, []

    def record(name, img_size, images_per_call, result):
        cpu, wall = (r * images_per_call for r in result)
        rows.append({"what": name, "img_size": img_size, "cpu_images_per_s": round(cpu),
                     "wall_images_per_s": round(wall)})
        print(f"{name:<34} {img_size:>4} px  {cpu:>8.0f} img/s (CPU)  {wall:>8.0f} img/s (wall)")

    for size in (32, 64, 128):
        ds = ShapesWorld(10 * n, img_size=size)
        record("render (numpy)", size, 1, rate(ds.render, n))
        record("ds[i] (dict of tensors)", size, 1, rate(ds.__getitem__, n))
    ds = ShapesWorld(10 * n)
    record("ds.batch(256)", 64, 256, rate(batched(ds, 256), max(1, n // 256)))
    image = ds[0]["image"]
    m = max(1, n // 4)
    two_views, multicrop = augment.TwoViews(64), augment.MultiCrop(64, 32, n_local=6)
    mae = augment.mae_transform(64)
    for name, fn in [("augment: simclr two views", lambda i: two_views(image)),
                     ("augment: dino multi-crop 2x64+6x32", lambda i: multicrop(image)),
                     ("augment: mae crop + flip", lambda i: augment.apply(mae, image))]:
        record(name, 64, 1, rate(fn, m))
    if args.json:
        machine = {"processor": platform.processor() or platform.machine(),
                   "python": platform.python_version(),
                   "torch": torch.__version__, "threads": 1}
        with open(args.json, "w") as f:
            json.dump({"command": "python benchmarks/shapes_speed.py --n %d" % n, "machine": machine,
                       "results": rows}, f, indent=1)


if __name__ == "__main__":
    main()
