"""Training a chosen student again, longer: `autokd train` on a bundle, and the retraining that
`autokd validate` does. Both go through `train_student`, which is also what every search trial
runs, so the full training and the brief one share one loop (`distill.engine.fit`).
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from autokd.bundle import Bundle
from autokd.cache import atomic_write, write_json
from autokd.config import DEFAULT_FULL_EPOCHS, KDConfig, TrainConfig
from autokd.cores import set_training_threads, threads_for
from autokd.data import DataBundle, load_data
from autokd.device import Execution, fits_on, tensor_bytes
from autokd.distill.engine import EpochCallback, FitResult, TeacherSignal, fit
from autokd.errors import AutoKDError
from autokd.hardware import MetricsCache
from autokd.students import StudentSpec, build_student
from autokd.summary import DataIdentity, TeacherIdentity
from autokd.teacher import (
    LiveTeacher,
    PreparedTeacher,
    prepare_teacher,
    teacher_outputs,
)

CHECKPOINT = "checkpoint.pt"
RESULT = "result.json"


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


def load_identified_data(identity: DataIdentity, *, all_images: bool = False) -> DataBundle:
    """The data set a run or bundle was made on, prepared again (stored as the run stored it) and
    checked by its key; with `all_images`, every training image of it when the run searched on
    a `--subset` (the same validation images: the subset is drawn from the training split)."""
    if all_images and identity.subset is None:
        raise AutoKDError(
            "--all-images: this student's run searched on every training image already "
            "(it had no --subset)"
        )
    data = load_data(
        identity.name,
        seed=identity.seed,
        input_size=identity.input_size,
        subset=None if all_images else identity.subset,
        data_dir=identity.data_dir,
        compact=None if all_images else identity.compact,  # all images may pass the limit
    )
    now = data.key_for(subset=identity.subset, compact=identity.compact)
    if now != identity.key:
        raise AutoKDError(
            f"data set '{identity.name}' as autokd prepares it now (key {now}) is not the one "
            f"the student was searched on (key {identity.key}): its files, their labels or "
            "autokd's preparation of them changed"
        )
    return data


def load_identified_teacher(
    identity: TeacherIdentity,
    data: DataBundle,
    *,
    weights: Path | None = None,
    progress: bool = True,
    execution: Execution | None = None,
) -> PreparedTeacher:
    """The teacher a run or bundle was made with: from `weights`, its recorded checkpoint, or
    trained again with its recorded settings; refused unless its weights' digest matches."""
    recorded = Path(identity.checkpoint) if identity.checkpoint else None
    checkpoint = weights or (recorded if recorded is not None and recorded.is_file() else None)
    teacher = prepare_teacher(
        identity.name,
        data,
        weights=checkpoint,
        epochs=identity.epochs or 1,
        seed=identity.seed,
        pretrained=identity.pretrained,
        progress=progress,
        execution=execution,
    )
    if teacher.digest != identity.weights_digest:
        raise AutoKDError(
            f"the {identity.name} teacher found ({teacher.source}, weights {teacher.digest}) "
            f"is not the one the student was searched with (weights {identity.weights_digest}); "
            "pass --teacher-weights PATH with that teacher's checkpoint"
        )
    return teacher


def teacher_signal(teacher: PreparedTeacher, data: DataBundle, *, augment: bool) -> TeacherSignal:
    """The teacher live on every (randomly viewed) batch when augmenting, else its cached
    outputs on the stored images: what full training and validation distil from."""
    if augment:
        return LiveTeacher(teacher.model, data.input_shape)
    return teacher_outputs(teacher, data)[0]


def default_output(
    bundle: Bundle, *, epochs: int, use_kd: bool, augment: bool, all_images: bool, seed: int
) -> Path:
    recipe = (
        f"{'kd' if use_kd else 'nokd'}{'-aug' if augment else ''}{'-all' if all_images else ''}"
    )
    return bundle.path / f"train-{recipe}-e{epochs}-s{seed}"


