"""Export a student of a run as a self-describing bundle (its format: bundle.py).

The bundle is written to a temporary folder and moved into place only after both checks pass, so
a failed export leaves nothing half-written behind.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import yaml
from torch import nn

from autokd.data import load_identified_data
from autokd.errors import AutoKDError
from autokd.measure.backends import get_backend
from autokd.measure.deployed import calibration_images, deployed_accuracy
from autokd.measure.onnx import require_onnx, to_onnx
from autokd.measure.sessions import onnxruntime_offline
from autokd.measure.targets import parse_target
from autokd.records.cache import umask
from autokd.records.codec import to_mapping
from autokd.records.folder import RunFolder, load_study
from autokd.records.outputs import OutputKind, check_output, writing
from autokd.records.summary import RunSummary
from autokd.runtime.settings import Settings
from autokd.students import StudentSpec, build_student
from autokd.study.picks import pick_row
from autokd.study.tables import trials_frame
from autokd.study.trial import TrialRecord
from autokd.workflows.bundle import (
    FILES,
    BundleDescription,
    BundleMetrics,
    BundleSource,
    Preprocessing,
    read_weights,
)

BUNDLE = OutputKind("a bundle", (FILES["config"],))
PARITY_TOLERANCE = 1e-4  # max abs difference of logits between PyTorch and each exported form
DEPLOYED_TOLERANCE = 0.005  # the shipped INT8 model's accuracy against the search's: 0.5 points


# --------------------------------------------------------------------------------------------
# Which student


def choose_trial(
    frame: pd.DataFrame,
    *,
    trial: int | None = None,
    pick: str = "knee",
    max_latency_ms: float | None = None,
) -> pd.Series:
    """The row of the student to export: trial `trial`, or `pick` among the Pareto students
    (those with latency at most `max_latency_ms`, when given)."""
    if trial is not None:
        rows = frame[frame["number"] == trial]
        if rows.empty:
            last = int(frame["number"].max()) if len(frame) else -1
            raise AutoKDError(f"trial {trial} does not exist; the run has trials 0 to {last}")
        row = rows.iloc[0]
        if isinstance(row.get("rejected_by"), str):
            raise AutoKDError(
                f"trial {trial} was rejected by the constraints ({row['rejected_by']})"
                " and never trained"
            )
        if row["state"] != "COMPLETE":
            raise AutoKDError(f"trial {trial} is {row['state'].lower()}, not complete")
        if str(row.get("latency_predicted")) == "True":  # a bool, numpy's or trials.csv's
            raise AutoKDError(
                f"trial {trial}'s latency was predicted, never timed (--latency predict); time "
                "it first: autokd remeasure RUN --all times the front, or export a front student"
            )
        return row
    complete = frame[frame["state"] == "COMPLETE"]
    front = complete[complete["is_pareto"]]
    if max_latency_ms is not None and not front.empty:
        fast_enough = front[front["latency_ms"] <= max_latency_ms]
        if fast_enough.empty:
            raise AutoKDError(
                f"no Pareto student is as fast as {max_latency_ms:g} ms; the fastest takes "
                f"{front['latency_ms'].min():.3f} ms"
            )
        front = fast_enough
    return pick_row(front, pick)


# --------------------------------------------------------------------------------------------
# Writing a bundle


@dataclass(frozen=True)
class ExportResult:
    path: Path
    trial: int
    description: BundleDescription  # what student.yaml holds
    onnx_max_diff: float
    torchscript_max_diff: float


def export_run(
    run: RunFolder,
    output: Path,
    *,
    trial: int | None = None,
    pick: str = "knee",
    max_latency_ms: float | None = None,
    force: bool = False,
    settings: Settings,
) -> ExportResult:
    """Export one student of `run` to the bundle folder `output` (see the module docstring)."""
    check_output(output, BUNDLE, force=force, reads=(run.path,))
    with writing(output, settings.lock_dir):
        return _export(run, output, trial=trial, pick=pick, max_latency_ms=max_latency_ms,
                       settings=settings)  # fmt: skip


def _export(
    run: RunFolder,
    output: Path,
    *,
    trial: int | None,
    pick: str,
    max_latency_ms: float | None,
    settings: Settings,
) -> ExportResult:
    output.parent.mkdir(parents=True, exist_ok=True)
    require_onnx("autokd export writes ONNX and checks it with ONNX Runtime")
    study = load_study(run)
    frame = trials_frame(study)
    row = choose_trial(frame, trial=trial, pick=pick, max_latency_ms=max_latency_ms)
    number = int(row["number"])
    weights = run.weights_path(number)
    if not weights.is_file():
        front = ", ".join(str(int(n)) for n in frame.loc[frame["is_pareto"], "number"])
        raise AutoKDError(
            f"the weights of trial {number} were not kept: only students on the front keep "
            f"theirs (trials {front}); export one of those"
        )
    attrs = study.get_trials(deepcopy=False)[number].user_attrs
    summary = run.read_summary()
    record = TrialRecord.from_attrs(attrs)
    config = record.student
    model = build_student(config)
    model.load_state_dict(read_weights(weights))
    model.eval()
    description = BundleDescription(
        source=BundleSource(str(run.path), number, None if trial is not None else pick),
        student=config,
        distill=record.kd,
        train=record.train,
        teacher=run.teacher_identity(),
        data=run.data_identity(),
        target=summary.target,
        metrics=BundleMetrics(
            accuracy=float(row["accuracy"]),
            latency_ms=float(row["latency_ms"]),
            latency_iqr_ms=float(row["latency_iqr_ms"]),
            flops=int(row["flops"]),
            params=int(row["params"]),
            search_epochs=summary.epochs,
            latency_protocol=summary.latency_protocol,
            flops_convention=summary.flops_convention,
            accuracy_fp32=_present(row.get("accuracy_fp32")),
        ),
        files=dict(FILES),
        **_what_the_images_are(run, summary, config, settings),
    )
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}-", dir=output.parent))
    try:
        shutil.copyfile(weights, staging / FILES["weights"])
        onnx_diff, script_diff = write_deployables(model, config, staging)
        parity = {"onnx": onnx_diff, "torchscript": script_diff}
        description = dataclasses.replace(description, parity=parity)
        if get_backend(summary.target.backend).quantizes:
            description = _ship_deployed(description, model, run, summary, staging, settings)
        (staging / FILES["config"]).write_text(
            yaml.safe_dump(description.to_dict(), sort_keys=False)
        )
        if output.exists():  # --force: the old contents go only now, after the checks passed
            shutil.rmtree(output)
        staging.chmod(0o777 & ~umask())  # mkdtemp made it private
        staging.rename(output)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return ExportResult(output, number, description, onnx_diff, script_diff)


def _what_the_images_are(
    run: RunFolder, summary: RunSummary, student: StudentSpec, settings: Settings
) -> dict[str, Any]:
    """What the student expects of an image and what each output means, from the run's
    summary (a run from before these were recorded: from its data, prepared again)."""
    mean, std, names = summary.data.mean, summary.data.std, summary.data.class_names
    if not (mean and names):
        data = load_identified_data(run.data_identity(), settings=settings)
        mean, std = data.train_x.mean.flatten().tolist(), data.train_x.std.flatten().tolist()
        names = data.class_names
    preprocessing = Preprocessing(student.in_channels, student.input_size, tuple(mean), tuple(std))
    return {"preprocessing": preprocessing, "class_names": tuple(names)}


def write_deployables(model: nn.Module, config: StudentSpec, folder: Path) -> tuple[float, float]:
    """Write the ONNX and TorchScript files and check both against PyTorch on random batches of
    1 and 4 images; returns the largest absolute differences, or fails when one is too large."""
    ort = onnxruntime_offline()

    example = torch.randn(2, config.in_channels, config.input_size, config.input_size)
    onnx_path, script_path = folder / FILES["onnx"], folder / FILES["torchscript"]
    to_onnx(model, example, onnx_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TorchScript announces its own deprecation
        torch.jit.trace(model, example).save(str(script_path))
        scripted = torch.jit.load(str(script_path))
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    generator = torch.Generator().manual_seed(0)
    onnx_diff = script_diff = 0.0
    with torch.no_grad():
        for batch in (1, 4):
            x = torch.randn(batch, *example.shape[1:], generator=generator)
            expected = model(x).numpy()
            onnx_out = session.run(None, {"input": x.numpy()})[0]
            onnx_diff = max(onnx_diff, float(np.abs(onnx_out - expected).max()))
            script_diff = max(script_diff, float(np.abs(scripted(x).numpy() - expected).max()))
    for name, diff in (("ONNX Runtime", onnx_diff), ("TorchScript", script_diff)):
        if not diff <= PARITY_TOLERANCE:
            raise AutoKDError(
                f"{name} output differs from PyTorch by {diff:.2e} (more than "
                f"{PARITY_TOLERANCE:g}); the export was not written"
            )
    return onnx_diff, script_diff


def _present(value: object) -> float | None:
    """A float from a trials.csv cell, None where the run has none (a float32 target)."""
    return None if value is None or pd.isna(value) else float(value)


def _ship_deployed(
    description: BundleDescription,
    model: nn.Module,
    run: RunFolder,
    summary: RunSummary,
    staging: Path,
    settings: Settings,
) -> BundleDescription:
    """For a target that quantizes: the deployed file beside the float32 ones, made as the
    search made it (the run's calibration images) and evaluated again on the validation
    images; refused when its accuracy is not the one the search recorded."""
    target = parse_target(
        Path(summary.target.name), summary.target.name, to_mapping(summary.target)
    )
    data = load_identified_data(run.data_identity(), settings=settings)
    calibration = calibration_images(data, target.calibration_images, summary.seed)
    config, weights = description.student, model.state_dict()
    deployed = deployed_accuracy(config, weights, target, calibration, data, keep_in=staging)
    recorded = description.metrics.accuracy
    if abs(deployed.accuracy - recorded) > DEPLOYED_TOLERANCE:
        raise AutoKDError(
            f"the {target.name} model's validation accuracy is {deployed.accuracy:.4f}, the "
            f"search recorded {recorded:.4f} (more than {DEPLOYED_TOLERANCE * 100:g} points "
            "apart); the export was not written"
        )
    files = {**description.files, "deployed": get_backend(target.backend).deployed_file}
    return dataclasses.replace(description, files=files)
