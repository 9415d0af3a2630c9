"""What each bundled encoder's frozen features know about a ShapesWorld image (issue 15's diagnosis).

For every bundled image encoder (supervised ResNet and ViT, SimCLR, DINO, MAE, CLIP's image tower)
and a random-init ViT, a weighted k-NN (k = 20, cosine, T = 0.07, DINO's protocol) on frozen
features predicts each attribute of held-out test images from a memory bank of training images:

- the main (largest) object's shape (the label the supervised models were trained on), colour,
  pattern and size word;
- the number of objects, and the second object's shape ("none" when there is one object).

An attribute the features predict well is a cue the encoder kept; self-supervised features that
know colour and pattern but not shape have learned the shortcut, not the object.

    python -m course_lib.experiments ssl-cues            # → data/results/ssl_cues.json
    python -m course_lib.experiments ssl-cues --n-test 200 --n-train 500 --out /tmp/cues.json
"""

import argparse
import json

import torch
from tqdm.auto import tqdm

from course_lib.checkpoints import card, list_pretrained, load_pretrained
from course_lib.data.rendered import SHAPES_MEAN, SHAPES_STD
from course_lib.data.shapes import ShapesWorld
from course_lib.evaluate.probes import embed, encoder_of, knn_accuracy, patch_mean_of
from course_lib.vit import vit_tiny

ENCODERS = ("supervised-resnet-shapes", "supervised-vit-shapes", "simclr-resnet-shapes", "dino-vit-shapes",
            "mae-vit-shapes", "clip-shapes")


def attributes(n, split, seed=0, start=0):
    """Images (n, 3, 64, 64) in [0, 1] and {attribute: labels (n,)} of ShapesWorld items."""
    batch = ShapesWorld(start + n, img_size=64, seed=seed, split=split).batch(range(start, start + n))
    objects = batch["objects"]
    values = {"shape": ShapesWorld.SHAPES, "color": ShapesWorld.COLORS, "pattern": ShapesWorld.PATTERNS,
              "size_word": sorted({o[0]["size_word"] for o in objects} | {"small", "large"})}
    labels = {a: torch.tensor([list(names).index(objs[0][a]) for objs in objects])
              for a, names in values.items()}
    labels["n_objects"] = torch.tensor([len(objs) for objs in objects])
    second = [objs[1]["shape"] if len(objs) > 1 else "none" for objs in objects]
    labels["second_shape"] = torch.tensor([(*ShapesWorld.SHAPES, "none").index(s) for s in second])
    return batch["image"], labels


def encoders():
    """{label: (callable or module, features, mean, std)} for every bundled encoder, plus random init."""
    found, bundled = {}, set(list_pretrained("bundled"))
    for name in ENCODERS:
        if name not in bundled:
            continue
        model, info = load_pretrained(name), card(name)["input"]
        features = encoder_of
        if name.startswith("mae"):
            features = patch_mean_of  # MAE's probe feature: the mean patch token
        elif name.startswith("clip"):
            features = lambda m: m.encode_image  # noqa: E731  (the image tower's embedding)
        found[name] = (model, features, info["mean"], info["std"])
    torch.manual_seed(0)
    found["random-init-vit"] = (vit_tiny(patch_size=8, img_size=64, depth=6, num_classes=0).eval(),
                                encoder_of, SHAPES_MEAN, SHAPES_STD)
    return found


def cue_table(n_test=1000, n_train=2000, start=500, seed=0):
    """{encoder: {attribute: k-NN accuracy}} on test images start … start + n_test − 1."""
    train_x, train_y = attributes(n_train, "train", seed)
    test_x, test_y = attributes(n_test, "test", seed, start)
    results = {}
    for label, (model, features, mean, std) in tqdm(encoders().items(), desc="encoders"):
        train_f = embed(model, train_x, mean, std, features=features)  # (n_train, D)
        test_f = embed(model, test_x, mean, std, features=features)  # (n_test, D)
        results[label] = {a: round(knn_accuracy(train_f, train_y[a], test_f, test_y[a]), 4)
                          for a in train_y}
    # the majority class of each attribute on the test images: what "knowing nothing" scores
    results["_majority"] = {a: round(float(y.bincount().max()) / len(y), 4) for a, y in test_y.items()}
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m course_lib.experiments ssl-cues",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--n-test", type=int, default=1000)
    parser.add_argument("--n-train", type=int, default=2000)
    parser.add_argument("--start", type=int, default=500, help="first test image (500: unseen by any choice)")
    parser.add_argument("--out", default="data/results/ssl_cues.json")
    args = parser.parse_args(argv)
    results = cue_table(args.n_test, args.n_train, args.start)
    command = f"python -m course_lib.experiments ssl-cues --n-test {args.n_test} --n-train {args.n_train}"
    command += f" --start {args.start}"
    if args.out != parser.get_default("out"):
        command += f" --out {args.out}"
    results["_protocol"] = {
        "command": command,
        "knn": "weighted k-NN, k = 20, cosine, T = 0.07 (DINO); memory bank: the first n_train train images",
        "test": f"ShapesWorld test split, images {args.start} … {args.start + args.n_test - 1}",
    }
    with open(args.out, "w") as f:
        json.dump(results, f, indent=1)
    return results
