"""Checkpoints: safetensors weights + a JSON model card, strict loads, official weights.

A bundled checkpoint is two files in `data/checkpoints/`:

    NAME.safetensors   the weights (no pickle: loading cannot run code)
    NAME.json          the card: how to rebuild the model and where the weights came from

The card is a dict with at least

    {"name": ..., "model": {"factory": "course_lib.vit:vit_tiny", "kwargs": {...}},
     "input": {"img_size": 64, "mean": [...], "std": [...]},
     "recipe": ..., "command": "python -m course_lib.train ...", "seed": ...,
     "training": {"seconds": ..., "machine": ...}, "metrics": {...}, "sha256": ...}

`load_pretrained(name)` rebuilds the model from `model.factory(**model.kwargs)`, checks the
sha256, loads the weights strictly and returns the model in eval mode. Official weights (DINO,
MAE, CLIP, Swin) are listed in `OFFICIAL`: each name points to a "module:function" that builds
the model and loads the published file (downloaded once into the torch hub cache by `download`).
"""

import hashlib
import importlib
import json
import os
import tempfile
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

CHECKPOINT_DIR = Path(__file__).resolve().parents[1] / "data" / "checkpoints"

# Official pretrained weights: name → "module:function", one module per family in course_lib/official/.
# The function takes the name, downloads the published file with `download(url, sha256)`, converts
# it if needed, loads it with `load_state_dict_strict` and returns the model.
OFFICIAL = {
    "dino_vits16": "course_lib.official.dino:load_official",
    "dino_vits8": "course_lib.official.dino:load_official",
    "dino_vitb16": "course_lib.official.dino:load_official",
    "dino_vitb8": "course_lib.official.dino:load_official",
    "mae_vit_base": "course_lib.official.mae:load_official",
    "mae_vit_large_visualize": "course_lib.official.mae:load_official",
    "clip_vit_b32": "course_lib.official.clip:load_official",
    "clip_vit_b16": "course_lib.official.clip:load_official",
    "swin_tiny": "course_lib.official.swin:load_official",
    "swin_small": "course_lib.official.swin:load_official",
    "swin_base": "course_lib.official.swin:load_official",
    "swin_base_384": "course_lib.official.swin:load_official",
    "swin_large": "course_lib.official.swin:load_official",
    "swin_large_384": "course_lib.official.swin:load_official",
}


class CheckpointError(ValueError):
    """A checkpoint that is missing, corrupted, or does not fit the model: one clear sentence."""


# -- files on disk --------------------------------------------------------------------------------
def sha256_file(path, chunk=1 << 20):
    """Hex sha256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def atomic_write(path, write):
    """Call `write(tmp_path)`, then rename the temporary file onto `path` (never a partial file).

    The temporary file lives in the same directory, so `os.replace` is an atomic rename.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)  # mkstemp creates files readable by their owner only
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def write_json(path, data):
    """Write `data` as indented JSON, atomically."""

    def write(tmp):
        with open(tmp, "w") as f:
            json.dump(data, f, indent=2, sort_keys=False)
            f.write("\n")

    atomic_write(path, write)


def save_tensors(path, tensors, metadata=None):
    """Write a dict of tensors as safetensors, atomically; returns the file's sha256."""
    tensors = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=metadata))
    return sha256_file(path)


