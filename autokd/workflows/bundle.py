"""The export bundle's format: what student.yaml says, as types, and reading a bundle back.

A bundle folder holds
    student.yaml             a `BundleDescription`: architecture, distillation settings, schedule,
                             teacher and data identities, target, the measured metrics, and
                             what a user needs to run the files: the preprocessing (input size,
                             channels, mean and std) and the class name of each output
    student.pt               the weights trained during the search
    student.onnx             ONNX (dynamic batch axis), checked against PyTorch with ONNX Runtime
    student.torchscript.pt   TorchScript, checked against PyTorch

export.py writes one; `autokd train` reads one with `load_bundle`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from autokd.data.store import resize_images
from autokd.distill.config import KDConfig, TrainConfig, check_schedule
from autokd.distill.space import check_distillation
from autokd.errors import AutoKDError
from autokd.measure.targets import Target, parse_target
from autokd.records.codec import RecordError, from_mapping, plain, to_mapping
from autokd.records.summary import DataIdentity, TargetRecord, TeacherIdentity
from autokd.records.yamlfiles import read_yaml_mapping
from autokd.students import StudentSpec, build_student, get_family, student_from_dict

BUNDLE_FORMAT = 1
FILES = {
    "config": "student.yaml",
    "weights": "student.pt",
    "onnx": "student.onnx",
    "torchscript": "student.torchscript.pt",
}


@dataclass(frozen=True)
class BundleSource:
    run: str  # the run folder it was exported from
    trial: int
    pick: str | None = None  # knee, fastest, best-accuracy; None when chosen by --trial


@dataclass(frozen=True)
class BundleMetrics:
    """What the search measured for this student, with the protocols that give them meaning."""

    accuracy: float
    latency_ms: float
    flops: int
    params: int
    latency_iqr_ms: float | None = None
    search_epochs: int | None = None
    latency_protocol: str = ""
    flops_convention: str = ""
    # A target that quantizes: `accuracy` and `latency_ms` are the deployed (INT8) model's, the
    # files the float32 one's, whose accuracy this is
    accuracy_fp32: float | None = None


@dataclass(frozen=True)
class Preprocessing:
    """What the student expects of an image: pixels in [0, 1], resized to `input_size` x
    `input_size` (bilinear, antialiased when shrinking), normalised per channel with the
    training images' statistics."""

    channels: int
    input_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]


@dataclass(frozen=True)
class BundleDescription:
    source: BundleSource
    student: StudentSpec
    distill: KDConfig
    train: TrainConfig  # how the student was trained during the search
    teacher: TeacherIdentity
    data: DataIdentity
    target: TargetRecord
    metrics: BundleMetrics
    files: Mapping[str, str]
    autokd_bundle: int = BUNDLE_FORMAT
    preprocessing: Preprocessing | None = None  # bundles before it was recorded: None
    class_names: tuple[str, ...] = ()  # the student's output index -> class; older bundles: ()
    parity: Mapping[str, float] = field(default_factory=dict)  # file role -> largest |diff|

    def to_dict(self) -> dict[str, Any]:
        return plain(
            {
                "autokd_bundle": self.autokd_bundle,
                "source": to_mapping(self.source),
                "student": self.student.to_dict(),
                "distill": self.distill.to_dict(),
                "train": self.train.to_dict(),
                "teacher": self.teacher.to_dict(),
                "data": self.data.to_dict(),
                "target": to_mapping(self.target),
                "metrics": to_mapping(self.metrics),
                "files": dict(self.files),
                "preprocessing": to_mapping(self.preprocessing) if self.preprocessing else None,
                "class_names": list(self.class_names),
                "parity": dict(self.parity),
            }
        )

    @classmethod
    def from_dict(cls, mapping: Mapping[str, Any]) -> BundleDescription:
        """Raises RecordError (a key missing or of the wrong type) or the student's, the
        distillation's or the schedule's own KeyError/TypeError/ValueError."""
        if not isinstance(mapping.get("autokd_bundle"), int):
            raise RecordError("autokd_bundle", "lacks key")
        if mapping["autokd_bundle"] > BUNDLE_FORMAT:
            raise RecordError("autokd_bundle", f"is newer than this autokd ({BUNDLE_FORMAT}) in")
        return cls(
            source=from_mapping(BundleSource, mapping.get("source", {}), path="source"),
            student=student_from_dict(mapping["student"]),
            distill=KDConfig.from_dict(mapping["distill"]),
            train=from_mapping(TrainConfig, mapping["train"], path="train"),
            teacher=from_mapping(TeacherIdentity, mapping["teacher"], path="teacher"),
            data=from_mapping(DataIdentity, mapping["data"], path="data"),
            target=from_mapping(TargetRecord, mapping["target"], path="target"),
            metrics=from_mapping(BundleMetrics, mapping["metrics"], path="metrics"),
            files=dict(mapping.get("files") or FILES),
            autokd_bundle=mapping["autokd_bundle"],
            preprocessing=_optional(Preprocessing, mapping.get("preprocessing"), "preprocessing"),
            class_names=tuple(str(name) for name in mapping.get("class_names") or ()),
            parity=dict(mapping.get("parity") or {}),
        )


