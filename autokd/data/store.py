"""Images as training reads them: every batch comes out as normalised float32, whatever the storage.

Data sets that fit the in-memory limit (`Settings.in_memory_bytes`) are stored normalised, so
a batch is a plain slice. Larger ones are stored as 8-bit pixels, a quarter of the memory, and
converted batch by batch: in the training process, or by DataLoader workers while the model
trains (`batches.py`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

CHUNK = 2048  # images resized and converted at a time: bounds the float32 copies of large sets


@dataclass(frozen=True)
class ImageStore:
    """(N, C, H, W) images; `store[index]` is a normalised float32 batch."""

    pixels: torch.Tensor  # float32 already normalised, or uint8 0..255 (compact)
    mean: torch.Tensor  # (1, C, 1, 1): of the training images, on the [0, 1] scale
    std: torch.Tensor

    @property
    def compact(self) -> bool:
        return self.pixels.dtype == torch.uint8

    @property
    def shape(self) -> torch.Size:
        return self.pixels.shape

    def __len__(self) -> int:
        return len(self.pixels)

    def to(self, device: torch.device) -> ImageStore:
        """The same images on `device` (a GPU, when they fit there)."""
        return ImageStore(self.pixels.to(device), self.mean.to(device), self.std.to(device))

    def __getitem__(self, index: torch.Tensor | slice) -> torch.Tensor:
        batch = self.pixels[index]
        if not self.compact:
            return batch
        return (batch.float().div_(255.0) - self.mean) / self.std


def build_stores(
    train: np.ndarray, val: np.ndarray, size: int, *, compact: bool
) -> tuple[ImageStore, ImageStore]:
    """Resize both splits to `size`, normalise them with the training split's statistics and
    store them: as float32 tensors, or (`compact`) as 8-bit pixels normalised per batch."""
    train_pixels = _resized(train, size, compact=compact)
    val_pixels = _resized(val, size, compact=compact)
    mean, std = _channel_statistics(train_pixels)
    if compact:
        return ImageStore(train_pixels, mean, std), ImageStore(val_pixels, mean, std)
    return (
        ImageStore(((train_pixels - mean) / std).contiguous(), mean, std),
        ImageStore(((val_pixels - mean) / std).contiguous(), mean, std),
    )


def _resized(images: np.ndarray, size: int, *, compact: bool) -> torch.Tensor:
    """Images (uint8 0..255 or float [0, 1]) at `size` x `size`: float32 in [0, 1], or uint8."""
    chunks = []
    for start in range(0, len(images), CHUNK):
        chunk = torch.from_numpy(np.ascontiguousarray(images[start : start + CHUNK]))
        scaled = chunk.float() / 255.0 if chunk.dtype == torch.uint8 else chunk.float()
        resized = resize_images(scaled, size)
        if compact:
            resized = resized.mul(255.0).round_().clamp_(0, 255).to(torch.uint8)
        chunks.append(resized)
    return torch.cat(chunks)


def resize_images(x: torch.Tensor, size: int) -> torch.Tensor:
    """Float images (N, C, H, W) at `size` x `size`: bilinear, antialiased when shrinking."""
    if x.shape[-2:] == (size, size):
        return x
    shrink = size < max(x.shape[-2:])
    return F.interpolate(
        x, size=(size, size), mode="bilinear", align_corners=False, antialias=shrink
    )


def _channel_statistics(pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and standard deviation on the [0, 1] scale, summed chunk by chunk in
    float64 so that large 8-bit sets need no float copy of the whole."""
    if pixels.dtype != torch.uint8:
        std = pixels.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-6)
        return pixels.mean(dim=(0, 2, 3), keepdim=True), std
    channels = pixels.shape[1]
    total = torch.zeros(channels, dtype=torch.float64)
    squares = torch.zeros(channels, dtype=torch.float64)
    for start in range(0, len(pixels), CHUNK):
        chunk = pixels[start : start + CHUNK].double().div_(255.0)
        total += chunk.sum(dim=(0, 2, 3))
        squares += chunk.square().sum(dim=(0, 2, 3))
    count = pixels.numel() // channels
    mean = total / count
    variance = (squares - count * mean.square()) / max(1, count - 1)
    std = variance.clamp_min(0).sqrt().clamp_min(1e-6)
    return mean.float().view(1, -1, 1, 1), std.float().view(1, -1, 1, 1)
