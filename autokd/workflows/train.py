"""`autokd train`: a bundle's student trained from scratch, longer, with the search's
distillation settings (or on labels alone), through `distill.training.train_student`, the same
loop every search trial runs. The trained student is written in every format the bundle has
(weights, ONNX, TorchScript, the deployed INT8 file), each checked as `autokd export` checks it.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from autokd.data import load_identified_data
from autokd.distill.config import KDConfig, TrainConfig
from autokd.distill.engine import EpochReport, fit
from autokd.distill.training import place_on_device, train_student
from autokd.errors import AutoKDError
from autokd.measure.backends import get_backend, list_backends
from autokd.measure.deployed import calibration_images, deployed_accuracy
from autokd.measure.fake_quant import fake_quantized, float_weights
from autokd.measure.metrics import MetricsCache
from autokd.measure.onnx import require_onnx
from autokd.measure.openvino import require_openvino
from autokd.records.cache import atomic_write, write_json
from autokd.records.codec import Codable
from autokd.records.outputs import OutputKind, check_output, writing
from autokd.runtime.cores import set_training_threads, threads_for
from autokd.runtime.device import Execution
from autokd.runtime.settings import Settings
from autokd.students import build_student
from autokd.teachers import load_identified_teacher
from autokd.teachers.outputs import teacher_signal
from autokd.workflows.bundle import FILES, Bundle
from autokd.workflows.config import DEFAULT_FULL_EPOCHS
from autokd.workflows.export import write_deployables

CHECKPOINT = "checkpoint.pt"
RESULT = "result.json"
QAT_FOLDER = "qat"  # in the output folder: the fine-tuned weights and their deployed file
QAT_LR_FACTOR = 0.1  # fine-tuning a trained student: a tenth of its peak learning rate
QAT_EPOCH_SHARE = 5  # default fine-tuning epochs: a fifth of the training's, at least one


@dataclass(frozen=True)
class QATResult(Codable):
    """Quantization-aware fine-tuning of the trained student (`--qat`): the same engine and KD
    terms, with fake quantization in the forward pass; then the target's converter."""

    epochs: int
    lr: float
    deployed_accuracy_ptq: float  # the trained student quantized after training
    deployed_accuracy: float  # the fine-tuned one, quantized the same way
    fake_quant_val_accuracy: float  # in PyTorch, with the simulated rounding
    seconds: float
    history: tuple[EpochReport, ...] = ()


@dataclass(frozen=True)
class TrainResult(Codable):
    """`result.json`: what one full training of a bundle's student gave, and how it ran."""

    bundle: str  # the bundle folder
    kd: bool  # distilled (False: labels alone, the baseline of the KD gain)
    augment: bool
    train_images: int
    schedule: TrainConfig
    epochs: int  # trained (a resumed training counts its earlier epochs)
    final_val_accuracy: float
    best_val_accuracy: float
    search_accuracy: float  # what the search's brief training gave the same student
    diverged: bool
    flops: int
    params: int
    latency_ms: float
    latency_iqr_ms: float
    target: str
    train_seconds: float
    seconds: float  # of the whole command: data, teacher, training
    output: str  # the folder holding result.json, student.pt and the bundle's other formats
    distill: KDConfig | None = None  # the settings distilled with, when `kd`
    files: dict[str, str] = field(default_factory=dict)  # role -> file in `output`, as a bundle's
    parity: dict[str, float] = field(default_factory=dict)  # format -> largest |diff| to PyTorch
    # A target that quantizes: the deployed (INT8) model's validation accuracy, in its runtime;
    # `final_val_accuracy` is the float32 model's
    deployed_accuracy: float | None = None
    qat: QATResult | None = None  # with --qat
    training: dict[str, Any] = field(default_factory=dict)  # device, precision, threads
    history: tuple[EpochReport, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)


def default_output(
    bundle: Bundle, *, epochs: int, use_kd: bool, augment: bool, all_images: bool, seed: int
) -> Path:
    recipe = (
        f"{'kd' if use_kd else 'nokd'}{'-aug' if augment else ''}{'-all' if all_images else ''}"
    )
    return bundle.path / f"train-{recipe}-e{epochs}-s{seed}"


TRAINING = OutputKind(
    "a training",
    (RESULT, CHECKPOINT),
    to_replace="pass --resume to continue its training or --force to start it over",
)


