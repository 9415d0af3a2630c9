"""Training throughput of the two baselines, in images/s and as a fraction of the matmul peak.

The physical limit is how fast this machine multiplies matrices: we time a large square matmul
(float32 on CPU, bfloat16 on GPU) and call that the peak. A training step costs about 3× the
forward pass (forward, backward to activations, backward to weights), and one multiply-add is 2
FLOPs, so a model reaches  images/s × 3 × 2 × multiply-adds  FLOP/s.

    python benchmarks/train_throughput.py                  # CPU, writes data/results/train_throughput.json
    python benchmarks/train_throughput.py --device cuda --batch-size 256
"""

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

from course_lib.complexity import count_flops, count_params
from course_lib.train import Context, get_recipe

REPO = Path(__file__).resolve().parents[1]
BASELINES = {"supervised-resnet": {}, "supervised-vit": {}}  # the bundled configurations


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def matmul_peak(device, n=None, repeats=10):
    """Best FLOP/s of an n×n matmul (2 n³ FLOPs), float32 on CPU, bfloat16 on GPU."""
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    n = n or (8192 if device.type == "cuda" else 2048)  # large enough to reach the peak
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    best = float("inf")
    for _ in range(repeats):
        sync(device)
        start = time.perf_counter()
        a @ b
        sync(device)
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best


def train_images_per_s(recipe_name, options, device, batch_size, steps):
    """Best images/s over `steps` timed training steps (after 2 warm-up steps), real batches."""
    recipe = get_recipe(recipe_name)
    cfg = recipe.make_config(**options, batch_size=batch_size, train_size=batch_size, val_size=batch_size)
    model = recipe.build_model(cfg).to(device).train()
    optimizer = recipe.build_optimizer(model, cfg)
    batch = recipe.build_data(cfg)[0].get_batch(range(batch_size))
    batch = {k: v.to(device) for k, v in batch.items()}
    ctx = Context(cfg=cfg, device=device)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda")
    best = float("inf")
    for step in range(steps + 2):
        sync(device)
        start = time.perf_counter()
        with autocast:
            loss, _ = recipe.training_step(model, batch, ctx)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        sync(device)
        if step >= 2:
            best = min(best, time.perf_counter() - start)
    forward_macs = count_flops(model.eval(), torch.zeros(1, 3, cfg.img_size, cfg.img_size, device=device))
    return batch_size / best, forward_macs, count_params(model)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--out", default=str(REPO / "data" / "results" / "train_throughput.json"))
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    peak = matmul_peak(device)
    result = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else
              f"{platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} threads",
              "matmul_peak_gflops": round(peak / 1e9, 1), "batch_size": args.batch_size, "models": {},
              # on a shared machine both the peak and the models get the same share of the CPU
              "load_average_1min": round(os.getloadavg()[0], 1)}
    for name, options in BASELINES.items():
        images_per_s, macs, params = train_images_per_s(name, options, device, args.batch_size, args.steps)
        achieved = images_per_s * 3 * 2 * macs
        result["models"][name] = {"images_per_s": round(images_per_s, 1), "params": params,
                                  "forward_multiply_adds": macs, "achieved_gflops": round(achieved / 1e9, 2),
                                  "fraction_of_peak": round(achieved / peak, 3)}
    words = sys.argv[1:] if argv is None else argv
    result["command"] = " ".join(["python benchmarks/train_throughput.py", *words])
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
