"""A finished run as a bundled checkpoint: its card (what to build, how it was trained, its
metrics, the command that reproduces it) and the copy into data/checkpoints/NAME.

    python -m course_lib.train supervised-resnet --bundle supervised-resnet-shapes   # at the end of a run
    python -m course_lib.train --bundle-checkpoint runs/dino/checkpoints/step-0000308 NAME   # afterwards
"""

import json
import os
import platform
from dataclasses import asdict, fields
from pathlib import Path

import torch

from course_lib import checkpoints
from course_lib.checkpoints import (
    load_state_dict_strict,
    load_tensors,
    save_checkpoint,
    save_tensors,
    write_json,
)
from course_lib.train.recipe import RUN_ONLY_OPTIONS


def command_line(recipe_name, cfg):
    """The command that reproduces this run: the recipe and every option not at its default."""
    defaults = type(cfg)()
    parts = ["python -m course_lib.train", recipe_name]
    for f in fields(cfg):
        value = getattr(cfg, f.name)
        if value == getattr(defaults, f.name) or (f.name in RUN_ONLY_OPTIONS and f.name != "bundle"):
            continue
        flag = "--" + f.name.replace("_", "-")
        if isinstance(value, bool):
            parts.append(flag if value else "--no-" + f.name.replace("_", "-"))
        else:
            parts += [flag, str(value)]
    return " ".join(parts)


def machine(device):
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} ({platform.machine()})"
    return f"{platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} threads"


def load_average():
    """The 1-minute load average (None where the OS has none, e.g. Windows)."""
    return round(os.getloadavg()[0], 1) if hasattr(os, "getloadavg") else None


def run_card(recipe, model, cfg, command, training, metrics):
    """The JSON card saved beside a run's weights: what to build, how it was trained, its metrics."""
    return {
        **recipe.card(model, cfg),
        "recipe": recipe.name,
        "command": command,
        "seed": cfg.seed,
        "config": asdict(cfg),
        "training": {**training, "torch": torch.__version__},
        "metrics": metrics,
    }


def finish_run(recipe, model, cfg, run_dir, env, seconds, metrics, total_steps):
    """Write the final model with its card to the run directory (and data/checkpoints if --bundle)."""
    training = {"seconds": round(seconds[0], 1), "cpu_seconds_rank0": round(seconds[1], 1),
                "steps": total_steps, "machine": machine(env.device), "device": env.device.type,
                "processes": env.world_size,
                # wall-clock vs CPU seconds: on a shared machine the load explains the gap
                "load_average_1min": load_average()}
    card = run_card(recipe, model, cfg, command_line(recipe.name, cfg), training, metrics)
    exported = recipe.export(model)
    card = save_checkpoint(exported, {**card, "name": "final"}, directory=run_dir, name="final")
    if cfg.bundle:
        card = save_checkpoint(exported, {**card, "name": cfg.bundle}, directory=checkpoints.CHECKPOINT_DIR)
    write_json(run_dir / "summary.json", {"card": card})
    return card


def bundle_final(run_dir, name, note=None):
    """Copy a finished run's final model into data/checkpoints/NAME with its true card.

    For runs made without `--bundle`: the card keeps everything the engine recorded; its command
    gains `--bundle NAME` (the command that writes this very file) and its sha256 is recomputed.
    """
    run_dir = Path(run_dir)
    info = json.loads((run_dir / "final.json").read_text())
    weights = load_tensors(run_dir / "final.safetensors", info.get("sha256"))
    command = info["command"]
    if "--bundle" not in command:
        command += f" --bundle {name}"
    digest = save_tensors(checkpoints.CHECKPOINT_DIR / f"{name}.safetensors", weights)
    card = {**info, "name": name, "command": command, "sha256": digest, **({"note": note} if note else {})}
    write_json(checkpoints.CHECKPOINT_DIR / f"{name}.json", card)
    return card


def bundle_checkpoint(path, name, note=None):
    """Bundle a run's intermediate checkpoint (e.g. where `--stop-after` stopped) as NAME.

    The card is the one `--bundle` would write, with the metrics of that step and, as command,
    the run's command + `--stop-after STEP`: the command that trains exactly these weights.

        python -m course_lib.train --bundle-checkpoint runs/dino/checkpoints/step-0000308 NAME
    """
    from course_lib.train.recipe import TrainError, get_recipe
    from course_lib.train.state import load_verified, read_state

    path = Path(path)
    state = read_state(path)
    recipe = get_recipe(state["recipe"])
    unknown = sorted(set(state["config"]) - {f.name for f in fields(recipe.Config)})
    if unknown:
        raise TrainError(f"The checkpoint {path} was made with options this version does not have "
                         f"({', '.join(unknown)}): bundle it with the version of the kit that trained it.")
    cfg = recipe.Config(**state["config"])
    model = recipe.build_model(cfg)
    load_state_dict_strict(model, load_verified(path, "model.safetensors", state))
    step = state["step"]
    training = {"seconds": round(state["seconds"], 1), "cpu_seconds_rank0": round(state["cpu_seconds"], 1),
                "steps": step, "machine": state.get("machine"), "processes": state.get("processes")}
    card = run_card(recipe, model, cfg, f"{command_line(recipe.name, cfg)} --stop-after {step}",
                    training, state["metrics"])
    export = f"python -m course_lib.train --bundle-checkpoint RUN/checkpoints/{path.name} {name}"
    card["exported_with"] = export
    card = {**card, "name": name, **({"note": note} if note else {})}
    return save_checkpoint(recipe.export(model), card, directory=checkpoints.CHECKPOINT_DIR)
