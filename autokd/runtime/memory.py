"""Memory free on a device now: what every bound on memory compares with (a student's training
in `measure.limits`, a data set's stored images in `data`)."""

from __future__ import annotations

import os
from dataclasses import dataclass

MEMORY_SHARE = 0.7  # of the memory available now that one allocation may plan to use
FLOAT_BYTES = 4


@dataclass(frozen=True)
class ModelSize:
    params: int
    activations_per_image: int  # output elements of every layer, summed, for one image


def training_bytes(size: ModelSize, batch_size: int) -> int:
    """Memory to train a model of `size` on batches of `batch_size`: weights, gradients and
    AdamW's two moments (4 copies of the parameters), plus every layer's output for one batch,
    kept for the backward pass, and its gradient (2 copies)."""
    return FLOAT_BYTES * (4 * size.params + 2 * size.activations_per_image * batch_size)


def inference_bytes(size: ModelSize, batch_size: int) -> int:
    return FLOAT_BYTES * (size.params + size.activations_per_image * batch_size)


def available_bytes(device: str) -> int:
    """Memory free for a new allocation on `device`: the GPU's free memory, or the host's
    MemAvailable (Linux), else its physical memory."""
    if device.startswith("cuda"):
        import torch

        free, _ = torch.cuda.mem_get_info(torch.device(device))
        return int(free)
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def short_of(needed: int, device: str) -> int | None:
    """The bytes `device` has available when `needed` is more than `MEMORY_SHARE` of them (the
    one test every memory bound makes), else None."""
    available = available_bytes(device)
    return available if needed > MEMORY_SHARE * available else None


def gib(size: int) -> str:
    return f"{size / 2**30:.2f} GiB" if size >= 2**27 else f"{size / 2**20:.1f} MiB"
