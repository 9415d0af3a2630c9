"""Official DINO weights (Caron et al., facebookresearch/dino): backbones and full checkpoints.

`load_pretrained("dino_vits16" | "dino_vits8" | "dino_vitb16" | "dino_vitb8")` lands in
`load_official` (see `course_lib.checkpoints.OFFICIAL`). The published files are pickles: they are
read with `weights_only=True`, and loaded strictly into our ViT (same key names, no conversion).
"""

import argparse

import torch

from course_lib.checkpoints import CheckpointError, download, load_state_dict_strict
from course_lib.dino.model import unwrap_state_dict
from course_lib.vit import make_vit

DINO_URL = "https://dl.fbaipublicfiles.com/dino"
OFFICIAL_BACKBONES = {  # name → (ViT preset, patch size, file stem of the published weights)
    "dino_vits16": ("small", 16, "dino_deitsmall16_pretrain"),
    "dino_vits8": ("small", 8, "dino_deitsmall8_pretrain"),
    "dino_vitb16": ("base", 16, "dino_vitbase16_pretrain"),
    "dino_vitb8": ("base", 8, "dino_vitbase8_pretrain"),
}


def official_url(name, full=False):
    """The published file of an official backbone, or of its full training checkpoint."""
    stem = OFFICIAL_BACKBONES[name][2]
    suffix = "_full_checkpoint" if full else ""
    return f"{DINO_URL}/{stem}/{stem}{suffix}.pth"


def read_torch_file(path):
    """A published .pth as a dict of tensors, without running pickled code; errors are one sentence."""
    try:  # weights_only: tensors and plain containers only; full checkpoints also hold an argparse Namespace
        with torch.serialization.safe_globals([argparse.Namespace]):
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated zip, bad pickle, wrong format: all mean "not this file"
        raise CheckpointError(
            f"The file {path} is not a readable PyTorch checkpoint ({type(err).__name__}): it may be "
            "truncated or the wrong file; delete it and download it again."
        ) from err


def official_backbone(name, state_dict):
    """Build the ViT of official backbone `name` and load `state_dict` strictly.

    `state_dict` may be the plain backbone file or a full training checkpoint
    (`{"teacher": {"backbone.*", "head.*"}, "student": {"module.backbone.*", ...}}`): the teacher's
    backbone is taken, as DINO's own evaluation does.
    """
    preset, patch, _ = OFFICIAL_BACKBONES[name]
    model = make_vit(preset, patch_size=patch, img_size=224, num_classes=0)
    return load_state_dict_strict(model, unwrap_state_dict(state_dict, "teacher")).eval()


def load_official(name, full=False):
    """Download (once, into the torch hub cache) and load official DINO backbone `name`.

    full=True reads the full training checkpoint instead and returns its teacher's backbone.
    """
    if name not in OFFICIAL_BACKBONES:
        known = ", ".join(OFFICIAL_BACKBONES)
        raise CheckpointError(f"Unknown official DINO backbone {name!r}: choose one of {known}.")
    return official_backbone(name, read_torch_file(download(official_url(name, full))))
