"""The training loop, top to bottom: set up, (resume), then for every step: batch, loss, update.

`fit(recipe, cfg)` is what `python -m course_lib.train RECIPE` runs. See the package docstring
for the recipe API and for why every random draw is a function of the seed. Beside it:
`batches` (where each batch comes from), `metrics` (metrics.jsonl and its plot), `state` (run
checkpoints, atomic, for --resume), `bundle` (the card and data/checkpoints), `distributed` (DDP).
"""

import math
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from course_lib.train import distributed as dist
from course_lib.train.batches import batches_from, mix_seed, to_device
from course_lib.train.bundle import finish_run, machine
from course_lib.train.metrics import MetricsLog
from course_lib.train.recipe import Context, TrainError
from course_lib.train.state import resume_or_refuse, save_run_checkpoint

__all__ = ["fit", "learning_rate", "mix_seed"]


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


# -- the loop ----------------------------------------------------------------------------------
def fit(recipe, cfg):
    """Train `recipe` with config `cfg`; returns a summary dict (run_dir, step, metrics, ...)."""
    env = dist.setup(cfg)
    try:
        return _fit(recipe, cfg, env)
    finally:
        dist.teardown(env)


@dataclass
class Run:
    """Everything one run holds while it trains."""

    model: torch.nn.Module
    wrapped: torch.nn.Module  # the model, DDP-wrapped when several processes train
    optimizer: torch.optim.Optimizer
    train_data: object
    val_data: object
    steps_per_epoch: int
    total_steps: int
    step: int
    clock: object  # state.Clock: wall-clock and CPU seconds, continued across resumptions
    metrics: dict
    run_dir: Path


def _fit(recipe, cfg, env):
    run = _set_up(recipe, cfg, env)
    log = MetricsLog(run.run_dir / "metrics.jsonl", run.step, active=env.rank == 0)
    ctx = Context(cfg=cfg, total_steps=run.total_steps, device=env.device, rank=env.rank,
                  world_size=env.world_size)
    autocast = (torch.autocast("cuda", dtype=torch.bfloat16) if env.device.type == "cuda" and cfg.amp
                else nullcontext())
    stop = min(run.total_steps, run.step + cfg.stop_after) if cfg.stop_after > 0 else run.total_steps
    bar = tqdm(total=run.total_steps, initial=run.step, disable=not cfg.progress or env.rank != 0,
               desc=recipe.name, dynamic_ncols=True)
    batches = batches_from(run.train_data, recipe, cfg, run.step, run.steps_per_epoch, env.rank,
                           env.world_size)
    run.model.train()
    while run.step < stop:
        tick = time.time()
        ctx.epoch, batch = next(batches)
        ctx.step = run.step
        lr = learning_rate(cfg, run.step, run.total_steps, run.steps_per_epoch)
        loss, extra = _train_step(recipe, run, batch, ctx, lr, autocast)
        run.step += 1
        row = {"step": run.step, "epoch": round(run.step / run.steps_per_epoch, 3), "loss": loss, "lr": lr,
               "images_per_s": round(cfg.batch_size / max(time.time() - tick, 1e-9), 1), **extra}
        if run.step % cfg.log_every == 0 or run.step == stop:
            log.write(row)
            bar.set_postfix(loss=f"{loss:.4f}", img_s=f"{row['images_per_s']:.0f}")
        bar.update(1)
        _evaluate_and_save(recipe, run, ctx, env, autocast, log, stop)
    bar.close()
    log.plot(recipe.name)
    return _summary(recipe, run, cfg, env)


def _set_up(recipe, cfg, env):
    """Model, data and optimizer, all from the seed; then resume, or refuse to overwrite a run."""
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    if cfg.batch_size % env.world_size:
        raise TrainError(
            f"--batch-size {cfg.batch_size} must be divisible by the {env.world_size} processes."
        )
    run_dir = Path(cfg.out or f"runs/{recipe.name}")
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
    step, clock, metrics = resume_or_refuse(recipe, cfg, env, run_dir, model, optimizer)
    model.to(env.device)
    _optimizer_to(optimizer, env.device)
    return Run(model, dist.wrap(model, env), optimizer, train_data, val_data, steps_per_epoch, total_steps,
               step, clock, metrics, run_dir)


def _evaluate_and_save(recipe, run, ctx, env, autocast, log, stop):
    """After step `run.step`: evaluate (each epoch, or every --eval-every), checkpoint (--save-every)."""
    cfg, step = ctx.cfg, run.step
    end_of_epoch = step % run.steps_per_epoch == 0
    if run.val_data is not None and ((cfg.eval_every and step % cfg.eval_every == 0)
                                     or (not cfg.eval_every and end_of_epoch) or step == run.total_steps):
        run.metrics = _evaluate(recipe, run.model, run.val_data, ctx, env, autocast)
        epoch = round(step / run.steps_per_epoch, 3)
        log.write({"step": step, "epoch": epoch, "split": "val", **run.metrics})
    if step % cfg.save_every == 0 or step == stop:
        _save(run, recipe, cfg, env)


def _summary(recipe, run, cfg, env):
    seconds = run.clock.read()
    summary = {"run_dir": str(run.run_dir), "step": run.step, "total_steps": run.total_steps,
               "seconds": seconds[0], "cpu_seconds": seconds[1], "metrics": run.metrics,
               "finished": run.step >= run.total_steps}
    if summary["finished"] and env.rank == 0:
        summary["card"] = finish_run(recipe, run.model, cfg, run.run_dir, env, seconds, run.metrics,
                                     run.total_steps)
    dist.barrier(env)
    return summary


def _train_step(recipe, run, batch, ctx, lr, autocast):
    """One update; returns the loss and the recipe's extra numbers, as floats."""
    torch.manual_seed(mix_seed(ctx.cfg.seed, 1_000_003, ctx.step, ctx.rank))  # dropout, drop-path, masks
    set_learning_rate(run.optimizer, lr)
    with autocast:
        out = recipe.training_step(run.wrapped, to_device(batch, ctx.device), ctx)
    loss, extra = out if isinstance(out, tuple) else (out, {})
    if not torch.isfinite(loss):
        raise TrainError(
            f"The loss became {loss.item()} at step {ctx.step}: lower --lr or add --warmup-epochs."
        )
    run.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if ctx.cfg.grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(run.model.parameters(), ctx.cfg.grad_clip)
    run.optimizer.step()
    recipe.after_step(run.model, ctx)
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


def _save(run, recipe, cfg, env):
    if env.rank == 0:
        seconds = run.clock.read()
        state = {"recipe": recipe.name, "config": asdict(cfg), "seconds": seconds[0],
                 "cpu_seconds": seconds[1], "metrics": run.metrics, "machine": machine(env.device),
                 "processes": env.world_size}
        save_run_checkpoint(run.run_dir, run.step, run.model, run.optimizer, state)
    dist.barrier(env)
