"""Label-preserving random views of a batch, for training on more than the stored images.

Each function takes a normalised batch (N, C, H, W) and a torch.Generator and returns a batch of
the same shape. Which one a data set uses is part of its definition: a mirrored digit is another
digit, a mirrored cat is still a cat.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

Augment = Callable[[torch.Tensor, torch.Generator], torch.Tensor]  # a batch -> a random view


def random_shift(x: torch.Tensor, generator: torch.Generator, *, pad: int = 2) -> torch.Tensor:
    """Each image moved by up to `pad` pixels in each direction (edges repeated): handwriting
    is not always centred, and a shifted digit is the same digit."""
    n, _, height, width = x.shape
    padded = F.pad(x, (pad, pad, pad, pad), mode="replicate")
    dy, dx = torch.randint(0, 2 * pad + 1, (2, n), generator=generator)
    rows = (dy[:, None] + torch.arange(height))[:, None, :, None]
    cols = (dx[:, None] + torch.arange(width))[:, None, None, :]
    images = torch.arange(n)[:, None, None, None]
    channels = torch.arange(x.shape[1])[None, :, None, None]
    return padded[images, channels, rows, cols]


def crop_and_flip(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """The CIFAR recipe: a random crop of the image padded by an eighth of its side, and a
    horizontal flip of half the images."""
    shifted = random_shift(x, generator, pad=max(1, x.shape[-1] // 8))
    flip = torch.rand(len(x), generator=generator) < 0.5
    shifted[flip] = shifted[flip].flip(-1)
    return shifted
