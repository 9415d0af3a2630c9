"""Why SimCLR on ShapesWorld does not learn the object's shape: short diagnostic runs.

    python -m course_lib.experiments ssl-diagnostics                  # every arm, 1,000 steps each
    python -m course_lib.experiments ssl-diagnostics --arms base ce   # some arms

Each arm trains the bundled SimCLR architecture (ResNet, width 16) from scratch for `--steps`
steps of 128 images drawn with replacement from 4,096 rendered ShapesWorld training images
(AdamW, lr 2e-3, 50 warm-up steps, cosine), then probes h = f(x) with `probe_metrics`: k-NN and
linear probe on the val split (where choices are made) and on the test split. Two arms are
controls, not self-supervised methods, and use the labels on purpose:

    ce      cross-entropy on the shape label: how fast this network learns shape with labels
    supcon  NT-Xent whose positive is a view of *another* image of the same shape (SupCon's idea):
            can this loss at this budget learn shape when shape is all the two views share?

What the arms vary is the augmentation (the SimCLR paper's lever), the crop scale and the width.
Writes data/results/ssl_diagnostics.json.
"""

import argparse
import json
import math
import platform
import time

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from course_lib.checkpoints import write_json
from course_lib.data.augment import TwoViews
from course_lib.data.probe_sets import shapes_probe_data
from course_lib.data.rendered import render_shapes, standardize
from course_lib.evaluate.probes import probe_metrics
from course_lib.simclr import LOSSES, SimCLR, SimCLRConfig

STRONG = dict(hue=0.5, strength=1.0, blur_p=0.5, blur_sigma=3.0)  # whole hue wheel, s = 1, blur
ARMS = {  # name → (objective, augmentation and model options)
    "base": ("simclr", {}),  # the bundled recipe's views: crop 0.2–1 + flip, colour s = 0.5
    "strong": ("simclr", dict(STRONG, turn="quarter")),
    "strong-any-turn": ("simclr", dict(STRONG, turn="any")),
    "strong-any-turn-crop-0.5": ("simclr", dict(STRONG, turn="any", min_scale=0.5)),
    "strong-width-32": ("simclr", dict(STRONG, turn="quarter", width=32)),
    "supcon": ("supcon", dict(STRONG, turn="quarter")),
    "supcon-mild": ("supcon", dict(min_scale=0.6)),
    "ce": ("ce", dict(min_scale=0.6)),
}


def views_of(options):
    """The arm's TwoViews (defaults: the bundled SimCLR recipe's)."""
    return TwoViews(64, min_scale=options.get("min_scale", 0.2), strength=options.get("strength", 0.5),
                    hue=options.get("hue"), blur_p=options.get("blur_p", 0.0),
                    turn=options.get("turn", "none"), blur_sigma=(0.1, options.get("blur_sigma", 2.0)))


def objective_loss(objective, model, head, two_views, data, idx):
    """One step's loss for the arm's objective on the images `data.images[idx]`."""
    x = data.images[idx].float() / 255  # (B, 3, 64, 64)
    B = len(idx)
    if objective == "ce":  # the labelled control
        return F.cross_entropy(head(model(standardize(two_views(x)[0]))), data.labels[idx])
    if objective == "supcon":  # the positive: a view of another image of the same shape
        partner = torch.stack([data.by_class[int(c)][torch.randint(len(data.by_class[int(c)]), ())]
                               for c in data.labels[idx]])  # (B,) indices
        view_a, view_b = two_views(x)[0], two_views(data.images[partner].float() / 255)[0]
    else:
        view_a, view_b = two_views(x)
    z = model(standardize(torch.cat([view_a, view_b])), project=True)  # (2B, 128)
    return LOSSES["nt_xent"](z[:B], z[B:], model.config)


def run_arm(name, steps, batch_size=128, train_size=4096, seed=0):
    """Train one arm and probe it: a row of the results."""
    objective, options = ARMS[name]
    torch.manual_seed(seed)
    model = SimCLR(SimCLRConfig(encoder="resnet", width=options.get("width", 16), temperature=0.5))
    head = torch.nn.Linear(model(torch.zeros(2, 3, 64, 64)).shape[1], 6)  # used by "ce" only
    opt = torch.optim.AdamW([*model.parameters(), *head.parameters()], lr=2e-3, weight_decay=1e-4)
    warm_cosine = lambda s: min(1, (s + 1) / 50) * 0.5 * (1 + math.cos(math.pi * s / steps))  # noqa: E731
    sched = torch.optim.lr_scheduler.LambdaLR(opt, warm_cosine)
    data = render_shapes(train_size, 64, 0, "train")
    data.by_class = {c: (data.labels == c).nonzero()[:, 0] for c in range(6)}
    two_views, start = views_of(options), time.time()
    for _ in tqdm(range(steps), desc=name, leave=False):
        idx = torch.randint(0, train_size, (batch_size,))  # (B,) with replacement
        loss = objective_loss(objective, model, head, two_views, data, idx)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    metrics = probe_metrics(model.eval(), shapes_probe_data(2048, 1024, 64, 0))
    return {"arm": name, "objective": objective, **options, "steps": steps, "batch_size": batch_size,
            **{k: round(v, 3) for k, v in metrics.items()}, "final_loss": round(loss.item(), 3),
            "seconds": round(time.time() - start)}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m course_lib.experiments ssl-diagnostics")
    parser.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS))
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default="data/results/ssl_diagnostics.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    start, rows = time.time(), []
    result = {"experiment": "Why SimCLR features miss the shape: views, width and two labelled controls",
              "command": "python -m course_lib.experiments ssl-diagnostics " + " ".join(argv or []),
              "machine": f"{platform.machine()} CPU, {args.threads} thread(s)", "rows": rows}
    for name in tqdm(args.arms, desc="arms"):
        rows.append(run_arm(name, args.steps))
        write_json(args.out, {**result, "seconds": round(time.time() - start)})  # after every arm
    print(json.dumps(rows, indent=1))
    return result
