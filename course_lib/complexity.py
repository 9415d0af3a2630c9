"""Counting: parameters, FLOPs (multiply-adds), and the memory of attention matrices.

`python -m course_lib.complexity` prints our models' parameter and FLOP counts beside the papers'
and timm's published figures.

FLOPs here are multiply-adds (MACs), the unit the ViT and Swin papers and timm's tables use. The
counter is torch's `FlopCounterMode` (which counts 2 per multiply-add, hence the halving). It
counts 0 for the fused CPU attention kernel, so `count_flops` switches every attention module to
its explicit path (q·kᵀ and attn·v as matmuls) while counting.
"""

import argparse
import contextlib
import importlib

import torch
from torch.utils.flop_counter import FlopCounterMode

# -- parameters and FLOPs -----------------------------------------------------------------------


def count_params(model, trainable_only=False):
    """Number of parameters (buffers excluded)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


@contextlib.contextmanager
def explicit_attention(model):
    """Temporarily switch every attention module to the explicit (countable) path."""
    switched = []
    for module in model.modules():
        for attr in ("fused", "fused_attn"):
            if getattr(module, attr, None) is True:
                setattr(module, attr, False)
                switched.append((module, attr))
    try:
        yield model
    finally:
        for module, attr in switched:
            setattr(module, attr, True)


def count_flops(model, inputs):
    """Multiply-adds of one forward pass, attention matmuls included.

    Args:
        model: any nn.Module.
        inputs: a tensor, or a tuple of positional inputs. Meta tensors work (and cost nothing)
            if the model was built on the meta device.
    Returns:
        int, multiply-adds (divide by 1e9 for the papers' "GFLOPs").
    """
    inputs = inputs if isinstance(inputs, tuple) else (inputs,)
    counter = FlopCounterMode(display=False)
    with explicit_attention(model), counter, torch.no_grad():
        model(*inputs)
    return counter.get_total_flops() // 2  # FlopCounterMode counts a multiply-add as 2


def build_on_meta(factory, **kwargs):
    """Build a model without allocating its weights: for counting the big presets instantly."""
    with torch.device("meta"):
        return factory(**kwargs)


def flops_on_meta(factory, image_size, **kwargs):
    """(params, MACs) of `factory(**kwargs)` on a 1 × 3 × image_size² input, on the meta device."""
    model = build_on_meta(factory, **kwargs).eval()
    x = torch.empty(1, 3, image_size, image_size, device="meta")
    return count_params(model), count_flops(model, x)


# -- attention memory ---------------------------------------------------------------------------


def attention_matrix_bytes(tokens, heads=1, layers=1, batch=1, bytes_per_element=4):
    """Bytes taken by the attention matrices softmax(QKᵀ/√d) of a whole forward pass.

    Each head of each layer builds one N × N matrix per image:

        bytes = batch · layers · heads · N² · bytes_per_element

    Pixels as tokens: an R × R image has N = R² tokens, so (R²)² = R⁴ entries per head per layer.

    Args:
        tokens: N, tokens per image (e.g. 197 for a 224-px image in 16-px patches plus [CLS]).
        heads, layers, batch: counts.
        bytes_per_element: 4 for float32, 2 for float16/bfloat16.
    Returns:
        int, bytes.
    """
    for name, value in dict(tokens=tokens, heads=heads, layers=layers, batch=batch).items():
        if int(value) != value or value < 0:
            raise ValueError(f"{name} must be a non-negative whole number, got {value!r}.")
    # BEGIN SOLUTION
    return int(batch) * int(layers) * int(heads) * int(tokens) ** 2 * int(bytes_per_element)
    # END SOLUTION


def tokens_for_image(image_size, patch_size=1, cls_token=True):
    """Tokens of a square image: (R/p)² patches, plus one [CLS] if asked. patch_size=1: pixels."""
    if image_size % patch_size:
        raise ValueError(f"Patch size {patch_size} does not divide the image size {image_size}.")
    return (image_size // patch_size) ** 2 + int(cls_token)


def format_bytes(n):
    """1536 → '1.5 KiB'; binary units as memory is sold to GPUs."""
    value = float(n)
    for unit in ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]:
        if value < 1024 or unit == "EiB":
            return f"{value:,.1f} {unit}" if unit != "B" else f"{int(value):,} B"
        value /= 1024
    return f"{value:,.1f} EiB"


# -- the papers' tables -------------------------------------------------------------------------

# (label, "module:factory", kwargs, image size, published (source, params M, GMACs) entries)
TABLE = [
    ("ViT-S/16@224", "course_lib.vit:vit_small", dict(patch_size=16), 224,
     [("timm", 22.05, 4.61)]),
    ("ViT-B/16@224", "course_lib.vit:vit_base", dict(patch_size=16), 224,
     [("timm", 86.57, 17.58)]),
    ("ViT-B/16@384", "course_lib.vit:vit_base", dict(patch_size=16, img_size=384), 384,
     [("Swin paper", 86, 55.4), ("timm", 86.86, 55.54)]),
    ("ViT-L/16@384", "course_lib.vit:vit_large", dict(patch_size=16, img_size=384), 384,
     [("Swin paper", 307, 190.7), ("timm", 304.72, 191.21)]),
    ("ViT-H/14@224", "course_lib.vit:vit_huge", dict(patch_size=14, img_size=224), 224,
     [("ViT paper", 632, None)]),
]

# Other modules (e.g. course_lib.swin) contribute rows through a module-level list of the same
# form, named here so that this module imports nothing at import time.
EXTRA_TABLES = ["course_lib.swin:COMPLEXITY_ROWS"]


def resolve(spec):
    """'package.module:name' → the object."""
    module, name = spec.split(":")
    return getattr(importlib.import_module(module), name)


def all_rows():
    rows = list(TABLE)
    for spec in EXTRA_TABLES:
        try:
            rows += resolve(spec)
        except (ImportError, AttributeError):
            continue  # that topic is not in this copy of the kit
    return rows


def measure_row(row):
    """→ (label, params M, GMACs, published entries) for one table row."""
    label, factory, kwargs, size, published = row
    params, macs = flops_on_meta(resolve(factory), size, **kwargs)
    return label, params / 1e6, macs / 1e9, published


def format_table(measured):
    lines = [f"{'model':<16}{'params (M)':>12}{'GMACs':>10}   published (params M / GMACs)", "-" * 78]
    for label, params, gmacs, published in measured:
        pub = "; ".join(f"{src} {p}M / {g if g is not None else '–'}" for src, p, g in published)
        lines.append(f"{label:<16}{params:>12.2f}{gmacs:>10.2f}   {pub}")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description="Parameters and FLOPs beside the published tables.")
    parser.parse_args(argv)
    print(format_table([measure_row(r) for r in all_rows()]))


if __name__ == "__main__":
    main()
