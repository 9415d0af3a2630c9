"""Where every batch comes from: batch b of epoch e, for this process, as a function of the seed.

The epoch's order is a permutation seeded by (seed, epoch); each sample is produced after seeding
with (seed, epoch, index), so augmentations do not depend on the number of workers or processes.
"""

import torch
from torch.utils.data import DataLoader, Dataset


def mix_seed(*numbers):
    """One 63-bit seed from several integers (seed, epoch, index, ...), stable across runs."""
    h = 1469598103934665603
    for n in numbers:
        h = ((h ^ (int(n) & 0xFFFFFFFFFFFF)) * 1099511628211) % (1 << 63)
    return h


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
