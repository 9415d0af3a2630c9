"""Looking at attention: DINO vs supervised vs random on ShapesWorld, and attention rows.

python -m course_lib.dino compare     # → data/results/dino_jaccard.json
"""

import torch
import torch.nn.functional as F

from course_lib.dino.recipe import cls_features, held_out_shapes, standardize


# -- DINO vs supervised vs random: the paper's Fig. 4 comparison on ShapesWorld ----------------
def comparison_models(names=("dino-vit-shapes", "supervised-vit-shapes")):
    """{label: ViT} for the bundled models that exist, plus a random-init ViT of DINO's shape."""
    from course_lib.checkpoints import list_pretrained, load_pretrained
    from course_lib.vit import vit_tiny

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
    from course_lib.evaluate import attention_jaccard_report, knn_accuracy

    test_x, test_fg, test_y = held_out_shapes(n_test, 64, seed, "test", start=start)
    train_x, _, train_y = held_out_shapes(n_train, 64, seed, "train")
    results = {}
    for label, model in models.items():
        report = attention_jaccard_report(model, standardize(test_x), test_fg, mass)
        knn = knn_accuracy(cls_features(model, train_x), train_y, cls_features(model, test_x), test_y)
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
    from course_lib.data import ShapesWorld

    return {"shape": ShapesWorld.SHAPES, "color": ShapesWorld.COLORS, "pattern": ShapesWorld.PATTERNS}


def main_object_attributes(n, seed=0, split="train", start=0):
    """Images (n, 3, 64, 64) and {attribute: labels (n,)}: the largest object's shape, colour, pattern."""
    from course_lib.data import ShapesWorld

    world = ShapesWorld(start + n, image_size=64, seed=seed, split=split)
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
    from course_lib.evaluate import knn_accuracy

    train_x, train_labels = main_object_attributes(n_train, seed, "train")
    test_x, test_labels = main_object_attributes(n_test, seed, "test", start)
    results = {}
    for label, model in models.items():
        train_f, test_f = cls_features(model, train_x), cls_features(model, test_x)  # (n, D)
        results[label] = {a: knn_accuracy(train_f, train_labels[a], test_f, test_labels[a])
                          for a in train_labels}
    results["_chance"] = {a: 1 / len(names) for a, names in attribute_values().items()}
    return results


def main(argv=None):
    """`python -m course_lib.dino compare|attributes [--out FILE] [--n-test N] [--n-train N] [--start 0]`.

    compare → data/results/dino_jaccard.json; attributes (what the features know: k-NN on the main
    object's shape, colour, pattern) → data/results/dino_attributes.json.
    """
    import argparse
    import json

    parser = argparse.ArgumentParser(prog="python -m course_lib.dino")
    parser.add_argument("what", choices=["compare", "attributes"])
    parser.add_argument("--out", default="")
    parser.add_argument("--n-test", type=int, default=500)
    parser.add_argument("--n-train", type=int, default=2000)
    parser.add_argument("--start", type=int, default=0, help="first test image (500: unseen by any choice)")
    args = parser.parse_args(argv)
    command = f"python -m course_lib.dino {args.what} --n-test {args.n_test} --n-train {args.n_train}"
    command += (f" --start {args.start}" if args.start else "") + (f" --out {args.out}" if args.out else "")
    if args.what == "attributes":
        results = what_features_know(comparison_models(), args.n_test, args.n_train, start=args.start)
        results["_chance"]["command"] = command
        args.out = args.out or "data/results/dino_attributes.json"
    else:
        results = compare_attention(comparison_models(), args.n_test, args.n_train, start=args.start)
        results["_reference"]["command"] = command
        args.out = args.out or "data/results/dino_jaccard.json"
    with open(args.out, "w") as f:
        json.dump(results, f, indent=1)
    return results


# -- inspecting attention (the notebook and the app) ------------------------------------------
@torch.no_grad()
def attention_rows(model, images, queries=(0,), rollout=False, residual=0.5):
    """The attention rows of chosen query tokens in every layer, without keeping whole maps.

    A 480-px image with patch 8 has N = 3601 tokens: its 12 full (heads, N, N) maps take ~4 GB,
    the rows of a few queries a few MB. The network runs on the fused attention kernel; each
    layer's `qkv` output is captured and only the requested rows softmax(q_i Kᵀ/√d) are formed.
    Rollout (Abnar & Zuidema 2020) needs the full head-averaged maps: one (N, N) per layer.

    Args:
        model: a `VisionTransformer`; images: (B, 3, H, W), normalized for the model.
        queries: token indices (0 = [CLS], 1 + r·w + c = patch (r, c)).
    Returns:
        rows: (layers, B, heads, Q, N); and the rollout's rows (B, Q, N), or None.
    """
    from course_lib.attention import attention_weights

    captured = []
    hooks = [
        blk.attn.qkv.register_forward_hook(lambda m, i, out: captured.append(out)) for blk in model.blocks
    ]
    fused = [blk.attn.fused for blk in model.blocks]
    try:
        for blk in model.blocks:
            blk.attn.fused = True  # same numbers, no (N, N) matrix
        model.forward_features(images)
    finally:
        for blk, f, hook in zip(model.blocks, fused, hooks):
            blk.attn.fused = f
            hook.remove()
    q_idx = torch.as_tensor(list(queries), device=images.device)
    rows, mixed = [], []
    for blk, qkv in zip(model.blocks, captured):
        B, N, _ = qkv.shape
        heads = blk.attn.num_heads
        q, k, _ = qkv.reshape(B, N, 3, heads, -1).permute(2, 0, 3, 1, 4)  # each (B, heads, N, d)
        rows.append(attention_weights(q[:, :, q_idx], k, blk.attn.scale).float())  # (B, heads, Q, N)
        if rollout:
            avg = attention_weights(q, k, blk.attn.scale).float().mean(1)  # (B, N, N)
            avg = residual * torch.eye(N, device=avg.device) + (1 - residual) * avg
            mixed.append(avg / avg.sum(-1, keepdim=True))
    roll = None
    if rollout:  # row q of Ã_L ··· Ã_1: multiply a one-hot row by the layers, last layer first
        roll = F.one_hot(q_idx, N).float().expand(B, -1, -1)  # (B, Q, N)
        for avg in reversed(mixed):
            roll = roll @ avg  # (B, Q, N)
    return torch.stack(rows), roll
