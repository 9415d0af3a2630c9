"""Swin's claim measured: time and memory of a ViT stage (global attention) vs a Swin stage
(window attention) as the image grows, at the same tokens and channels (Swin-T's first stage:
C = 96, 3 heads, 2 blocks, M = 7).

    python benchmarks/swin_scaling.py                       # CPU, a few minutes
    python benchmarks/swin_scaling.py --device cuda         # GPU: exact peak memory from CUDA

Writes data/results/swin_scaling.json (every measurement, the FLOPs beside Ω(MSA) and Ω(W-MSA),
and the log-log slopes over the largest sizes) and data/results/swin_scaling.png.
Peak memory on CPU is the peak of live tensors created during the forward pass (weights and
input excluded), tracked op by op; on CUDA it is `torch.cuda.max_memory_allocated`.
"""

import argparse
import json
import platform
import sys
import time
import weakref
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from course_lib.blocks import Block
from course_lib.complexity import count_flops, omega_msa, omega_wmsa
from course_lib.swin import BasicLayer

ROOT = Path(__file__).resolve().parents[1]
C, HEADS, DEPTH, M = 96, 3, 2, 7


class ViTStage(nn.Module):
    """DEPTH pre-norm ViT blocks on an h × w token grid: global attention, explicit (N × N) maps."""

    def __init__(self):
        super().__init__()
        self.blocks = nn.Sequential(*[Block(C, HEADS, norm_eps=1e-5) for _ in range(DEPTH)])

    def forward(self, x):
        return self.blocks(x)


def swin_stage(side):
    """DEPTH Swin blocks (W-MSA, then SW-MSA) on a side × side grid, no downsampling."""
    return BasicLayer(C, (side, side), DEPTH, HEADS, M, 4.0, True, [0.0] * DEPTH, downsample=False)


class PeakMemory(TorchDispatchMode):
    """Peak bytes of the tensors created inside the mode and still alive, op by op (CPU)."""

    def __init__(self):
        super().__init__()
        self.live, self.refs, self.now, self.peak = {}, {}, 0, 0

    def _release(self, ptr):
        self.refs[ptr] -= 1
        if self.refs[ptr] == 0:
            self.now -= self.live.pop(ptr)
            del self.refs[ptr]

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else [out]:
            if isinstance(t, torch.Tensor):
                ptr = t.untyped_storage().data_ptr()
                if ptr not in self.live:
                    self.live[ptr], self.refs[ptr] = t.untyped_storage().nbytes(), 0
                    self.now += self.live[ptr]
                    self.peak = max(self.peak, self.now)
                self.refs[ptr] += 1
                weakref.finalize(t, self._release, ptr)
        return out


def peak_bytes(model, x):
    if x.device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        with torch.no_grad():
            model(x)
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - base
    tracker = PeakMemory()
    with torch.no_grad(), tracker:
        model(x)
    return tracker.peak


def seconds(model, x, repeats):
    """Best time of one forward pass over `repeats` (after one warm-up).

    On CPU this is the process's CPU time (`time.process_time`), which other programs sharing the
    machine do not inflate; on CUDA it is wall-clock time between synchronizations.
    """
    cuda = x.device.type == "cuda"
    clock = time.perf_counter if cuda else time.process_time
    times = []
    with torch.no_grad():
        for _ in range(repeats + 1):
            if cuda:
                torch.cuda.synchronize()
            start = clock()
            model(x)
            if cuda:
                torch.cuda.synchronize()
            times.append(clock() - start)
    return float(min(times[1:]))


def measure(model, side, device, repeats):
    """Time, peak memory, then multiply-adds (counted on the meta device: no second real run)."""
    x = torch.randn(1, side * side, C, device=device)
    result = {"seconds": seconds(model, x, repeats), "peak_bytes": int(peak_bytes(model, x))}
    result["macs"] = int(count_flops(model.to("meta"), x.to("meta")))  # the model is used up here
    return result


def slope(xs, ys):
    """Least-squares slope of log y against log x."""
    return float(np.polyfit(np.log(xs), np.log(ys), 1)[0])


def run(sides, device, repeats, fit_last):
    rows = []
    for side in sides:
        row = {"side": side, "tokens": side * side, "image_size_patch4": 4 * side,
               "omega_msa_per_block": omega_msa(side, side, C),
               "omega_wmsa_per_block": omega_wmsa(side, side, C, M)}
        for kind, model in (("vit", ViTStage()), ("swin", swin_stage(side))):
            model = model.eval().to(device)
            row[kind] = measure(model, side, device, repeats)
        rows.append(row)
        print(f"side {side:3d}  tokens {side * side:5d}  vit {row['vit']['seconds']:.4f}s "
              f"{row['vit']['peak_bytes'] / 2**20:8.1f} MiB   swin {row['swin']['seconds']:.4f}s "
              f"{row['swin']['peak_bytes'] / 2**20:8.1f} MiB", flush=True)
    big = rows[-fit_last:]
    tokens = [r["tokens"] for r in big]
    slopes = {kind: {m: slope(tokens, [r[kind][m] for r in big]) for m in ("seconds", "peak_bytes", "macs")}
              for kind in ("vit", "swin")}
    return rows, slopes


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sides", type=int, nargs="+", default=[14, 21, 28, 42, 56, 70, 84],
                        help="token-grid sides (multiples of 7); image side = 4 × side")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--fit-last", type=int, default=4, help="fit the slopes on the largest N sizes")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=str(ROOT / "data" / "results" / "swin_scaling.json"))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rows, slopes = run(args.sides, args.device, args.repeats, args.fit_last)
    results = {
        "what": "one forward pass (batch 1) of a ViT stage vs a Swin stage at equal tokens: "
                f"C={C}, heads={HEADS}, blocks={DEPTH}, window M={M}; slopes of log(metric) vs log(tokens) "
                f"over the largest {args.fit_last} sizes (1 = linear, 2 = quadratic)",
        "command": " ".join(["python benchmarks/swin_scaling.py", *(sys.argv[1:] if argv is None else argv)]),
        "clock": "CPU time of the process (min over repeats)" if args.device == "cpu"
                 else "wall-clock, CUDA synchronized (min over repeats)",
        "machine": {"device": args.device if args.device == "cpu" else torch.cuda.get_device_name(),
                    "cpu": platform.processor() or platform.machine(), "threads": args.threads,
                    "torch": torch.__version__},
        "rows": rows, "slopes": slopes,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    from course_lib.viz.swin import plot_scaling

    plot_scaling(results).savefig(out.with_suffix(".png"), dpi=120)
    print(json.dumps(slopes, indent=1))


if __name__ == "__main__":
    main()
