"""Data set registry: a name becomes one `DataBundle` that carries everything models need to know.

Small data sets are held as tensors in memory: a trial then slices batches from one tensor
instead of paying a DataLoader's per-batch overhead, and the teacher's outputs line up with the
training images by index, which is what lets them be computed once and cached.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from autokd.config import stable_hash
from autokd.errors import UnknownNameError

RawLoader = Callable[[], tuple[np.ndarray, np.ndarray]]
Augment = Callable[[torch.Tensor, torch.Generator], torch.Tensor]  # a batch -> a random view
# Part of every data key: bump it when preprocessing changes, so cached teachers and teacher
# outputs made from differently prepared tensors are not reused.
PREPROCESSING_VERSION = 1


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    load: RawLoader  # returns images (N, C, H, W) scaled to [0, 1] and integer labels (N,)
    input_size: int  # the size images are resized to unless the user overrides it
    description: str
    augment: Augment | None = None  # label-preserving random views for training on this data


@dataclass(frozen=True)
class DataBundle:
    """Train and validation tensors, normalised with training statistics, plus their shape facts."""

    name: str
    train_x: torch.Tensor  # (N, C, H, W) float32
    train_y: torch.Tensor  # (N,) int64
    val_x: torch.Tensor
    val_y: torch.Tensor
    channels: int
    classes: int
    input_size: int
    key: str  # identity of exactly these tensors; keys the teacher and teacher-output caches
    description: str = ""
    augment: Augment | None = None

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (self.channels, self.input_size, self.input_size)

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "train_images": len(self.train_y),
            "val_images": len(self.val_y),
            "channels": self.channels,
            "classes": self.classes,
            "input_size": self.input_size,
            "key": self.key,
            "description": self.description,
        }


_DATASETS: dict[str, DatasetSpec] = {}


def register_dataset(spec: DatasetSpec) -> DatasetSpec:
    _DATASETS[spec.name] = spec
    return spec


def list_datasets() -> list[str]:
    return sorted(_DATASETS)


def get_dataset(name: str) -> DatasetSpec:
    if name not in _DATASETS:
        raise UnknownNameError("data set", name, list_datasets())
    return _DATASETS[name]


def _load_digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = digits.images.astype(np.float32)[:, None] / 16.0  # pixel values are 0..16
    return images, digits.target.astype(np.int64)


def random_shift(x: torch.Tensor, generator: torch.Generator, *, pad: int = 2) -> torch.Tensor:
    """Each image moved by up to `pad` pixels in each direction (edges repeated): handwriting
    is not always centred, and a shifted digit is the same digit (unlike a mirrored one)."""
    n, _, height, width = x.shape
    padded = F.pad(x, (pad, pad, pad, pad), mode="replicate")
    dy, dx = torch.randint(0, 2 * pad + 1, (2, n), generator=generator)
    rows = (dy[:, None] + torch.arange(height))[:, None, :, None]
    cols = (dx[:, None] + torch.arange(width))[:, None, None, :]
    images = torch.arange(n)[:, None, None, None]
    channels = torch.arange(x.shape[1])[None, :, None, None]
    return padded[images, channels, rows, cols]


register_dataset(
    DatasetSpec(
        name="digits",
        load=_load_digits,
        input_size=16,
        description="scikit-learn's bundled 8x8 handwritten digits (1,797 images, 10 classes), "
        "upsampled to 16x16 so students have room for three stride-2 stages",
        augment=random_shift,
    )
)


def load_data(
    name: str, *, seed: int = 0, input_size: int | None = None, val_fraction: float = 0.2
) -> DataBundle:
    """Load a registered data set, split it (stratified, by seed), resize and normalise it."""
    from sklearn.model_selection import train_test_split

    spec = get_dataset(name)
    size = input_size or spec.input_size
    images, labels = spec.load()
    train_idx, val_idx = train_test_split(
        np.arange(len(labels)), test_size=val_fraction, stratify=labels, random_state=seed
    )
    x = _resize(torch.from_numpy(images), size)
    train_x, val_x = x[train_idx], x[val_idx]
    mean = train_x.mean(dim=(0, 2, 3), keepdim=True)
    std = train_x.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-6)
    y = torch.from_numpy(labels)
    return DataBundle(
        name=name,
        train_x=((train_x - mean) / std).contiguous(),
        train_y=y[train_idx].contiguous(),
        val_x=((val_x - mean) / std).contiguous(),
        val_y=y[val_idx].contiguous(),
        channels=images.shape[1],
        classes=int(labels.max()) + 1,
        input_size=size,
        key=stable_hash([name, seed, val_fraction, size, len(labels), PREPROCESSING_VERSION]),
        description=spec.description,
        augment=spec.augment,
    )


def _resize(x: torch.Tensor, size: int) -> torch.Tensor:
    if x.shape[-2:] == (size, size):
        return x
    shrink = size < max(x.shape[-2:])
    return F.interpolate(
        x, size=(size, size), mode="bilinear", align_corners=False, antialias=shrink
    )


def iterate_batches(
    n: int, batch_size: int, *, generator: torch.Generator | None = None
) -> list[torch.Tensor]:
    """Index batches over `n` items: shuffled with `generator`, in order without one.

    A last batch of a single item joins the one before it: BatchNorm cannot train on one value
    per channel (a 1x1 feature map of one image).
    """
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    batches = list(order.split(batch_size))
    if len(batches) > 1 and len(batches[-1]) == 1:
        batches[-2:] = [torch.cat(batches[-2:])]
    return batches
