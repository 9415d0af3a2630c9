"""The training loop, top to bottom: set up, (resume), then for every step: batch, loss, update.

`fit(recipe, cfg)` is what `python -m course_lib.train RECIPE` runs. See the package docstring
for the recipe API and for why every random draw is a function of the seed.
"""

import json
import math
import os
import platform
import time
from contextlib import nullcontext
from dataclasses import asdict, fields
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from course_lib.checkpoints import save_checkpoint, write_json
from course_lib.train import distributed as dist
from course_lib.train.recipe import RUN_ONLY_OPTIONS, Context, TrainError
from course_lib.train.state import (
    latest_checkpoint,
    load_run_checkpoint,
    read_state,
    remove_partial,
    save_run_checkpoint,
)


def mix_seed(*numbers):
    """One 63-bit seed from several integers (seed, epoch, index, ...), stable across runs."""
    h = 1469598103934665603
    for n in numbers:
        h = ((h ^ (int(n) & 0xFFFFFFFFFFFF)) * 1099511628211) % (1 << 63)
    return h


# -- data: batch b of epoch e, for this process ---------------------------------------------------
class EpochBatches(Dataset):
    """The batches of one epoch as a dataset: item b = this rank's share of global batch b.

    The epoch's order is a permutation seeded by (seed, epoch); each sample is produced after
    seeding with (seed, epoch, index), so augmentations do not depend on workers or processes.
    """

    def __init__(self, data, recipe, cfg, epoch, start, rank, world_size):
        g = torch.Generator().manual_seed(mix_seed(cfg.seed, epoch))
        order = torch.randperm(len(data), generator=g)
        n_batches = len(data) // cfg.batch_size
        local = cfg.batch_size // world_size
        batches = order[: n_batches * cfg.batch_size].view(n_batches, cfg.batch_size)  # (n, B)
        self.batches = batches[start:, rank * local:(rank + 1) * local]  # (n - start, B / world)
        self.data, self.recipe, self.seed, self.epoch = data, recipe, cfg.seed, epoch

    def __len__(self):
        return len(self.batches)

    def __getitem__(self, b):
        indices = self.batches[b].tolist()
        if hasattr(self.data, "get_batch"):  # fast path for deterministic, tensor-backed data
            return self.data.get_batch(indices)
        items = []
        for i in indices:
            torch.default_generator.manual_seed(mix_seed(self.seed, self.epoch, i))  # CPU only: cheap
            items.append(self.data[i])
        return self.recipe.collate(items)


def batches_from(data, recipe, cfg, step, steps_per_epoch, rank, world_size):
    """Yield (epoch, batch) forever, starting at global step `step`."""
    epoch, start = divmod(step, steps_per_epoch)
    while True:
        part = EpochBatches(data, recipe, cfg, epoch, start, rank, world_size)
        loader = DataLoader(part, batch_size=None, shuffle=False, num_workers=cfg.num_workers,
                            pin_memory=torch.cuda.is_available())
        for batch in loader:
            yield epoch, batch
        epoch, start = epoch + 1, 0


def to_device(batch, device):
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(v, device) for v in batch)
    return batch


# -- schedule ----------------------------------------------------------------------------------
def learning_rate(cfg, step, total_steps, steps_per_epoch):
    """Linear warmup from 0, then cosine decay from `lr` to `min_lr` (as in DeiT, DINO, MAE)."""
    warmup = int(cfg.warmup_epochs * steps_per_epoch)
    if step < warmup:
        return cfg.lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, total_steps - warmup)
    return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1 + math.cos(math.pi * progress))


def set_learning_rate(optimizer, lr):
    for group in optimizer.param_groups:
        group["lr"] = lr * group.get("lr_scale", 1.0)


# -- run bookkeeping ---------------------------------------------------------------------------
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


class MetricsLog:
    """Appends one JSON object per line; on resume keeps only the rows up to the resumed step."""

    def __init__(self, path, start_step, active):
        self.path, self.active, self.rows = Path(path), active, []
        if not active:
            return
        if start_step > 0 and self.path.exists():
            lines = self.path.read_text().splitlines()
            self.rows = [r for r in map(json.loads, lines) if r["step"] <= start_step]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text("".join(json.dumps(r) + "\n" for r in self.rows))

    def write(self, row):
        if self.active:
            self.rows.append(row)
            with open(self.path, "a") as f:
                f.write(json.dumps(row) + "\n")

    def plot(self, title):
        if self.active and self.rows:
            from course_lib.viz.train import plot_metrics

            plot_metrics(self.rows, title=title).savefig(self.path.with_suffix(".png"), dpi=100)