def load_tensors(path, sha256=None):
    """Read a safetensors file, checking its sha256 if given; errors are one sentence."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"Checkpoint file {path} does not exist: retrain it or check the name.")
    if sha256 is not None and sha256_file(path) != sha256:
        raise CheckpointError(
            f"Checkpoint file {path} is corrupted (its sha256 does not match the card): "
            "delete it and retrain it, or restore it with git."
        )
    try:
        return load_file(path)
    except (SafetensorError, OSError) as err:
        raise CheckpointError(f"Checkpoint file {path} is not a readable safetensors file ({err}).") from err


def save_checkpoint(model, card, directory=CHECKPOINT_DIR, name=None):
    """Save `model`'s weights and `card` as NAME.safetensors + NAME.json; returns the card.

    The weights are written first and the card last, with the weights' sha256 in it: a card
    always describes complete weights.
    """
    name = name or card["name"]
    directory = Path(directory)
    digest = save_tensors(directory / f"{name}.safetensors", model.state_dict())
    card = {**card, "name": name, "sha256": digest}
    write_json(directory / f"{name}.json", card)
    return card


# -- strict loading -------------------------------------------------------------------------------
def load_state_dict_strict(model, state_dict):
    """Load `state_dict` into `model`, failing with one sentence that names every bad key.

    Checks missing keys, unexpected keys and shape mismatches before touching the model.
    """
    own = model.state_dict()
    missing = sorted(set(own) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(own))
    wrong = sorted(
        f"{k} {tuple(state_dict[k].shape)} vs {tuple(own[k].shape)}"
        for k in set(own) & set(state_dict)
        if own[k].shape != state_dict[k].shape
    )
    problems = []
    if missing:
        problems.append(f"missing keys {_short(missing)}")
    if unexpected:
        problems.append(f"unexpected keys {_short(unexpected)}")
    if wrong:
        problems.append(f"wrong shapes (checkpoint vs model) {_short(wrong)}")
    if problems:
        raise CheckpointError(
            f"The weights do not fit {type(model).__name__}: {'; '.join(problems)}."
        )
    model.load_state_dict(state_dict, strict=True)
    return model


def _short(items, limit=8):
    shown = ", ".join(items[:limit])
    return f"[{shown}{f', ... {len(items) - limit} more' if len(items) > limit else ''}]"


# -- bundled checkpoints --------------------------------------------------------------------------
def resolve(spec):
    """'package.module:function' → the function (imported on demand)."""
    module, _, attr = spec.partition(":")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as err:
        raise CheckpointError(f"Cannot find {spec!r} ({err}); is that part of the kit written yet?") from err


def list_pretrained(kind="all"):
    """Names `load_pretrained` accepts: 'bundled' (in data/checkpoints), 'official', or 'all'."""
    bundled = sorted(p.stem for p in CHECKPOINT_DIR.glob("*.json"))
    official = sorted(OFFICIAL)
    return {"bundled": bundled, "official": official, "all": bundled + official}[kind]


def card(name, directory=CHECKPOINT_DIR):
    """The model card of bundled checkpoint `name`, as a dict."""
    path = Path(directory) / f"{name}.json"
    if not path.exists():
        raise CheckpointError(
            f"No bundled checkpoint named {name!r}: choose one of {list_pretrained()}."
        )
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise CheckpointError(f"The card {path} is not valid JSON ({err}): restore it with git.") from err


def build_from_card(info):
    """A freshly initialized model from a card's `model` entry (factory + kwargs)."""
    factory = resolve(info["model"]["factory"])
    return factory(**info["model"].get("kwargs", {}))


def load_pretrained(name, directory=CHECKPOINT_DIR, map_location="cpu"):
    """A bundled or official model, weights loaded strictly and checked, in eval mode."""
    if name in OFFICIAL and not (Path(directory) / f"{name}.json").exists():
        return resolve(OFFICIAL[name])(name).eval()
    info = card(name, directory)
    model = build_from_card(info)
    weights = load_tensors(Path(directory) / f"{name}.safetensors", info.get("sha256"))
    load_state_dict_strict(model, weights)
    return model.to(map_location).eval()


# -- official weights -----------------------------------------------------------------------------
def cache_dir():
    """Where downloaded weights live: `<torch hub dir>/checkpoints` (set TORCH_HOME to move it)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def download(url, sha256=None, filename=None):
    """Download `url` once into the cache and return its path; verify `sha256` when given.

    `sha256` may be the full hex digest or a prefix of it (some publishers give only a prefix).
    Offline, the error says where to put the file by hand.
    """
    path = cache_dir() / (filename or url.rsplit("/", 1)[-1])
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            torch.hub.download_url_to_file(url, str(path), progress=False)
        except OSError as err:  # URLError and socket errors are OSErrors
            raise CheckpointError(
                f"Could not download {url} ({err}): connect to the internet, or download it "
                f"elsewhere and copy it to {path}."
            ) from err
    if sha256 and not sha256_file(path).startswith(sha256.lower()):
        raise CheckpointError(
            f"The downloaded file {path} does not match its published sha256: delete it and retry."
        )
    return path
