"""One search run as the user asked for it (`RunConfig`), and what a worker needs to run one
of its trials (`TrialSettings`).

Every default of `autokd search` and of `autokd.study()` is a field default here (the space
and the target by name: `DEFAULT_SPACE`, `DEFAULT_TARGET`); the command line and the API read
them from this record, so they cannot drift apart.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from autokd.records.run import Constraints, DataOptions
from autokd.records.yamlfiles import file_digest

if TYPE_CHECKING:  # this module stays light: the CLI reads its defaults for `--help`
    from autokd.measure.targets import Target
    from autokd.study.space import SearchSpace

DEFAULT_SPACE = "cnn"
DEFAULT_TARGET = "cpu"


@dataclass(frozen=True)
class TrialSettings:
    """What a worker needs to run one trial of a run, on any machine."""

    space: SearchSpace
    target: Target
    epochs: int
    batch_size: int
    seed: int
    constraints: Constraints
    pruner: str  # a registered pruner (`study.pruners`): what may stop a trial early
    latency: str = "measure"  # or "predict": time only students that could reach the front


@dataclass(frozen=True)
class RunConfig:
    """A search run: what it searches, on what, for how long, and how its trials run."""

    space: SearchSpace
    target: Target
    name: str | None = None  # None: <data>-<target>-<date>-<time>; an existing run is continued
    runs_dir: Path = Path("runs")
    reports_dir: Path = Path("reports")
    budget: int = 50  # trials the study should hold; rerunning continues up to it
    data: str = "digits"
    teacher: str = "resnet18"  # trains to about 0.99 on digits in well under a minute on 2 cores
    teacher_weights: Path | None = None
    teacher_pretrained: bool = False
    teacher_epochs: int = 20
    # A teacher whose training (all epochs, estimated from timed steps before it starts:
    # `teachers/cost.py`) would take longer is refused; None or 0: no bound.
    teacher_max_minutes: float | None = 120.0
    epochs: int = 5  # of each trial's training
    batch_size: int = 64
    seed: int = 0
    sampler: Any = "tpe"  # a registered name (`study.samplers`) or an Optuna sampler object
    constraints: Constraints = field(default_factory=Constraints)
    pruner: str = "mo-asha"  # `none` trains every trial `epochs`
    data_options: DataOptions = field(default_factory=DataOptions)
    # How the trials run; none of it changes what a trial computes, so none is in `identity`.
    workers: int | None = None  # None: auto (one per physical core, or per GPU)
    device: str = "auto"  # where students and the teacher train: auto, cpu, cuda, cuda:N
    precision: str = "mixed"  # autocast on CUDA (bf16, else fp16); fp32 turns it off
    # "predict": time the first students, then only those that could reach the front; the others
    # keep a predicted latency, flagged (`study.latency_plan`). Each trial says which it has.
    latency: str = "measure"
    storage: str | None = None  # a database URL for the study (None: the run folder's study.db)

    @property
    def run_dir(self) -> Path:
        return self.runs_dir / str(self.name)

    @property
    def sampler_name(self) -> str:
        """The sampler as the run records it: its registered name, or its class for an object."""
        if isinstance(self.sampler, str):
            return self.sampler
        return f"custom:{type(self.sampler).__name__}"

    def named(self) -> RunConfig:
        """This config with its run name: the given one, or `<data>-<target>-<date>-<time>`
        (`-2`, `-3`, ... when a run started in the same second)."""
        if self.name is not None:
            return self
        data_label = self.data.split(":")[0]  # folder:PATH runs are named folder-...
        stem = f"{data_label}-{self.target.name}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
        candidate, n = stem, 1
        while (self.runs_dir / candidate).exists():
            n += 1
            candidate = f"{stem}-{n}"
        return dataclasses.replace(self, name=candidate)

    def trial_settings(self) -> TrialSettings:
        return TrialSettings(
            space=self.space,
            target=self.target,
            epochs=self.epochs,
            batch_size=self.batch_size,
            seed=self.seed,
            constraints=self.constraints,
            pruner=self.pruner,
            latency=self.latency,
        )

    def identity(self) -> dict[str, Any]:
        """What must stay the same for a rerun to continue this study (the budget may grow)."""
        return {
            "space": self.space.name,
            "space_digest": self.space.digest,
            "target": self.target.name,
            "target_digest": self.target.digest,
            "data": self.data,
            "teacher": self.teacher,
            # A checkpoint is known by its contents; training settings matter only without one.
            "teacher_weights": file_digest(self.teacher_weights) if self.teacher_weights else None,
            "teacher_pretrained": self.teacher_pretrained,
            "teacher_epochs": None if self.teacher_weights else self.teacher_epochs,
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "seed": self.seed,
            "sampler": self.sampler_name,
            "constraints": self.constraints.to_dict(),
            "data_options": self.data_options.identity(),
            "pruner": self.pruner,
        }


def defaults_of(record: type) -> SimpleNamespace:
    """The field defaults of dataclass `record`, by name: what the CLI and the API show."""
    values = {}
    for f in dataclasses.fields(record):
        if f.default is not dataclasses.MISSING:
            values[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            values[f.name] = f.default_factory()
    return SimpleNamespace(**values)


SEARCH_DEFAULTS = defaults_of(RunConfig)