# -- the loop ----------------------------------------------------------------------------------
def fit(recipe, cfg):
    """Train `recipe` with config `cfg`; returns a summary dict (run_dir, step, metrics, ...)."""
    env = dist.setup(cfg)
    try:
        return _fit(recipe, cfg, env)
    finally:
        dist.teardown(env)


class Clock:
    """Wall-clock and CPU seconds of a run, continued across resumptions."""

    def __init__(self, seconds=0.0, cpu_seconds=0.0):
        self.before, self.cpu_before = seconds, cpu_seconds
        self.started, self.cpu_started = time.time(), time.process_time()

    def read(self):
        return (self.before + time.time() - self.started,
                self.cpu_before + time.process_time() - self.cpu_started)


def _fit(recipe, cfg, env):
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    if cfg.batch_size % env.world_size:
        raise TrainError(
            f"--batch-size {cfg.batch_size} must be divisible by the {env.world_size} processes."
        )
    run_dir = Path(cfg.out or f"runs/{recipe.name}")

    # 1. model, data, optimizer: all from the seed
    torch.manual_seed(cfg.seed)
    model = recipe.build_model(cfg)
    train_data, val_data = recipe.build_data(cfg)
    if len(train_data) < cfg.batch_size:
        raise TrainError(
            f"The training set has {len(train_data)} items, fewer than one batch ({cfg.batch_size})."
        )
    optimizer = recipe.build_optimizer(model, cfg)
    steps_per_epoch = len(train_data) // cfg.batch_size
    total_steps = cfg.steps or max(1, round(cfg.epochs * steps_per_epoch))

    # 2. resume, or refuse to overwrite a run
    step, clock, metrics = _resume_or_refuse(recipe, cfg, env, run_dir, model, optimizer)
    model.to(env.device)
    _optimizer_to(optimizer, env.device)
    wrapped = dist.wrap(model, env)

    # 3. the steps
    log = MetricsLog(run_dir / "metrics.jsonl", step, active=env.rank == 0)
    ctx = Context(cfg=cfg, total_steps=total_steps, device=env.device, rank=env.rank,
                  world_size=env.world_size)
    autocast = (torch.autocast("cuda", dtype=torch.bfloat16) if env.device.type == "cuda" and cfg.amp
                else nullcontext())
    stop = min(total_steps, step + cfg.stop_after) if cfg.stop_after > 0 else total_steps
    bar = tqdm(total=total_steps, initial=step, disable=not cfg.progress or env.rank != 0,
               desc=recipe.name, dynamic_ncols=True)
    batches = batches_from(train_data, recipe, cfg, step, steps_per_epoch, env.rank, env.world_size)
    model.train()
    while step < stop:
        tick = time.time()
        ctx.epoch, batch = next(batches)
        ctx.step = step
        lr = learning_rate(cfg, step, total_steps, steps_per_epoch)
        loss, extra = _train_step(recipe, wrapped, model, optimizer, batch, ctx, lr, autocast)
        step += 1

        # 4. log, evaluate, checkpoint
        images_per_s = cfg.batch_size / max(time.time() - tick, 1e-9)
        epoch = round(step / steps_per_epoch, 3)
        if step % cfg.log_every == 0 or step == stop:
            log.write({"step": step, "epoch": epoch, "loss": loss, "lr": lr,
                       "images_per_s": round(images_per_s, 1), **extra})
            bar.set_postfix(loss=f"{loss:.4f}", img_s=f"{images_per_s:.0f}")
        bar.update(1)
        end_of_epoch = step % steps_per_epoch == 0
        if val_data is not None and ((cfg.eval_every and step % cfg.eval_every == 0)
                                     or (not cfg.eval_every and end_of_epoch) or step == total_steps):
            metrics = _evaluate(recipe, model, val_data, ctx, env, autocast)
            log.write({"step": step, "epoch": epoch, "split": "val", **metrics})
        if step % cfg.save_every == 0 or step == stop:
            _save(run_dir, step, model, optimizer, recipe, cfg, env, clock.read(), metrics)
    bar.close()
    log.plot(recipe.name)
    seconds = clock.read()
    summary = {"run_dir": str(run_dir), "step": step, "total_steps": total_steps, "seconds": seconds[0],
               "cpu_seconds": seconds[1], "metrics": metrics, "finished": step >= total_steps}
    if summary["finished"] and env.rank == 0:
        summary["card"] = _finish(recipe, model, cfg, run_dir, env, seconds, metrics, total_steps)
    dist.barrier(env)
    return summary