def _optional(kind: type, value: Any, path: str) -> Any:
    return None if value is None else from_mapping(kind, value, path=path)


@dataclass(frozen=True)
class Bundle:
    """A bundle folder read back: its description and, checked, the target it was timed on."""

    path: Path
    description: BundleDescription
    target: Target

    student = property(lambda self: self.description.student)
    kd = property(lambda self: self.description.distill)
    search_schedule = property(lambda self: self.description.train)
    teacher = property(lambda self: self.description.teacher)
    data = property(lambda self: self.description.data)

    def weights(self) -> dict[str, torch.Tensor]:
        return read_weights(self.path / FILES["weights"])


def load_bundle(path: Path) -> Bundle:
    """Read a bundle folder written by `export_run`, saying which file is missing or broken."""
    path = Path(path)
    if not path.is_dir():
        raise AutoKDError(f"bundle folder '{path}' does not exist")
    for role in ("config", "weights"):
        if not (path / FILES[role]).is_file():
            raise AutoKDError(f"bundle '{path}' has no {FILES[role]}; export it again")
    config_file = path / FILES["config"]
    raw = read_yaml_mapping(config_file)
    try:
        description = BundleDescription.from_dict(raw)
        target = parse_target(config_file, description.target.name, raw["target"])
    except RecordError as err:
        raise AutoKDError(
            f"'{config_file}' is not a valid autokd bundle description: it {err.problem} "
            f"'{err.key}'"
        ) from None
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise AutoKDError(
            f"'{config_file}' is not a valid autokd bundle description ({err!r})"
        ) from None
    check_trainable(description.student, description.distill, description.train, str(config_file))
    return Bundle(path=path, description=description, target=target)


def check_trainable(student: StudentSpec, kd: KDConfig, train: TrainConfig, where: str) -> None:
    """Values read back from a bundle obey the rules a search space's do: `where` names the
    file; a negative width or a NaN learning rate is one line, not a crash."""
    get_family(student.family).check(student, where)
    check_distillation(kd, len(student.stages), where)
    check_schedule(train, where)


def read_weights(path: Path) -> dict[str, torch.Tensor]:
    """A state dict saved by autokd; a damaged or foreign file is one line naming it."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch raises many types for a damaged file
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise AutoKDError(f"weights file '{path}' cannot be read ({first[:200]})") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise AutoKDError(f"weights file '{path}' does not hold a student's weights")
    return state


class ShippedStudent(nn.Module):
    """A trained student with the preprocessing it was trained with, as one module: it takes
    images with pixels in [0, 1] (N, C, H, W, any size), resizes and normalises them as the
    search did (`preprocess`), then runs the student (also reachable as `.student`)."""

    def __init__(self, student: nn.Module, preprocessing: Preprocessing) -> None:
        super().__init__()
        self.student = student
        self.preprocessing = preprocessing
        shape = (1, preprocessing.channels, 1, 1)
        self.register_buffer("mean", torch.tensor(preprocessing.mean).view(shape))
        self.register_buffer("std", torch.tensor(preprocessing.std).view(shape))

    def preprocess(self, pixels: torch.Tensor) -> torch.Tensor:
        if pixels.ndim != 4 or pixels.shape[1] != self.preprocessing.channels:
            raise AutoKDError(
                f"the student takes images of shape (N, {self.preprocessing.channels}, H, W) "
                f"with pixels in [0, 1], got {tuple(pixels.shape)}"
            )
        resized = resize_images(pixels.float(), self.preprocessing.input_size)
        return (resized - self.mean) / self.std

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.student(self.preprocess(pixels))


def load_student(bundle: Bundle, *, weights: Path | None = None) -> ShippedStudent:
    """The bundle's student in eval mode, with its preprocessing: the weights trained during
    the search, or `weights` (a `student.pt` that `autokd train` wrote)."""
    if bundle.description.preprocessing is None:
        raise AutoKDError(
            f"bundle '{bundle.path}' records no preprocessing (exported by an older autokd); "
            "export it again"
        )
    model = build_student(bundle.student)
    path = Path(weights) if weights else bundle.path / FILES["weights"]
    try:
        model.load_state_dict(read_weights(path))
    except RuntimeError as err:  # another student's weights: keys or shapes differ
        first = str(err).strip().splitlines()[0]
        raise AutoKDError(
            f"weights file '{path}' does not fit the bundle's student ({first})"
        ) from None
    return ShippedStudent(model, bundle.description.preprocessing).eval()