def _check_output(output: Path, *, resume: bool, force: bool) -> bool:
    """Refuse an output folder that cannot be used, changing nothing; True when an earlier
    training in it is to be removed (--force), which `_clear_output` does once all else is ready."""
    if output.exists() and not output.is_dir():
        raise AutoKDError(f"-o '{output}' is a file, not a folder")
    busy = output.is_dir() and any(output.iterdir())
    if resume:  # a training killed before its first checkpoint left nothing: it starts anew
        if busy and not (output / CHECKPOINT).is_file():
            raise AutoKDError(f"nothing to resume: '{output}' holds no {CHECKPOINT}")
        return False
    if busy and not force:
        raise AutoKDError(
            f"output folder '{output}' exists and is not empty; pass --resume to continue its "
            "training or --force to start it over"
        )
    return busy


def _clear_output(output: Path, *, remove_earlier: bool) -> None:
    if remove_earlier:
        shutil.rmtree(output)
    output.mkdir(parents=True, exist_ok=True)


def train_bundle(
    bundle: Bundle,
    *,
    epochs: int = DEFAULT_FULL_EPOCHS,
    use_kd: bool = True,
    augment: bool = False,
    all_images: bool = False,
    seed: int = 0,
    output: Path | None = None,
    resume: bool = False,
    force: bool = False,
    teacher_weights: Path | None = None,
    progress: bool = True,
    execution: Execution | None = None,
) -> dict[str, Any]:
    """Train the bundle's student from scratch with its distillation settings (or, without
    `use_kd`, on labels alone: the baseline of the KD gain); write result.json and the weights.

    By default it trains as the search did: on the stored images, distilling from the teacher's
    cached outputs, the recipe the distillation settings were chosen under. With `augment` (and a
    data set that defines random views), every batch is a fresh random view and the teacher runs
    live on exactly those views, since cached outputs exist for the stored images only. With
    `all_images`, a student searched on a `--subset` trains on every training image.
    """
    from autokd.progress import epoch_bar

    output = Path(
        output
        or default_output(
            bundle, epochs=epochs, use_kd=use_kd, augment=augment, all_images=all_images, seed=seed
        )
    )
    # Everything that can refuse comes before anything in `output` is removed or written.
    remove_earlier = _check_output(output, resume=resume, force=force)
    execution = execution or Execution()
    set_training_threads(threads_for(1))  # trains alone: every physical core, on purpose
    started = time.perf_counter()
    data = load_identified_data(bundle.data, all_images=all_images)
    metrics = MetricsCache().measure(bundle.student, bundle.target)  # fails now, not at the end
    augment = augment and data.augment is not None
    outputs = None
    if use_kd:
        teacher = load_identified_teacher(
            bundle.teacher, data, weights=teacher_weights, progress=progress, execution=execution
        )
        outputs = teacher_signal(teacher, data, augment=augment)
    data, outputs = place_on_device(data, outputs, execution)
    _clear_output(output, remove_earlier=remove_earlier)
    schedule = dataclasses.replace(
        bundle.search_schedule, epochs=epochs, seed=seed, augment=augment
    )
    kd = bundle.kd if use_kd else None
    label = f"train {'with KD' if use_kd else 'without KD'}"
    with epoch_bar(label, epochs, enabled=progress) as show:
        model, fitted = train_student(
            bundle.student,
            kd,
            schedule,
            data,
            outputs,
            callbacks=[show],
            checkpoint=output / CHECKPOINT,
            execution=execution,
        )
    state = {k: v.cpu() for k, v in model.state_dict().items()}
    atomic_write(output / "student.pt", lambda tmp: torch.save(state, tmp))
    result = {
        "bundle": str(bundle.path),
        "kd": use_kd,
        "augment": augment,
        "train_images": len(data.train_y),
        "distill": bundle.kd.to_dict() if use_kd else None,
        "schedule": schedule.to_dict(),
        "epochs": fitted.epochs_run,
        "final_val_accuracy": fitted.val_accuracy,
        "best_val_accuracy": fitted.best_val_accuracy,
        "search_accuracy": bundle.description.metrics.accuracy,
        "diverged": fitted.diverged,
        "flops": metrics.flops,
        "params": metrics.params,
        "latency_ms": metrics.latency.median_ms,
        "latency_iqr_ms": metrics.latency.iqr_ms,
        "target": bundle.target.name,
        "train_seconds": round(fitted.seconds, 2),
        "training": {**execution.to_dict(), "threads": torch.get_num_threads()},
        "seconds": round(time.perf_counter() - started, 2),
        "history": [dataclasses.asdict(h) for h in fitted.history],
        "output": str(output),
    }
    write_json(output / RESULT, result)
    return result
