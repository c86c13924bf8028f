"""Training a student: a new one built from its config and fitted by the engine, what every
search trial, every full training (`autokd train`) and every retraining (`autokd validate`)
runs, so the brief training and the long one share one loop (`engine.fit`).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch
from torch import nn

from autokd.data import DataBundle
from autokd.distill.config import KDConfig, TrainConfig
from autokd.distill.engine import EpochCallback, FitResult, TeacherSignal, fit
from autokd.runtime.device import Execution, fits_on, tensor_bytes
from autokd.students import StudentSpec, build_student


def train_student(
    config: StudentSpec,
    kd: KDConfig | None,
    schedule: TrainConfig,
    data: DataBundle,
    outputs: TeacherSignal | None,
    *,
    callbacks: list[EpochCallback] | None = None,
    checkpoint: Path | None = None,
    execution: Execution | None = None,
) -> tuple[nn.Module, FitResult]:
    """A new student of `config`, initialised from `schedule.seed` and trained by the engine
    (on `execution`'s device): distilled with `kd` from the teacher's signal `outputs` (its
    cached outputs, or the live teacher when training on random views), or on labels alone."""
    torch.manual_seed(schedule.seed)  # the initial weights, reproducible from the seed
    model = build_student(config)
    result = fit(
        model,
        data,
        schedule,
        kd=kd,
        teacher=outputs if kd is not None else None,
        callbacks=callbacks or [],
        checkpoint=checkpoint,
        execution=execution,
    )
    return model, result


def training_failure(result: FitResult, val_labels: torch.Tensor) -> str | None:
    """Why a trained student is no result, or None. Diverged: its loss became NaN or infinite,
    or it ended no better than always answering the validation set's most common class while
    its loss grew (a learning rate too high; a slow learner's loss falls and is kept)."""
    if result.diverged:
        return "diverged: the loss became NaN or infinite"
    if not result.history or len(val_labels) == 0:
        return None
    chance = float(torch.bincount(val_labels.cpu()).max()) / len(val_labels)
    last_loss = result.history[-1].train_loss
    if result.val_accuracy <= chance and last_loss > result.first_loss:
        return (
            f"diverged to chance: validation accuracy {result.val_accuracy:.4f} is no better "
            f"than always answering the most common class ({chance:.4f}), and the loss grew "
            f"from {result.first_loss:.3g} to {last_loss:.3g}"
        )
    return None


def place_on_device(
    data: DataBundle, outputs: TeacherSignal | None, execution: Execution
) -> tuple[DataBundle, TeacherSignal | None]:
    """The data's images and the teacher's cached outputs on the training GPU, each where it
    fits (`device.fits_on`); what does not fit stays in host memory, copied batch by batch.
    8-bit images stay in host memory: their batches are converted as they are read."""
    if not execution.on_gpu:
        return data, outputs
    device = execution.torch_device
    stores = (data.train_x, data.val_x)
    if not data.train_x.compact and fits_on(execution, tensor_bytes(*(s.pixels for s in stores))):
        data = dataclasses.replace(
            data,
            train_x=data.train_x.to(device),
            val_x=data.val_x.to(device),
            train_y=data.train_y.to(device),
            val_y=data.val_y.to(device),
        )
    to = getattr(outputs, "to", None)
    if to is not None and fits_on(execution, outputs.nbytes):
        outputs = to(device)
    return data, outputs
