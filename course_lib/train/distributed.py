"""Devices and DistributedDataParallel.

One process:   python -m course_lib.train RECIPE
Several:       torchrun --nproc_per_node N -m course_lib.train RECIPE

torchrun sets RANK, LOCAL_RANK and WORLD_SIZE; each process then trains on its share of every
global batch (`--batch-size` is the global batch) and DDP averages the gradients, so N processes
take the same steps as one process with the whole batch (up to float rounding). The backend is
NCCL on GPUs and gloo on CPUs.
"""

import os
from dataclasses import dataclass

import torch
import torch.distributed as td
from torch import nn

from course_lib.train.recipe import TrainError


@dataclass
class DistEnv:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    initialized: bool = False


def pick_device(name="auto", local_rank=0):
    """'auto' → cuda if present, else mps, else cpu; an unavailable device is one sentence."""
    if name == "auto":
        if torch.cuda.is_available():
            name = "cuda"
        elif torch.backends.mps.is_available():
            name = "mps"
        else:
            name = "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise TrainError("--device cuda was asked for, but PyTorch sees no CUDA GPU: use --device cpu.")
        return torch.device("cuda", local_rank)
    if name == "mps" and not torch.backends.mps.is_available():
        raise TrainError("--device mps was asked for, but this machine has no Apple GPU: use --device cpu.")
    if name not in ("cpu", "mps"):
        raise TrainError(f"Unknown device {name!r}: choose auto, cuda, mps or cpu.")
    return torch.device(name)


def setup(cfg):
    """Read torchrun's environment; join the process group when there are several processes."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = pick_device(cfg.device, local_rank)
    env = DistEnv(rank, world_size, local_rank, device)
    if world_size > 1:
        if device.type == "cuda":
            torch.cuda.set_device(device)
        td.init_process_group("nccl" if device.type == "cuda" else "gloo")
        env.initialized = True
    return env


def teardown(env):
    if env.initialized and td.is_initialized():
        td.destroy_process_group()


def barrier(env):
    if env.initialized:
        td.barrier()


def wrap(model, env):
    """DDP-wrap `model` when there are several processes (BatchNorm synced across GPUs)."""
    if not env.initialized:
        return model
    if env.device.type == "cuda":
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    ids = [env.device.index] if env.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)
