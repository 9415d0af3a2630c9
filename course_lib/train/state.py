"""A run's checkpoints: model, optimizer and progress, written so that a crash never leaves half.

    runs/RECIPE/checkpoints/step-0000500/
        model.safetensors      the trained module's state_dict
        optimizer.safetensors  the optimizer's tensors (Adam moments, step counts)
        state.json             step, epoch, seconds, config, the optimizer's non-tensor state

Each checkpoint is written into a hidden temporary directory that is renamed into place when
complete (a rename is atomic), so `latest_checkpoint` only ever sees whole checkpoints.
"""

import json
import os
import shutil
import tempfile
from pathlib import Path

from safetensors.torch import load_file, save_file

from course_lib.checkpoints import CheckpointError, load_state_dict_strict, sha256_file


def checkpoint_root(run_dir):
    return Path(run_dir) / "checkpoints"


def remove_partial(run_dir):
    """Delete temporary directories a killed run may have left behind."""
    root = checkpoint_root(run_dir)
    for tmp in root.glob(".tmp-*") if root.exists() else []:
        shutil.rmtree(tmp, ignore_errors=True)


def list_checkpoints(run_dir):
    """Complete checkpoints of a run, oldest first."""
    root = checkpoint_root(run_dir)
    return sorted(root.glob("step-*")) if root.exists() else []


def latest_checkpoint(run_dir):
    found = list_checkpoints(run_dir)
    return found[-1] if found else None


# -- the optimizer as flat tensors ---------------------------------------------------------------
def flatten_optimizer(state_dict):
    """optimizer.state_dict() → ({"state.<param>.<name>": tensor}, JSON-able rest)."""
    tensors, scalars = {}, {}
    for pid, entries in state_dict["state"].items():
        for key, value in entries.items():
            if hasattr(value, "shape"):
                tensors[f"state.{pid}.{key}"] = value.detach().cpu().contiguous().clone()
            else:
                scalars.setdefault(str(pid), {})[key] = value
    return tensors, {"param_groups": state_dict["param_groups"], "scalars": scalars}


def unflatten_optimizer(tensors, rest):
    """The inverse of `flatten_optimizer`."""
    state = {}
    for name, value in tensors.items():
        _, pid, key = name.split(".", 2)
        state.setdefault(int(pid), {})[key] = value
    for pid, entries in rest["scalars"].items():
        state.setdefault(int(pid), {}).update(entries)
    return {"state": state, "param_groups": rest["param_groups"]}


# -- save and load -------------------------------------------------------------------------------
def save_run_checkpoint(run_dir, step, model, optimizer, state, keep=2):
    """Write checkpoint `step` atomically and keep only the newest `keep`; returns its path."""
    root = checkpoint_root(run_dir)
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step-{step:07d}"
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=f".tmp-step-{step:07d}-"))
    try:
        weights = {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
        save_file(weights, tmp / "model.safetensors")
        opt_tensors, opt_rest = flatten_optimizer(optimizer.state_dict())
        save_file(opt_tensors, tmp / "optimizer.safetensors")
        state = {
            **state,
            "step": step,
            "optimizer": opt_rest,
            "sha256": {f: sha256_file(tmp / f) for f in ("model.safetensors", "optimizer.safetensors")},
        }
        (tmp / "state.json").write_text(json.dumps(state, indent=1))
        if final.exists():
            shutil.rmtree(final)
        os.rename(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    for old in list_checkpoints(run_dir)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def read_state(path):
    """The state.json of a checkpoint directory, or one sentence saying it is unreadable."""
    try:
        return json.loads((Path(path) / "state.json").read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise CheckpointError(
            f"The checkpoint {path} is corrupted ({err}): "
            "delete that directory to resume from the one before."
        ) from err


def load_verified(path, name, state):
    """The tensors of file `name` in checkpoint directory `path`, after checking its sha256."""
    file = Path(path) / name
    if not file.exists() or sha256_file(file) != state["sha256"][name]:
        raise CheckpointError(
            f"The checkpoint file {file} is missing or corrupted (sha256 mismatch): "
            "delete that directory to resume from the one before."
        )
    return load_file(file)


def load_run_checkpoint(path, model, optimizer):
    """Load weights and optimizer state from checkpoint directory `path`; returns its state dict."""
    state = read_state(path)
    weights = load_verified(path, "model.safetensors", state)
    optimizer_tensors = load_verified(path, "optimizer.safetensors", state)
    load_state_dict_strict(model, weights)
    optimizer.load_state_dict(unflatten_optimizer(optimizer_tensors, state["optimizer"]))
    return state
