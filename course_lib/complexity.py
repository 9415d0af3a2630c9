"""Counting: parameters, FLOPs (multiply-adds), and the memory of attention matrices.

`python -m course_lib.complexity` prints our models' parameter and FLOP counts beside the papers'
and timm's published figures. The Swin paper's cost formulas, Ω(MSA) and Ω(W-MSA), are here too.

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


def flops_on_meta(factory, side, **kwargs):
    """(params, MACs) of `factory(**kwargs)` on a 1 × 3 × side × side input, on the meta device."""
    model = build_on_meta(factory, **kwargs).eval()
    x = torch.empty(1, 3, side, side, device="meta")
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


def tokens_for_image(img_size, patch_size=1, cls_token=True):
    """Tokens of a square image: (R/p)² patches, plus one [CLS] if asked. patch_size=1: pixels."""
    if img_size % patch_size:
        raise ValueError(f"Patch size {patch_size} does not divide the image size {img_size}.")
    return (img_size // patch_size) ** 2 + int(cls_token)


def format_bytes(n):
    """1536 → '1.5 KiB'; binary units as memory is sold to GPUs."""
    value = float(n)
    for unit in ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]:
        if value < 1024 or unit == "EiB":
            return f"{value:,.1f} {unit}" if unit != "B" else f"{int(value):,} B"
        value /= 1024
    return f"{value:,.1f} EiB"


# -- the Swin paper's cost formulas (Eq. 1 and 2) -------------------------------------------------


def omega_msa(h, w, C):
    """Multiply-adds of global multi-head self-attention over h × w tokens of C channels.

    Ω(MSA) = 4hwC² + 2(hw)²C: the q, k, v and output projections (4hwC²), plus q·kᵀ and attn·v,
    each (hw)² pairs of C-vectors (2(hw)²C). Softmax and biases are not counted, as in the paper.
    """
    return 4 * h * w * C**2 + 2 * (h * w) ** 2 * C


def omega_wmsa(h, w, C, M):
    """Multiply-adds of window attention with M × M windows: Ω(W-MSA) = 4hwC² + 2M²hwC.

    Each of the hw queries only meets the M² keys of its own window: linear in hw for a fixed M.
    """
    return 4 * h * w * C**2 + 2 * M**2 * h * w * C


# -- the papers' tables -------------------------------------------------------------------------

# (label, "module:factory", kwargs, image size, published (source, params M, GMACs) entries); the
# factories are imported when a row is measured, so importing this module imports no model.
VIT_TABLE = [
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

# Swin: our count beside the Swin paper's Table 1 (params M, GFLOPs = multiply-adds) and timm's GMACs
SWIN_TABLE = [
    ("Swin-T@224", "course_lib.swin:swin_tiny", dict(img_size=224), 224,
     [("Swin paper", 29, 4.5), ("timm", 28.29, 4.51)]),
    ("Swin-S@224", "course_lib.swin:swin_small", dict(img_size=224), 224,
     [("Swin paper", 50, 8.7)]),
    ("Swin-B@224", "course_lib.swin:swin_base", dict(img_size=224), 224,
     [("Swin paper", 88, 15.4), ("timm", 87.77, 15.47)]),
    ("Swin-B@384", "course_lib.swin:swin_base", dict(img_size=384), 384,
     [("Swin paper", 88, 47.0), ("timm", 87.90, 47.19)]),
    ("Swin-L@384", "course_lib.swin:swin_large", dict(img_size=384), 384,
     [("Swin paper", 197, 103.9), ("timm", 196.74, 104.08)]),
]

TABLE = VIT_TABLE + SWIN_TABLE  # printed in this order


def resolve(spec):
    """'package.module:name' → the object."""
    module, name = spec.split(":")
    return getattr(importlib.import_module(module), name)


def all_rows():
    """Every row of the table `python -m course_lib.complexity` prints, in order."""
    return list(TABLE)


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
