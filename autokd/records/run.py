"""A run's own records: `run.json` (what a rerun must match to continue the run) and the worker
record in the study (everything an `autokd worker` needs to run the run's trials, anywhere).

Both are written by the search and read back by the search that continues a run, by the workers
and by `open_run`; they go through `codec`, so a key a newer autokd adds survives a read and a
write, and a missing key is named by its path.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from autokd.records.codec import Codable
from autokd.records.summary import PRUNER_OF_EARLIER_RUNS, DataIdentity, TeacherIdentity

# Identity keys a run records since they were added, and what a run before them did.
IDENTITY_BEFORE_KEYS: dict[str, Any] = {"pruner": PRUNER_OF_EARLIER_RUNS}


@dataclass(frozen=True)
class Constraints(Codable):
    """Limits a student must meet; one outside them is measured, then rejected untrained."""

    max_latency_ms: float | None = None
    max_flops: int | None = None
    max_params: int | None = None

    @property
    def active(self) -> list[tuple[str, str, float]]:
        """(metric, the limit's flag, limit) for every limit that is set."""
        limits = (
            ("latency_ms", "--max-latency-ms", self.max_latency_ms),
            ("flops", "--max-flops", self.max_flops),
            ("params", "--max-params", self.max_params),
        )
        return [(metric, flag, float(limit)) for metric, flag, limit in limits if limit is not None]

    def violations(self, metrics: dict[str, float]) -> list[float]:
        """How far over each active limit, as a fraction of it (positive: violated)."""
        return [(metrics[metric] - limit) / limit for metric, _, limit in self.active]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DataOptions:
    """How the data set is prepared, beyond its name and the seed."""

    data_dir: Path | None = None  # where torchvision data sets live (default: the cache folder)
    download: bool = False
    subset: int | None = None  # search on a stratified subset of this many training images
    input_size: int | None = None  # resize to this side instead of the data set's default
    # the random views the teacher trains on (`data.augment.list_augment_policies()`); not in
    # `identity`: the data key holds it, and a continued run keeps its own (`RunRecord`)
    augment_policy: str = "auto"

    def identity(self) -> dict[str, Any]:
        """What changes the tensors (where they come from is checked by the data key)."""
        return {"subset": self.subset, "input_size": self.input_size}


@dataclass(frozen=True)
class RunRecord(Codable):
    """`run.json`: the run's name, budgets, data key and the settings a continuation must match
    (`identity`: compared key by key, see `study.config.RunConfig.identity`)."""

    name: str
    budget: int
    created: str = ""  # ISO time of the first invocation
    first_budget: int | None = None  # sizes NSGA-II's population, fixed for the run's life
    identity: dict[str, Any] = field(default_factory=dict)
    data_key: str | None = None
    data_compact: bool = False  # 8-bit images (runs before 8-bit storage: float32)
    storage: str | None = None  # the --storage URL, password masked
    augment_policy: str | None = None  # the data's, resolved (runs before policies: None)
    extra: dict[str, Any] = field(default_factory=dict)

    def stored_identity(self) -> dict[str, Any]:
        """The identity, with what a run before a key existed did for that key."""
        return {**IDENTITY_BEFORE_KEYS, **self.identity}

    def augment_policy_for(self, asked: str) -> str | None:
        """The policy a continuation prepares the data with: `auto` is the run's own, whatever
        `auto` would pick now (None: the views of a run from before policies); another name is
        checked against the run's data key."""
        return self.augment_policy if asked == "auto" else asked


@dataclass(frozen=True)
class YamlFile(Codable):
    """A space or target file carried whole in the study: same bytes, same digest elsewhere."""

    name: str
    text: str


@dataclass(frozen=True)
class WorkerRecord(Codable):
    """The study attribute `RUN_ATTR`: what any worker, on any machine, runs the trials with."""

    run_json: RunRecord
    budget: int
    sampler: str
    seed: int
    first_budget: int
    epochs: int
    batch_size: int
    space: YamlFile
    target: YamlFile
    data: DataIdentity
    teacher: TeacherIdentity
    weights_dir: str  # absolute: shared between the machines
    constraints: Constraints = field(default_factory=Constraints)
    pruner: str = PRUNER_OF_EARLIER_RUNS
    precision: str = "mixed"
    latency: str = "measure"  # or "predict" (`study.latency_plan`)
    extra: dict[str, Any] = field(default_factory=dict)
