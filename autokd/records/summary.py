"""summary.json as types, and the identities of a run's teacher and data.

The search writes a `RunSummary` (`study.controller.build_summary`); `report`, `compare`,
`export`, `validate` and the tests' fake run read and build the same dataclasses, so a key is
named in one place. `TeacherIdentity` and `DataIdentity` say what a student was searched with,
enough to prepare it again anywhere and to check it is the same; the worker record in the study,
an export bundle (`workflows.bundle`) and `validate` carry them. The files stay plain JSON and
YAML (`codec` turns one into the other, checking every type); summaries written before a field
existed read with its default.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from autokd.records.codec import Codable, to_mapping

PRUNER_OF_EARLIER_RUNS = "none"  # runs recorded before --pruner trained every trial `epochs`


@dataclass(frozen=True)
class SpaceRecord:
    name: str
    source: str  # the YAML file, or "shipped:<name>"
    digest: str  # of the file: a rerun must search the same space
    description: str = ""


@dataclass(frozen=True)
class TeacherRecord:
    name: str
    accuracy: float  # on the validation split
    weights_digest: str
    source: str = ""  # trained, cache, checkpoint, pretrained, ensemble
    seconds: float | None = None  # spent training or loading it in this run
    checkpoint: str | None = None
    params: int | None = None
    epochs: int | None = None  # of training, when trained here
    members: tuple[TeacherRecord, ...] = ()  # an ensemble's teachers


@dataclass(frozen=True)
class DataRecord:
    name: str
    train_images: int
    val_images: int
    channels: int
    classes: int
    input_size: int
    key: str  # identity of the prepared images: cached teacher outputs are keyed by it
    description: str = ""
    storage: str = ""  # how the images are held in memory
    compact: bool = False  # 8-bit pixels (runs before 8-bit storage: float32)
    seed: int | None = None  # how to prepare it again: split seed, subset, size, folder
    subset: int | None = None
    requested_input_size: int | None = None
    data_dir: str | None = None
    mean: tuple[float, ...] = ()  # per channel, of the training images on the [0, 1] scale
    std: tuple[float, ...] = ()  # (runs before these were recorded: empty)
    class_names: tuple[str, ...] = ()  # label index -> class name (older runs: empty)
    # the views the teacher and `train --augment` drew (`data.augment.POLICIES`); runs before
    # policies: None, the data set's own (shifts for a folder or an archive)
    augment_policy: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TargetRecord:
    name: str
    backend: str
    device: str
    threads: int
    batch_size: int
    input_size: int
    warmup: int
    min_run_time: float
    description: str = ""
    calibration_images: int = 0  # INT8 targets: the training images that calibrate each student
    performance_hint: str | None = None  # OpenVINO targets: the runtime's hint
    options: dict[str, Any] | None = None  # a backend's own keys (`remote`: agents, runtime)

    def settings(self) -> dict[str, Any]:
        """What a latency depends on from the target: every field but its name and words."""
        return {k: v for k, v in to_mapping(self).items() if k not in ("name", "description")}


@dataclass(frozen=True)
class TrainingRecord:
    """Where the students trained (not where their latency was measured)."""

    device: str
    precision: str
    workers: int = 1
    threads_per_worker: int | None = None
    workers_plan: str = ""
    failed_workers: int = 0


@dataclass(frozen=True)
class RunSummary(Codable):
    name: str
    budget: int
    trials: dict[str, int]  # trials by state, lower case
    sampler: str
    seed: int
    epochs: int  # of training per trial
    batch_size: int
    space: SpaceRecord
    teacher: TeacherRecord
    data: DataRecord
    target: TargetRecord
    latency_protocol: str
    flops_convention: str
    objectives: list[Any] = field(default_factory=list)
    constraints: dict[str, Any] = field(default_factory=dict)
    rejected: int = 0  # students over a limit, rejected untrained
    pruner: str = PRUNER_OF_EARLIER_RUNS
    stopped: int = 0  # students the stopper ended early
    epochs_saved: int = 0  # of training, by stopping them
    latency_fingerprint: dict[str, Any] | None = None  # compare checks runs agree on it
    environment: dict[str, Any] = field(default_factory=dict)
    best_accuracy: float | None = None
    pareto_size: int = 0
    timings: dict[str, Any] = field(default_factory=dict)
    updated: str = ""
    first_budget: int | None = None
    training: TrainingRecord | None = None  # runs before --device record none
    report: str | None = None  # where the search wrote the HTML report
    # --latency predict: students predicted and timed, the predictor's error on those it
    # predicted before they were timed (`study.latency_plan.PredictionRecord`)
    latency_prediction: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TeacherIdentity(Codable):
    name: str
    weights_digest: str  # the teacher found again must have these weights
    seed: int
    accuracy: float | None = None
    checkpoint: str | None = None  # where its weights were, if on disk
    epochs: int | None = None  # to train it again when the checkpoint is gone
    pretrained: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DataIdentity(Codable):
    name: str
    seed: int
    input_size: int
    key: str  # the data prepared again must have this key
    subset: int | None = None
    data_dir: str | None = None
    compact: bool = False  # runs before 8-bit storage: float32
    augment_policy: str | None = None  # as `DataRecord.augment_policy`: None, before policies
    extra: dict[str, Any] = field(default_factory=dict)
