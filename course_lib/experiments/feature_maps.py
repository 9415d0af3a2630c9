"""How well the foreground-only PCA of the Feature maps page finds the objects, on held-out images.

For each bundled ViT (DINO, MAE, supervised) and a random-init ViT, the patches that the page's
foreground-only mode keeps (`course_lib.evaluate.features.pca_rgb`) are compared with the true
foreground by Jaccard, over ShapesWorld test images. Two references: every patch off the image
border, and the best mask the 8 × 8 patch grid allows (patches more than half object).

    python -m course_lib.experiments feature-maps            # → data/results/feature_maps.json
"""

import argparse
import json

import torch
import torch.nn.functional as F

from course_lib.data.rendered import standardize
from course_lib.data.shapes import ShapesWorld
from course_lib.evaluate.attention_maps import jaccard, upsample_mask
from course_lib.evaluate.features import border_of, patch_tokens, pca_rgb
from course_lib.experiments.ssl_cues import encoders

MODELS = ("dino-vit-shapes", "mae-vit-shapes", "supervised-vit-shapes")


def models():
    """{label: (ViT, mean, std)}: the bundled ViTs that exist and a random-init ViT of the same shape,
    built as the cue probe builds them (`ssl_cues.encoders`)."""
    return {label: (model, mean, std) for label, (model, _, mean, std) in encoders().items()
            if label in MODELS or label == "random-init-vit"}


def foreground_jaccard(n=256, seed=0, start=0):
    """{label: {"mean", "median"}} Jaccard of the kept patches with the true foreground."""
    world = ShapesWorld(start + n, img_size=64, seed=seed, split="test")
    batch = world.batch(range(start, start + n))
    images, masks = batch["image"].float(), batch["foreground"].bool()  # (n, 3, 64, 64), (n, 64, 64)
    results = {}
    for label, (model, mean, std) in models().items():
        with torch.no_grad():
            tokens = patch_tokens(model, standardize(images, mean, std))  # (n, 64, D)
        kept = torch.stack([pca_rgb(t, 8, 8, foreground_only=True)[1] for t in tokens])  # (n, 8, 8)
        scores = jaccard(upsample_mask(kept, (64, 64)), masks)  # (n,)
        results[label] = {"mean": round(scores.mean().item(), 4),
                          "median": round(scores.median().item(), 4)}
    interior = upsample_mask(~border_of(8, 8).reshape(8, 8), (64, 64)).expand(n, -1, -1)
    share = F.avg_pool2d(masks[:, None].float(), 8)[:, 0]  # (n, 8, 8): object share of each patch
    results["_every_non_border_patch"] = round(jaccard(interior, masks).mean().item(), 4)
    best = upsample_mask(share > 0.5, (64, 64))  # (n, 64, 64): the patches more than half object
    results["_best_on_the_grid"] = round(jaccard(best, masks).mean().item(), 4)
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m course_lib.experiments feature-maps",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=256)
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--out", default="data/results/feature_maps.json")
    args = parser.parse_args(argv)
    results = foreground_jaccard(args.n, start=args.start)
    results["_protocol"] = {
        "command": f"python -m course_lib.experiments feature-maps --n {args.n} --start {args.start}",
        "test": f"ShapesWorld test split, images {args.start} … {args.start + args.n - 1} "
                "(64 px, 8 × 8 patches)",
    }
    with open(args.out, "w") as f:
        json.dump(results, f, indent=1)
    return results
