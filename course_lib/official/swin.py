"""Microsoft's released Swin weights (ImageNet-1K classifiers): `load_official("swin_tiny")`, and the
one table that converts timm's Swin state dicts to the official layout.

| name | file |
|---|---|
| `swin_tiny`, `swin_small`, `swin_base` | `swin_{tiny,small,base}_patch4_window7_224.pth` |
| `swin_base_384` | `swin_base_patch4_window12_384.pth` |
| `swin_large`, `swin_large_384` | `swin_large_patch4_window{7_224,12_384}_22kto1k.pth` (22K → 1K) |

Our keys are Microsoft's, so the files load strictly as they are. timm places the downsampling at
the start of the next stage and calls the head `head.fc`: `timm_to_official` converts with
`TIMM_TO_OFFICIAL` (the parity tests compare our Swin with timm's through it).
"""

import re

import torch

from course_lib import checkpoints
from course_lib.swin import make_swin

STORAGE = "https://github.com/SwinTransformer/storage/releases/download/v1.0.0/"
OFFICIAL_WEIGHTS = {  # name → (file, preset, image size); Swin-L exists only as 22K → 1K fine-tuning
    "swin_tiny": ("swin_tiny_patch4_window7_224.pth", "tiny", 224),
    "swin_small": ("swin_small_patch4_window7_224.pth", "small", 224),
    "swin_base": ("swin_base_patch4_window7_224.pth", "base", 224),
    "swin_base_384": ("swin_base_patch4_window12_384.pth", "base", 384),
    "swin_large": ("swin_large_patch4_window7_224_22kto1k.pth", "large", 224),
    "swin_large_384": ("swin_large_patch4_window12_384_22kto1k.pth", "large", 384),
}


def load_official(name):
    """Download Microsoft's checkpoint `name` (once) and load it strictly into our model, in eval mode."""
    if name not in OFFICIAL_WEIGHTS:
        raise checkpoints.CheckpointError(
            f"No official Swin named {name!r}: choose one of {sorted(OFFICIAL_WEIGHTS)}."
        )
    filename, preset, size = OFFICIAL_WEIGHTS[name]
    model = make_swin(preset, img_size=size)
    path = checkpoints.download(STORAGE + filename)
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)  # {"model": state_dict}
    checkpoints.load_state_dict_strict(model, checkpoint.get("model", checkpoint))
    return model.eval()


# -- timm → official key layout -----------------------------------------------------------------
# The one table of differences between timm's and Microsoft's state dicts.
TIMM_TO_OFFICIAL = [
    # timm merges at the start of stage i, Microsoft at the end of stage i − 1
    (r"^layers\.(\d+)\.downsample\.", lambda m: f"layers.{int(m.group(1)) - 1}.downsample."),
    (r"^head\.fc\.", lambda m: "head."),  # timm wraps the classifier in a ClassifierHead
]


def timm_to_official(timm_state, model):
    """Convert a timm Swin state dict to the official layout of `model` (our SwinTransformer).

    Keys are renamed by `TIMM_TO_OFFICIAL`; the buffers timm does not save
    (`relative_position_index`, `attn_mask`) are derived tables, taken from `model`.
    """
    out = {}
    for key, value in timm_state.items():
        for pattern, repl in TIMM_TO_OFFICIAL:
            key = re.sub(pattern, repl, key)
        out[key] = value
    for key, value in model.state_dict().items():
        if key.endswith(("relative_position_index", "attn_mask")):
            out[key] = value.clone()
    return out