def _check_output(output: Path, bundle: Path, *, resume: bool, force: bool) -> bool:
    """Refuse an output folder that cannot be used, changing nothing; True when an earlier
    training in it is to be removed (--force), which `_clear_output` does once all else is ready."""
    if resume:  # a training killed before its first checkpoint left nothing: it starts anew
        busy = output.is_dir() and any(output.iterdir())
        if busy and not (output / CHECKPOINT).is_file():
            raise AutoKDError(f"nothing to resume: '{output}' holds no {CHECKPOINT}")
        check_output(output, TRAINING, force=True, reads=(bundle,))
        return False
    return check_output(output, TRAINING, force=force, reads=(bundle,))


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
    qat: bool = False,
    qat_epochs: int | None = None,
    settings: Settings,
) -> TrainResult:
    """Train the bundle's student from scratch with its distillation settings (or, without
    `use_kd`, on labels alone: the baseline of the KD gain); write result.json and the weights.

    By default it trains as the search did: on the stored images, distilling from the teacher's
    cached outputs, the recipe the distillation settings were chosen under. With `augment` (and a
    data set that defines random views), every batch is a fresh random view and the teacher runs
    live on exactly those views, since cached outputs exist for the stored images only. With
    `all_images`, a student searched on a `--subset` trains on every training image.
    With `qat` (a bundle of a target that quantizes), the trained student is then fine-tuned
    with fake quantization for `qat_epochs` (see `QATResult`) and quantized again.
    """
    output = Path(
        output
        or default_output(
            bundle, epochs=epochs, use_kd=use_kd, augment=augment, all_images=all_images, seed=seed
        )
    )
    # Everything that can refuse comes before anything in `output` is removed or written.
    remove_earlier = _check_output(output, bundle.path, resume=resume, force=force)
    with writing(output, settings.lock_dir):
        return _train(
            bundle, output, remove_earlier, epochs=epochs, use_kd=use_kd, augment=augment,
            all_images=all_images, seed=seed, teacher_weights=teacher_weights,
            progress=progress, execution=execution, qat=qat, qat_epochs=qat_epochs,
            settings=settings,
        )  # fmt: skip


