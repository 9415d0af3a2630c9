"""How long the "Attention maps" page takes to rerun (issue: ≤ 300 ms at 64 px, ≤ 1.5 s for
ViT-S/8 on a 480-px image, on the course's CPU).

    python benchmarks/attention_page_speed.py [--threads N] [--repeats 5]

Measures, as the median of several runs after one warm-up:
1. the page's computation at 64 px (DINO's ViT: all layers' [CLS] and query rows + rollout,
   then every overlay and tile the page draws);
2. the same for ViT-S/8 (random weights, the official layout) at 480 px, without and with rollout;
3. a whole page rerun through Streamlit's AppTest after picking another ShapesWorld sample.
4. the physical limit for item 2: ViT-S/8's multiply-adds at this CPU's measured matmul peak.
Prints a table and writes data/results/dino_page_speed.json.
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from course_lib.evaluate import threshold_attention  # noqa: E402
from course_lib.evaluate.attention_maps import attention_rows  # noqa: E402
from course_lib.vit import vit_small, vit_tiny  # noqa: E402
from course_lib.viz.dino import heat_overlay, mask_overlay, tile  # noqa: E402


def median_seconds(fn, repeats):
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def page_work(model, image, rollout):
    """What one rerun computes: rows of [CLS] and a query in every layer, overlays, masks, tiles."""
    p = model.config.patch_size
    h = image.shape[-1] // p
    rows, roll = attention_rows(model, image[None], queries=(0, 1 + h * h // 2), rollout=rollout)
    maps = [rows[L, 0, :, 0, 1:].reshape(-1, h, h) for L in range(rows.shape[0])]  # (heads, h, w) each
    side = h * max(1, 128 // h)  # the page draws at ~128 px
    thumb = F.interpolate(image[None], size=(side, side), mode="bilinear", antialias=True)[0].clamp(0, 1)
    tiles = [heat_overlay(thumb, m) for layer in maps for m in layer]
    kept = threshold_attention(maps[-1], 0.6)
    tiles += [mask_overlay(thumb, k) for k in kept]
    return tile(tiles, maps[0].shape[0])


def app_rerun_seconds(repeats):
    from streamlit.testing.v1 import AppTest

    sys.path.insert(0, str(ROOT / "streamlit_app"))
    at = AppTest.from_file(
        str(ROOT / "streamlit_app" / "topics" / "03_attention_maps.py"), default_timeout=300
    )
    at.run()
    sample = next(s for s in at.slider if s.label == "Sample")
    times = []
    for i in range(repeats):
        t = time.perf_counter()
        sample.set_value((i + 1) % 8).run()
        times.append(time.perf_counter() - t)
        assert not at.exception, at.exception
    return statistics.median(times)


def physical_limit_480px():
    """The fastest ViT-S/8 at 480 px can run here: its multiply-adds at this CPU's matmul peak."""
    from course_lib.complexity import flops_on_meta

    _, macs = flops_on_meta(vit_small, 480, patch_size=8, num_classes=0, img_size=480)
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    seconds = median_seconds(lambda: a @ b, 9)
    peak = 2 * 2048**3 / seconds / 1e9  # fp32 GFLOP/s with this many threads
    return {"forward_multiply_adds": macs, "matmul_peak_gflops": round(peak, 1),
            "seconds_at_peak": round(2 * macs / (peak * 1e9), 2)}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default=str(ROOT / "data" / "results" / "dino_page_speed.json"))
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    tiny = vit_tiny(patch_size=8, img_size=64, depth=6, num_classes=0).eval()
    small = vit_small(patch_size=8, img_size=224, num_classes=0).eval()
    x64, x480 = torch.rand(3, 64, 64), torch.rand(3, 480, 480)
    results = {
        "64 px, ViT 192-d/6 layers/patch 8, with rollout": median_seconds(
            lambda: page_work(tiny, x64, True), args.repeats
        ),
        "480 px, ViT-S/8, no rollout": median_seconds(lambda: page_work(small, x480, False), args.repeats),
        "480 px, ViT-S/8, with rollout": median_seconds(
            lambda: page_work(small, x480, True), max(1, args.repeats // 2)
        ),
        "whole page rerun (AppTest, new 64-px sample)": app_rerun_seconds(args.repeats),
    }
    for name, sec in results.items():
        print(f"{name:50s} {sec * 1000:8.0f} ms")
    limit = physical_limit_480px()
    name = "480 px, ViT-S/8 at the matmul peak (physical limit)"
    print(f"{name:50s} {limit['seconds_at_peak'] * 1000:8.0f} ms")
    record = {
        "seconds": results,
        "physical_limit_480px_vit_s8": limit,
        "threads": torch.get_num_threads(),
        "machine": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "load_average_1min": os.getloadavg()[0],  # other processes on the machine: timings scale with it
        "command": "python benchmarks/attention_page_speed.py " + " ".join(sys.argv[1:]),
    }
    Path(args.out).write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
