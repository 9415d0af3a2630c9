"""Forward throughput of our ViT against timm's, same weights, on this machine's CPU.

The two models alternate inside one run (ours, timm, ours, timm, ...) so that both see the same
machine state; we report the median images/s of each and their ratio, for the fused attention
kernel (timm's default) and for the explicit softmax path (both sides switched).

    python benchmarks/vit_speed.py [--batch 8] [--repeats 7] [--models vit_small vit_base]
"""

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from course_lib.vit import vit_base, vit_small

TIMM_NAMES = {"vit_small": "vit_small_patch16_224", "vit_base": "vit_base_patch16_224"}
FACTORIES = {"vit_small": vit_small, "vit_base": vit_base}


def images_per_second(model, x):
    start = time.perf_counter()
    with torch.inference_mode():
        model(x)
    return x.shape[0] / (time.perf_counter() - start)


def set_fused(ours, ref, fused):
    ours.set_fused_attn(fused)
    for blk in ref.blocks:
        blk.attn.fused_attn = fused


def compare(name, batch, repeats, fused):
    import timm

    ref = timm.create_model(TIMM_NAMES[name], pretrained=False).eval()
    ours = FACTORIES[name](patch_size=16).eval()
    ours.load_state_dict(ref.state_dict(), strict=True)
    set_fused(ours, ref, fused)
    x = torch.randn(batch, 3, 224, 224)
    for model in (ours, ref):  # warm-up
        images_per_second(model, x)
    ours_ips, ref_ips = [], []
    for _ in range(repeats):
        ours_ips.append(images_per_second(ours, x))
        ref_ips.append(images_per_second(ref, x))
    o, r = statistics.median(ours_ips), statistics.median(ref_ips)
    return dict(model=name, attention="fused" if fused else "explicit", batch=batch,
                ours_img_s=round(o, 2), timm_img_s=round(r, 2), ratio=round(o / r, 3))


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--models", nargs="+", default=["vit_small", "vit_base"], choices=list(FACTORIES))
    parser.add_argument("--out", default="data/results/vit_speed.json")
    args = parser.parse_args()
    rows = [compare(m, args.batch, args.repeats, fused) for m in args.models for fused in (True, False)]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{'model':<10}{'attention':<10}{'ours img/s':>12}{'timm img/s':>12}{'ours/timm':>11}")
    for r in rows:
        print(f"{r['model']:<10}{r['attention']:<10}{r['ours_img_s']:>12}{r['timm_img_s']:>12}{r['ratio']:>11}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(dict(command="python benchmarks/vit_speed.py " + " ".join(
        f"--{k} {v if not isinstance(v, list) else ' '.join(v)}"
        for k, v in vars(args).items() if k != "out"),
        threads=torch.get_num_threads(), torch=torch.__version__, rows=rows), indent=2))


if __name__ == "__main__":
    main()
