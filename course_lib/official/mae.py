"""The published MAE weights (facebookresearch/mae): `load_official("mae_vit_base")`.

| name | file | what it holds |
|---|---|---|
| `mae_vit_base` | `mae_pretrain_vit_base.pth` | the pre-trained ViT-B/16 encoder (no decoder published) |
| `mae_vit_large_visualize` | `mae_visualize_vit_large.pth` | ViT-L/16 with its decoder: the paper's figures |

Our keys are the official ones, so no conversion is needed; the only gap allowed is the decoder
of an encoder-only file, and it is named exactly (`load_official_state_dict`).
"""

import torch

from course_lib.checkpoints import CheckpointError, download, load_state_dict_strict
from course_lib.mae import is_decoder_key, mae_vit_base, mae_vit_large

OFFICIAL_URLS = {
    # encoder only (the decoder is not published for the pre-trained models)
    "mae_vit_base": "https://dl.fbaipublicfiles.com/mae/pretrain/mae_pretrain_vit_base.pth",
    # encoder + decoder, trained with pixel targets for the paper's figures
    "mae_vit_large_visualize": "https://dl.fbaipublicfiles.com/mae/visualize/mae_visualize_vit_large.pth",
}
FACTORIES = {"mae_vit_base": mae_vit_base, "mae_vit_large_visualize": mae_vit_large}


def load_official_state_dict(model, state_dict):
    """Load an official MAE state dict strictly, allowing exactly one gap: an encoder-only file.

    Encoder-only checkpoints lack every decoder key (and only those); anything else missing,
    unexpected or mis-shaped raises a `CheckpointError` naming the keys. The decoder then keeps
    its initialization.
    Returns:
        the sorted list of keys that were missing (empty for a full checkpoint).
    """
    own = model.state_dict()
    missing = sorted(set(own) - set(state_dict))
    decoder = sorted(k for k in own if is_decoder_key(k))
    if missing and missing != decoder:
        extra = sorted(set(missing) - set(decoder))
        raise CheckpointError(
            f"The MAE checkpoint lacks {len(missing)} keys; an encoder-only file may lack exactly the "
            f"decoder keys, but these are missing too: {extra[:8]}."
        )
    load_state_dict_strict(model, {**{k: own[k] for k in missing}, **state_dict})
    return missing


def load_official(name):
    """The official MAE model `name` (see the table above), weights loaded strictly, in eval mode."""
    if name not in OFFICIAL_URLS:
        known = sorted(OFFICIAL_URLS)
        raise CheckpointError(f"No official MAE weights named {name!r}: choose one of {known}.")
    path = download(OFFICIAL_URLS[name])
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)  # tensors only: no code runs
    model = FACTORIES[name]()
    load_official_state_dict(model, checkpoint.get("model", checkpoint))
    return model.eval()
