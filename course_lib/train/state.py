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
import time
from dataclasses import asdict
from pathlib import Path

from safetensors.torch import load_file, save_file

from course_lib.checkpoints import CheckpointError, load_state_dict_strict, sha256_file
from course_lib.train.distributed import barrier
from course_lib.train.recipe import RUN_ONLY_OPTIONS, TrainError


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


# -- resuming: the same recipe, the same options -------------------------------------------
def check_resumable(state, recipe_name, cfg, path):
    """One sentence if checkpoint `path` was made by another recipe or another config."""
    if state.get("recipe") != recipe_name:
        raise TrainError(
            f"The checkpoint {path} belongs to recipe {state.get('recipe')!r}, not {recipe_name!r}: "
            "pass another --out, or the matching recipe."
        )
    saved = state.get("config", {})
    for key, value in asdict(cfg).items():
        if key not in RUN_ONLY_OPTIONS and key in saved and saved[key] != value:
            raise TrainError(
                f"The checkpoint {path} was trained with --{key.replace('_', '-')} {saved[key]}, not "
                f"{value}: resume with the same options, or start a new run with another --out."
            )


class Clock:
    """Wall-clock and CPU seconds of a run, continued across resumptions."""

    def __init__(self, seconds=0.0, cpu_seconds=0.0):
        self.before, self.cpu_before = seconds, cpu_seconds
        self.started, self.cpu_started = time.time(), time.process_time()

    def read(self):
        return (self.before + time.time() - self.started,
                self.cpu_before + time.process_time() - self.cpu_started)


def resume_or_refuse(recipe, cfg, env, run_dir, model, optimizer):
    """(step, clock, metrics) of the latest checkpoint with --resume; a fresh run otherwise.

    A fresh run never overwrites checkpoints of an earlier one; a resumed run must have the
    same recipe and the same options (those that change the result).
    """
    if env.rank == 0:
        remove_partial(run_dir)
    barrier(env)
    last = latest_checkpoint(run_dir)
    if last is None:
        return 0, Clock(), {}
    if not cfg.resume:
        raise TrainError(
            f"{run_dir} already holds checkpoints: pass --resume to continue that run, "
            "or --out to start a new one elsewhere."
        )
    state = read_state(last)
    check_resumable(state, recipe.name, cfg, last)
    load_run_checkpoint(last, model, optimizer)
    clock = Clock(state["seconds"], state.get("cpu_seconds", 0.0))
    return state["step"], clock, state.get("metrics", {})  # a finished run resumed keeps its metrics
