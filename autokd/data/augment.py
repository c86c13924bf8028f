"""Label-preserving random views of a batch, for training on more than the stored images.

Each function takes a normalised batch (N, C, H, W) and a torch.Generator and returns a batch of
the same shape. Which one a data set uses is part of its definition: a mirrored digit is another
digit, a mirrored cat is still a cat. `POLICIES` names them for `--augment-policy`; `auto` (the
default) is the data set's own choice, and for the user's own images (a folder, an archive) one
made by their channels (`policy_for_channels`).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from autokd.errors import check_choice

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


AUTO = "auto"  # the data set's own views; for a folder or archive, by its channels
# --augment-policy NAME -> the views full training draws (None: the stored images only)
POLICIES: dict[str, Augment | None] = {
    "shift": random_shift,
    "crop-flip": crop_and_flip,
    "none": None,
}


def list_augment_policies() -> list[str]:
    """Every name --augment-policy takes, the default first."""
    return [AUTO, *POLICIES]


def check_augment_policy(name: str) -> str:
    """`name` when --augment-policy takes it, else `UnknownNameError` listing the valid ones."""
    return check_choice("augment policy", name, list_augment_policies())


def policy_for_channels(channels: int) -> str:
    """`auto` for the user's own images: crops and flips for colour photos (a mirrored cat is
    a cat), shifts for grey ones (digits, scans: a mirrored 2 is no 2, and shifts are what
    folders and archives had before policies)."""
    return "crop-flip" if channels == 3 else "shift"


def policy_name(augment: Augment | None) -> str:
    """The policy that draws `augment`'s views; `auto` for a data set's own that no policy
    names (a plugin's), which only `auto` gives again."""
    for name, views in POLICIES.items():
        if views is augment:
            return name
    return AUTO
