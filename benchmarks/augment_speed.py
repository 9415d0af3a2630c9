"""Speed of the kit's batched augmentations against kornia.augmentation, on this machine's CPU.

The same recipes on the same batches, alternating (ours, kornia, ours, kornia, ...) so both see the
same machine state; we report the median images/s of each and their ratio:

- SimCLR's view: random resized crop + flip, colour jitter (p = 0.8), grayscale (p = 0.2);
- DINO's global view: the same, then a Gaussian blur (p = 1) of a kernel of ~10% of the side.

Both libraries draw per-image parameters and compute the whole batch at once.

    python benchmarks/augment_speed.py [--batch 256] [--size 64] [--repeats 7]
"""

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from course_lib.data import augment


def ours(size, blur):
    steps = [augment.RandomResizedCrop(size, (0.2, 1.0)), augment.Pixelwise(augment.color_distortion)]
    if blur:
        steps.append(augment.Pixelwise(augment.gaussian_blur, p=1.0))
    return augment.Compose(steps)


def kornia_pipeline(size, blur):
    import kornia.augmentation as K

    s = 0.5  # the colour strength both pipelines use
    steps = [K.RandomResizedCrop((size, size), scale=(0.2, 1.0)), K.RandomHorizontalFlip(),
             K.ColorJitter(0.8 * s, 0.8 * s, 0.8 * s, 0.2 * s, p=0.8), K.RandomGrayscale(p=0.2)]
    if blur:
        k = max(3, int(0.1 * size) // 2 * 2 + 1)
        steps.append(K.RandomGaussianBlur((k, k), sigma=(0.1, 2.0), p=1.0))
    return K.AugmentationSequential(*steps)


def images_per_second(transform, x, ours_api):
    start = time.perf_counter()
    with torch.no_grad():
        transform(x) if not ours_api else transform(x, None)
    return x.shape[0] / (time.perf_counter() - start)


def compare(name, blur, args):
    x = torch.rand(args.batch, 3, args.size, args.size)
    mine, theirs = ours(args.size, blur), kornia_pipeline(args.size, blur)
    images_per_second(mine, x, True), images_per_second(theirs, x, False)  # warm-up
    a, b = [], []
    for _ in range(args.repeats):
        a.append(images_per_second(mine, x, True))
        b.append(images_per_second(theirs, x, False))
    ours_s, kornia_s = statistics.median(a), statistics.median(b)
    return {"pipeline": name, "batch": args.batch, "size": args.size, "ours_img_s": round(ours_s),
            "kornia_img_s": round(kornia_s), "ratio": round(ours_s / kornia_s, 3)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--out", default="data/results/augment_speed.json")
    args = parser.parse_args()
    import kornia

    rows = [compare("simclr view", False, args), compare("dino global view", True, args)]
    print(f"torch {torch.__version__}, kornia {kornia.__version__}, {torch.get_num_threads()} threads")
    print(f"{'pipeline':18} {'ours img/s':>11} {'kornia img/s':>13} {'ours/kornia':>12}")
    for r in rows:
        print(f"{r['pipeline']:18} {r['ours_img_s']:>11} {r['kornia_img_s']:>13} {r['ratio']:>12}")
    command = (f"python benchmarks/augment_speed.py --batch {args.batch} --size {args.size} "
               f"--repeats {args.repeats}")
    Path(args.out).write_text(json.dumps({"command": command, "torch": torch.__version__,
                                          "kornia": kornia.__version__, "threads": torch.get_num_threads(),
                                          "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