def _train(
    bundle: Bundle,
    output: Path,
    remove_earlier: bool,
    *,
    epochs: int,
    use_kd: bool,
    augment: bool,
    all_images: bool,
    seed: int,
    teacher_weights: Path | None,
    progress: bool,
    execution: Execution | None,
    qat: bool,
    qat_epochs: int | None,
    settings: Settings,
) -> TrainResult:
    from autokd.runtime.progress import epoch_bar

    if "onnx" in bundle.description.files:
        require_onnx("the bundle has an ONNX file, and `autokd train` writes one of its student")
    if qat:
        _check_qat(bundle)
    execution = execution or Execution()
    set_training_threads(threads_for(1, settings.threads))  # trains alone: every physical core
    started = time.perf_counter()
    data = load_identified_data(bundle.data, all_images=all_images, settings=settings)
    metrics = MetricsCache(settings).measure(bundle.student, bundle.target)  # fails now, not last
    augment = augment and data.augment is not None
    outputs = None
    if use_kd:
        teacher = load_identified_teacher(
            bundle.teacher,
            data,
            weights=teacher_weights,
            progress=progress,
            execution=execution,
            settings=settings,
        )
        outputs = teacher_signal(teacher, data, augment=augment, settings=settings)
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
    atomic_write(output / FILES["weights"], lambda tmp: torch.save(state, tmp))
    shipped = write_trained_formats(bundle, state, data, output, seed=seed)
    qat_result = None
    if qat:
        qat_result = fine_tune_quantized(
            bundle,
            state,
            kd,
            schedule,
            data,
            outputs,
            output / QAT_FOLDER,
            epochs=qat_epochs or max(1, epochs // QAT_EPOCH_SHARE),
            ptq_accuracy=shipped.deployed_accuracy or 0.0,  # present: --qat needs an INT8 target
            execution=execution,
            progress=progress,
        )
    result = TrainResult(
        bundle=str(bundle.path),
        kd=use_kd,
        augment=augment,
        train_images=len(data.train_y),
        distill=bundle.kd if use_kd else None,
        schedule=schedule,
        epochs=fitted.epochs_run,
        final_val_accuracy=fitted.val_accuracy,
        best_val_accuracy=fitted.best_val_accuracy,
        search_accuracy=_float32_search_accuracy(bundle.description.metrics),
        diverged=fitted.diverged,
        flops=metrics.flops,
        params=metrics.params,
        latency_ms=metrics.latency.median_ms,
        latency_iqr_ms=metrics.latency.iqr_ms,
        target=bundle.target.name,
        train_seconds=round(fitted.seconds, 2),
        training={**execution.to_dict(), "threads": torch.get_num_threads()},
        seconds=round(time.perf_counter() - started, 2),
        history=tuple(fitted.history),
        output=str(output),
        files=shipped.files | (_qat_files(bundle) if qat else {}),
        parity=shipped.parity,
        deployed_accuracy=shipped.deployed_accuracy,
        qat=qat_result,
    )
    write_json(output / RESULT, result.to_dict())
    return result


@dataclass(frozen=True)
class ShippedFormats:
    files: dict[str, str]  # role -> file name, as in a bundle
    parity: dict[str, float]
    deployed_accuracy: float | None


def write_trained_formats(
    bundle: Bundle, state: dict[str, torch.Tensor], data: Any, output: Path, *, seed: int
) -> ShippedFormats:
    """The trained student in every format its bundle has, checked as `autokd export` checks
    them: ONNX and TorchScript against PyTorch, and for a target that quantizes the deployed
    file, calibrated on `seed`'s draw of training images and evaluated in its runtime."""
    model = build_student(bundle.student)
    model.load_state_dict(state)
    model.eval()
    roles = bundle.description.files
    files, parity = {"weights": FILES["weights"]}, {}
    if "onnx" in roles or "torchscript" in roles:
        onnx_diff, script_diff = write_deployables(model, bundle.student, output)
        files |= {"onnx": FILES["onnx"], "torchscript": FILES["torchscript"]}
        parity = {"onnx": onnx_diff, "torchscript": script_diff}
    accuracy = None
    if bundle.target.quantizes:  # the file the target ships, whatever an older bundle lists
        target = bundle.target
        calibration = calibration_images(data, target.calibration_images, seed)
        deployed = deployed_accuracy(
            bundle.student, state, target, calibration, data, keep_in=output
        )
        files["deployed"] = get_backend(target.backend).deployed_file
        accuracy = deployed.accuracy
    return ShippedFormats(files, parity, accuracy)


def _qat_files(bundle: Bundle) -> dict[str, str]:
    deployed = get_backend(bundle.target.backend).deployed_file
    return {
        "qat_weights": f"{QAT_FOLDER}/{FILES['weights']}",
        "qat_deployed": f"{QAT_FOLDER}/{deployed}",
    }


def _check_qat(bundle: Bundle) -> None:
    target = bundle.target
    if not get_backend(target.backend).quantizes:
        quantizing = ", ".join(b for b in list_backends() if get_backend(b).quantizes)
        raise AutoKDError(
            f"--qat fine-tunes for a target that quantizes ({quantizing}); "
            f"bundle '{bundle.path}' was searched for {target.name}, which does not"
        )
    require_openvino("--qat simulates quantization with NNCF", nncf=True)


def fine_tune_quantized(
    bundle: Bundle,
    state: dict[str, torch.Tensor],
    kd: KDConfig | None,
    schedule: TrainConfig,
    data: Any,
    outputs: Any,
    folder: Path,
    *,
    epochs: int,
    ptq_accuracy: float,
    execution: Execution,
    progress: bool,
) -> QATResult:
    """Quantization-aware distillation: the trained student (`state`), fake-quantized with
    ranges from the run's calibration images, trained on by the engine with the same KD terms
    at a tenth of the learning rate; its weights, written to `folder`, then deployed as the
    target deploys every student (`deployed_accuracy`)."""
    from autokd.runtime.progress import epoch_bar

    started = time.perf_counter()
    student = build_student(bundle.student)
    student.load_state_dict(state)
    calibration = calibration_images(data, bundle.target.calibration_images, schedule.seed)
    quantized = fake_quantized(student, calibration)
    fine_tuning = dataclasses.replace(
        schedule, epochs=epochs, lr=schedule.lr * QAT_LR_FACTOR, warmup_fraction=0.0
    )
    with epoch_bar("quantization-aware fine-tuning", epochs, enabled=progress) as show:
        fitted = fit(
            quantized,
            data,
            fine_tuning,
            kd=kd,
            teacher=outputs if kd is not None else None,
            callbacks=[show],
            execution=execution,
        )
    weights = float_weights(quantized, student)
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write(folder / FILES["weights"], lambda tmp: torch.save(weights, tmp))
    deployed = deployed_accuracy(
        bundle.student, weights, bundle.target, calibration, data, keep_in=folder
    )
    return QATResult(
        epochs=fitted.epochs_run,
        lr=fine_tuning.lr,
        deployed_accuracy_ptq=ptq_accuracy,
        deployed_accuracy=deployed.accuracy,
        fake_quant_val_accuracy=fitted.val_accuracy,
        seconds=round(time.perf_counter() - started, 2),
        history=tuple(fitted.history),
    )


def _float32_search_accuracy(metrics: Any) -> float:
    """What the search's brief training reached in float32, the model `train` trains: on a
    target that quantizes, the bundle's `accuracy` is the deployed model's instead."""
    return metrics.accuracy if metrics.accuracy_fp32 is None else metrics.accuracy_fp32
