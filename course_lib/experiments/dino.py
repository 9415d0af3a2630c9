"""DINO vs supervised vs random init on held-out ShapesWorld: attention, and what the features know.

    python -m course_lib.experiments dino compare      # → data/results/dino_jaccard.json
    python -m course_lib.experiments dino attributes   # → data/results/dino_attributes.json

`compare` is the paper's Fig. 4 / Table 3 measurement (best-head and mean Jaccard of the 60%-mass
[CLS] masks, foreground attention mass, k-NN shape accuracy); `attributes` asks the [CLS]
features, by k-NN, for the main object's shape, colour and pattern.
"""

import argparse
import json

import torch

from course_lib.checkpoints import list_pretrained, load_pretrained
from course_lib.data.rendered import held_out_shapes, standardize
from course_lib.data.shapes import ShapesWorld
from course_lib.evaluate.attention_maps import attention_jaccard_report
from course_lib.evaluate.probes import embed, knn_accuracy
from course_lib.vit import vit_tiny


def comparison_models(names=("dino-vit-shapes", "supervised-vit-shapes")):
    """{label: ViT} for the bundled models that exist, plus a random-init ViT of DINO's shape."""
    models, bundled = {}, set(list_pretrained("bundled"))
    for name in names:
        if name in bundled:
            models[name.split("-")[0]] = load_pretrained(name)
    torch.manual_seed(0)
    models["random"] = vit_tiny(patch_size=8, img_size=64, depth=6, num_classes=0).eval()
    return models


def compare_attention(models, n_test=500, n_train=2000, seed=0, mass=0.6, start=0):
    """Best-head / mean Jaccard, foreground attention mass and k-NN accuracy for each model.

    Held-out = test images start … start+n_test-1 of ShapesWorld's "test" split (training runs
    evaluate on the first 500: `start=500` gives images no choice has seen); the k-NN memory
    bank is the first `n_train` training images. Returns {label: metrics}, and "_reference":
    the centred-blob Jaccard.
    """
    test_x, test_fg, test_y = held_out_shapes(n_test, 64, seed, "test", start=start)
    train_x, _, train_y = held_out_shapes(n_train, 64, seed, "train")
    results = {}
    for label, model in models.items():
        report = attention_jaccard_report(model, standardize(test_x), test_fg, mass)
        knn = knn_accuracy(embed(model, train_x), train_y, embed(model, test_x), test_y)
        results[label] = {
            **report,
            "knn_top1": knn,
            "fg_mass_ratio_best_head": report["fg_mass_ratio"][report["best_head_index"]],
        }
    results["_reference"] = {
        "centred_blob_jaccard": report["blob"],
        "n_test": n_test,
        "n_train": n_train,
        "mass": mass,
        "split": "test",
        "first_test_image": start,
        "seed": seed,
    }
    return results


def attribute_values():
    """{attribute: its possible values} of a ShapesWorld object, for the probes below."""
    return {"shape": ShapesWorld.SHAPES, "color": ShapesWorld.COLORS, "pattern": ShapesWorld.PATTERNS}


def main_object_attributes(n, seed=0, split="train", start=0):
    """Images (n, 3, 64, 64) and {attribute: labels (n,)}: the largest object's shape, colour, pattern."""
    world = ShapesWorld(start + n, img_size=64, seed=seed, split=split)
    batch = world.batch(range(start, start + n))
    labels = {}
    for attribute, names in attribute_values().items():
        index = {name: i for i, name in enumerate(names)}
        labels[attribute] = torch.tensor([index[objs[0][attribute]] for objs in batch["objects"]])
    return batch["image"], labels


def what_features_know(models, n_test=500, n_train=2000, seed=0, start=0):
    """k-NN accuracy of each model's [CLS] features on the main object's shape, colour and pattern.

    Returns {label: {attribute: accuracy}} and "_chance": 1 / number of values of each attribute.
    """
    train_x, train_labels = main_object_attributes(n_train, seed, "train")
    test_x, test_labels = main_object_attributes(n_test, seed, "test", start)
    results = {}
    for label, model in models.items():
        train_f, test_f = embed(model, train_x), embed(model, test_x)  # (n, D) [CLS] features
        results[label] = {a: knn_accuracy(train_f, train_labels[a], test_f, test_labels[a])
                          for a in train_labels}
    results["_chance"] = {a: 1 / len(names) for a, names in attribute_values().items()}
    return results


def main(argv=None):
    """`python -m course_lib.experiments dino compare|attributes [--out FILE] [--n-test N] [--n-train N]
    [--start 0]`.

    compare → data/results/dino_jaccard.json; attributes (what the features know: k-NN on the main
    object's shape, colour, pattern) → data/results/dino_attributes.json.
    """
    parser = argparse.ArgumentParser(prog="python -m course_lib.experiments dino")
    parser.add_argument("what", choices=["compare", "attributes"])
    parser.add_argument("--out", default="")
    parser.add_argument("--n-test", type=int, default=500)
    parser.add_argument("--n-train", type=int, default=2000)
    parser.add_argument("--start", type=int, default=0, help="first test image (500: unseen by any choice)")
    args = parser.parse_args(argv)
    command = f"python -m course_lib.experiments dino {args.what} --n-test {args.n_test}"
    command += f" --n-train {args.n_train}"
    command += (f" --start {args.start}" if args.start else "") + (f" --out {args.out}" if args.out else "")
    if args.what == "attributes":
        results = what_features_know(comparison_models(), args.n_test, args.n_train, start=args.start)
        results["_chance"]["command"] = command
        out = args.out or "data/results/dino_attributes.json"
    else:
        results = compare_attention(comparison_models(), args.n_test, args.n_train, start=args.start)
        results["_reference"]["command"] = command
        out = args.out or "data/results/dino_jaccard.json"
    with open(out, "w") as f:
        json.dump(results, f, indent=1)
