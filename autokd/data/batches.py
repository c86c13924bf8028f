"""Training batches in a set order: sliced in the training process when the images are held
normalised in memory, made by DataLoader workers (where spare cores exist) when they are stored
as 8-bit pixels.

Workers only pay for themselves when a batch costs something to make (converting 8-bit pixels,
random views of large images): slicing a tensor in memory takes microseconds, less than handing a
batch between processes. The workers live as long as the training run, not one epoch: starting
them is the expensive part.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from autokd.data.augment import Augment
from autokd.data.store import ImageStore

Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # (image indices, images, labels)
BatchKey = tuple[torch.Tensor, int]  # (image indices, seed of the batch's random views)
MAX_WORKERS = 4


def loader_workers(override: int | None = None) -> int:
    """DataLoader workers for 8-bit data: one per core beyond two, at most four; none (batches
    made in the training process) on two cores, where a worker measured slower than none
    (benchmarks/large_data.py). `override` (`AUTOKD_LOADER_WORKERS`) says otherwise."""
    if override is not None:
        return override
    return max(0, min(MAX_WORKERS, _usable_cores() - 2))


def _usable_cores() -> int:
    """The cores this process may run on (a container's share, not the whole machine's)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 2


class TrainingBatches:
    """One training run's batches, epoch after epoch."""

    def __init__(
        self,
        images: ImageStore,
        labels: torch.Tensor,
        augment: Augment | None,
        *,
        workers: int = 0,
    ) -> None:
        """`workers`: DataLoader workers for 8-bit images (float32 ones are sliced here)."""
        self.images, self.labels, self.augment = images, labels, augment
        self.workers = workers if images.compact else 0
        self._plan = _Plan()
        self._loader = None
        if images.compact:
            self._loader = DataLoader(
                _BatchReader(images, labels, augment),
                batch_size=None,
                sampler=self._plan,
                num_workers=self.workers,
                persistent_workers=self.workers > 0,
                prefetch_factor=4 if self.workers else None,
                generator=torch.Generator(),  # workers' seeds: leaves torch's global one alone
            )

    def epoch(self, order: list[torch.Tensor], generator: torch.Generator) -> Iterator[Batch]:
        """The batches of `order`, with random views drawn from `generator` if augmenting.

        In memory the views draw from `generator` batch after batch. From 8-bit storage each
        batch gets its own seed, from one draw of `generator` per epoch, so the views do not
        depend on which worker made the batch, and a resumed run (which restores `generator`)
        repeats them.
        """
        if self._loader is None:
            for index in order:
                x = self.images[index]
                yield index, (self.augment(x, generator) if self.augment else x), self.labels[index]
            return
        seed = int(torch.randint(2**62, (1,), generator=generator)) if self.augment else 0
        self._plan.keys = [(index, seed + position) for position, index in enumerate(order)]
        yield from self._loader


class _Plan(Sampler):
    """The current epoch's batch keys; read in the training process at the start of each epoch."""

    def __init__(self) -> None:
        self.keys: list[BatchKey] = []

    def __iter__(self) -> Iterator[BatchKey]:
        return iter(self.keys)

    def __len__(self) -> int:
        return len(self.keys)


class _BatchReader(Dataset):
    """Makes the batch a key names: the order is fixed by the caller, workers only build it."""

    def __init__(self, images: ImageStore, labels: torch.Tensor, augment: Augment | None) -> None:
        self.images, self.labels, self.augment = images, labels, augment

    def __getitem__(self, key: BatchKey) -> Batch:
        index, seed = key
        x = self.images[index]
        if self.augment:
            x = self.augment(x, torch.Generator().manual_seed(seed))
        return index, x, self.labels[index]