def _resume_or_refuse(recipe, cfg, env, run_dir, model, optimizer):
    """(step, clock, metrics) of the latest checkpoint with --resume; a fresh run otherwise.

    A fresh run never overwrites checkpoints of an earlier one; a resumed run must have the
    same recipe and the same options (those that change the result).
    """
    if env.rank == 0:
        remove_partial(run_dir)
    dist.barrier(env)
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


def _train_step(recipe, wrapped, model, optimizer, batch, ctx, lr, autocast):
    """One update; returns the loss and the recipe's extra numbers, as floats."""
    torch.manual_seed(mix_seed(ctx.cfg.seed, 1_000_003, ctx.step, ctx.rank))  # dropout, drop-path, masks
    set_learning_rate(optimizer, lr)
    with autocast:
        out = recipe.training_step(wrapped, to_device(batch, ctx.device), ctx)
    loss, extra = out if isinstance(out, tuple) else (out, {})
    if not torch.isfinite(loss):
        raise TrainError(
            f"The loss became {loss.item()} at step {ctx.step}: lower --lr or add --warmup-epochs."
        )
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if ctx.cfg.grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), ctx.cfg.grad_clip)
    optimizer.step()
    recipe.after_step(model, ctx)
    return loss.item(), {k: float(v) for k, v in extra.items()}


def _optimizer_to(optimizer, device):
    for entries in optimizer.state.values():
        for k, v in entries.items():
            if torch.is_tensor(v) and k != "step":
                entries[k] = v.to(device)


def _evaluate(recipe, model, val_data, ctx, env, autocast):
    metrics = {}
    if env.rank == 0:
        model.eval()
        with torch.no_grad(), autocast:
            metrics = {k: float(v) for k, v in recipe.evaluate(model, val_data, ctx).items()}
        model.train()
    dist.barrier(env)
    return metrics


def _save(run_dir, step, model, optimizer, recipe, cfg, env, seconds, metrics):
    if env.rank == 0:
        state = {"recipe": recipe.name, "config": asdict(cfg), "seconds": seconds[0],
                 "cpu_seconds": seconds[1], "metrics": metrics, "machine": machine(env.device),
                 "processes": env.world_size}
        save_run_checkpoint(run_dir, step, model, optimizer, state)
    dist.barrier(env)


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


def _finish(recipe, model, cfg, run_dir, env, seconds, metrics, total_steps):
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
        from course_lib.checkpoints import CHECKPOINT_DIR

        card = save_checkpoint(exported, {**card, "name": cfg.bundle}, directory=CHECKPOINT_DIR)
    write_json(run_dir / "summary.json", {"card": card})
    return card


# -- bundling a run afterwards (data/checkpoints/NAME.safetensors + NAME.json) -------------------
def bundle_final(run_dir, name, note=None):
    """Copy a finished run's final model into data/checkpoints/NAME with its true card.

    For runs made without `--bundle`: the card keeps everything the engine recorded; its command
    gains `--bundle NAME` (the command that writes this very file) and its sha256 is recomputed.
    """
    from course_lib.checkpoints import CHECKPOINT_DIR, load_tensors, save_tensors

    run_dir = Path(run_dir)
    info = json.loads((run_dir / "final.json").read_text())
    weights = load_tensors(run_dir / "final.safetensors", info.get("sha256"))
    command = info["command"]
    if "--bundle" not in command:
        command += f" --bundle {name}"
    digest = save_tensors(CHECKPOINT_DIR / f"{name}.safetensors", weights)
    card = {**info, "name": name, "command": command, "sha256": digest, **({"note": note} if note else {})}
    write_json(CHECKPOINT_DIR / f"{name}.json", card)
    return card


def bundle_checkpoint(path, name, note=None):
    """Bundle a run's intermediate checkpoint (e.g. where `--stop-after` stopped) as NAME.

    The card is the one `--bundle` would write, with the metrics of that step and, as command,
    the run's command + `--stop-after STEP`: the command that trains exactly these weights.

        python -m course_lib.train --bundle-checkpoint runs/dino/checkpoints/step-0000308 NAME
    """
    from course_lib.checkpoints import CHECKPOINT_DIR, load_state_dict_strict
    from course_lib.train.recipe import get_recipe
    from course_lib.train.state import load_verified, read_state

    path = Path(path)
    state = read_state(path)
    recipe = get_recipe(state["recipe"])
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
    return save_checkpoint(recipe.export(model), card, directory=CHECKPOINT_DIR)
