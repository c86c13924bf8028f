"""The accuracy of a student as it ships: for a target whose backend quantizes, the trained
student converted by that backend (`Backend.write_deployed`), calibrated on the run's calibration
images and evaluated on every validation image in the target runtime.

The calibration images are a seeded draw from the training images, the same for every trial of
a run, kept in memory only: none is written anywhere.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from autokd.data import DataBundle
from autokd.measure.backends import Predict, get_backend
from autokd.measure.targets import Target
from autokd.students import StudentSpec, build_student

EVAL_BATCH = 256


@dataclass(frozen=True)
class DeployedAccuracy:
    accuracy: float  # of the deployed (quantized) model on the validation images
    seconds: float  # converting, calibrating and evaluating


def calibration_images(data: DataBundle, count: int, seed: int) -> torch.Tensor:
    """`count` normalised training images drawn by `seed` (all of them when there are fewer)."""
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(data.train_x), generator=generator)[:count]
    return data.train_x[order.sort().values].cpu()


def accuracy_of(predict: Predict, data: DataBundle) -> float:
    correct = 0
    for start in range(0, len(data.val_x), EVAL_BATCH):
        index = torch.arange(start, min(start + EVAL_BATCH, len(data.val_x)))
        logits = predict(data.val_x[index].cpu().numpy().astype(np.float32))
        correct += int((np.argmax(logits, axis=1) == data.val_y[index].cpu().numpy()).sum())
    return correct / max(1, len(data.val_x))


def deployed_accuracy(
    config: StudentSpec,
    weights: dict[str, torch.Tensor],
    target: Target,
    calibration: torch.Tensor,
    data: DataBundle,
    *,
    keep_in: Path | None = None,
) -> DeployedAccuracy:
    """The trained student (`config` with its `weights`) deployed on `target`'s backend, its
    file loaded back and evaluated in the runtime. It is built afresh on the CPU, as `autokd
    export` builds it: the trained module may carry what training attached to it (feature
    hooks, its device). `keep_in`: the folder the deployed file is written to and kept in
    (export's bundle); otherwise it lives in a temporary folder."""
    started = time.perf_counter()
    backend = get_backend(target.backend)
    if backend.write_deployed is None or backend.load_deployed is None:
        raise ValueError(f"backend '{backend.name}' ships no file of its own")
    shipped = build_student(config)
    shipped.load_state_dict({key: tensor.cpu() for key, tensor in weights.items()})
    shipped.eval()
    with contextlib.ExitStack() as stack:
        folder = keep_in or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        path = folder / backend.deployed_file
        backend.write_deployed(shipped, calibration, path)
        accuracy = accuracy_of(backend.load_deployed(path, torch.get_num_threads()), data)
    return DeployedAccuracy(accuracy, time.perf_counter() - started)
