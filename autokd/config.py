"""What a run trains and asks for: the search space (`load_space`), a trial's distillation and
schedule (`KDConfig`, `TrainConfig`), and one search run as the user asked for it (`RunConfig`).

YAML reading is `autokd.yamlfiles`, parameter forms and rules `autokd.params`, hardware targets
`autokd.targets`. This module knows no student family and no loss term, and nothing about torch.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from autokd.errors import ConfigError, UnknownNameError
from autokd.params import Param, Rule, parse_param
from autokd.targets import Target
from autokd.yamlfiles import (
    SPACES_FOLDER,
    check_keys,
    description_of,
    file_digest,
    read_yaml_mapping,
    resolve_yaml,
)

_TRAIN_RULES = {"lr": Rule(float, 1e-6, 10.0)}
_SPACE_TOP_KEYS = ["description", "family", "student", "distill", "train"]


# --------------------------------------------------------------------------------------------
# The search space.


@dataclass(frozen=True)
class SearchSpace:
    """Ranges the controller samples from: the family's `student:` section (parsed by the family,
    `autokd.students`), the distillation terms (`autokd.distill.space`) and the learning rate."""

    name: str
    source: str
    description: str
    family: str
    student: Any  # the family's parsed space; `max_stages` sizes the per-stage distill keys
    distill: Any  # autokd.distill.space.DistillSpace
    lr: Param
    digest: str = field(default="", compare=False)

    @property
    def max_stages(self) -> int:
        return int(self.student.max_stages)


def load_space(name_or_path: str | Path) -> SearchSpace:
    """Load and validate a search space: a shipped name (`cnn`) or a path to a YAML file."""
    from autokd.distill.space import parse_distill
    from autokd.students import get_family

    path = resolve_yaml(SPACES_FOLDER, name_or_path, kind="search space")
    raw = read_yaml_mapping(path)
    check_keys(path, "", raw, _SPACE_TOP_KEYS)
    family_name = raw.get("family", "cnn")
    if not isinstance(family_name, str):
        raise ConfigError(
            f"{path}: key 'family' must be a student family name, got {family_name!r}"
        )
    try:
        family = get_family(family_name)
    except UnknownNameError as err:
        raise ConfigError(f"{path}: key 'family': {err}") from None
    for section in ("student", "distill", "train"):
        if not isinstance(raw.get(section), dict):
            raise ConfigError(
                f"{path}: key '{section}' must be a mapping (search_spaces/README.md)"
            )
    student = family.parse_space(path, raw["student"])
    train = raw["train"]
    check_keys(path, "train.", train, list(_TRAIN_RULES))
    if "lr" not in train:
        raise ConfigError(f"{path}: key 'train.lr' is missing")
    return SearchSpace(
        name=path.stem,
        source=str(path),
        description=description_of(path, raw),
        family=family.name,
        student=student,
        distill=parse_distill(path, raw["distill"], student.max_stages),
        lr=parse_param(path, "train.lr", train["lr"], _TRAIN_RULES["lr"]),
        digest=file_digest(path),
    )


# --------------------------------------------------------------------------------------------
# What one trial trains: the student's architecture, the distillation and the schedule.


@dataclass(frozen=True)
class KDConfig:
    """Distillation settings: `alpha` weights the logit term, 1 - alpha the labels' cross-entropy;
    `feature_weights` weight the feature term per student stage (0 turns a stage's term off).

    The terms are names in `autokd.distill.terms`; `settings` holds the chosen terms' own values
    by their study names (`dkd_beta`). The defaults are the engine autokd began with (KD and
    FitNets at a constant temperature): a record written before the menu existed reads the same.
    """

    temperature: float  # at the first step; `temperature_end` at the last unless constant
    alpha: float
    feature_weights: tuple[float, ...]
    logit_loss: str = "kd"
    feature_loss: str = "fitnets"  # or "none"
    standardize: bool = False  # logit standardization (Sun et al. 2024) before the logit term
    temperature_schedule: str = "constant"  # constant, linear or cosine
    temperature_end: float | None = None
    settings: tuple[tuple[str, float], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["settings"] = dict(self.settings)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> KDConfig:
        end = data.get("temperature_end")
        return cls(
            float(data["temperature"]),
            float(data["alpha"]),
            tuple(float(w) for w in data["feature_weights"]),
            logit_loss=str(data.get("logit_loss", "kd")),
            feature_loss=str(data.get("feature_loss", "fitnets")),
            standardize=bool(data.get("standardize", False)),
            temperature_schedule=str(data.get("temperature_schedule", "constant")),
            temperature_end=None if end is None else float(end),
            settings=tuple(
                sorted((str(k), float(v)) for k, v in (data.get("settings") or {}).items())
            ),
        )

    def logits_only(self) -> KDConfig:
        """These settings without the feature term: for a teacher that gives no feature maps."""
        feature_settings = f"{self.feature_loss}_"
        return dataclasses.replace(
            self,
            feature_loss="none",
            feature_weights=(0.0,) * len(self.feature_weights),
            settings=tuple(s for s in self.settings if not s[0].startswith(feature_settings)),
        )

    def setting(self, name: str) -> float:
        return dict(self.settings)[name]

    def describe(self) -> str:
        """`dkd (dkd_beta 8) + at, T 4->1 cosine, alpha 0.9`: what the report's hover shows."""
        logit = self.logit_loss + (" standardized" if self.standardize else "")
        own = ", ".join(f"{k} {v:g}" for k, v in self.settings)
        terms = logit + (f" ({own})" if own else "")
        if self.feature_loss != "none" and any(w > 0 for w in self.feature_weights):
            weights = ", ".join(f"{w:g}" for w in self.feature_weights)
            terms += f" + {self.feature_loss} [{weights}]"
        temperature = f"T {self.temperature:.2f}"
        if self.temperature_schedule != "constant" and self.temperature_end is not None:
            temperature += f"->{self.temperature_end:.2f} {self.temperature_schedule}"
        return f"{terms}, {temperature}, alpha {self.alpha:.2f}"


@dataclass(frozen=True)
class TrainConfig:
    """The schedule of one training run (a search trial or a full training)."""

    epochs: int
    lr: float  # peak learning rate of AdamW, reached after the linear warm-up
    batch_size: int = 64
    weight_decay: float = 5e-4
    warmup_fraction: float = 0.1  # share of all steps spent warming the LR up linearly
    grad_clip: float = 5.0  # max global gradient norm
    seed: int = 0
    augment: bool = False  # train on the data set's random views (needs a live teacher for KD)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_trainable(student: Any, kd: KDConfig, train: TrainConfig, where: str) -> None:
    """Values read back from a file (an exported bundle) obey the rules a search space's do:
    `where` names the file; a negative width or a NaN learning rate is one line, not a crash."""
    from autokd.distill.space import check_distillation
    from autokd.students import get_family

    get_family(student.family).check(student, where)
    check_distillation(kd, len(student.stages), where)

    def check(key: str, value: Any, rule: Rule) -> None:
        number_ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not number_ok or not math.isfinite(value) or not rule.low <= value <= rule.high:
            raise ConfigError(f"{where}: key '{key}' must be {rule.describe()}, got {value!r}")
        if rule.kind is int and not float(value).is_integer():
            raise ConfigError(f"{where}: key '{key}' must be {rule.describe()}, got {value!r}")

    check("train.lr", train.lr, _TRAIN_RULES["lr"])
    check("train.epochs", train.epochs, Rule(int, 1, 100_000))
    check("train.batch_size", train.batch_size, Rule(int, 1, 65_536))
    check("train.weight_decay", train.weight_decay, Rule(float, 0.0, 1.0))
    check("train.warmup_fraction", train.warmup_fraction, Rule(float, 0.0, 1.0))
    check("train.grad_clip", train.grad_clip, Rule(float, 1e-6, 1e6))
    check("train.seed", train.seed, Rule(int, 0, 2**63 - 1))


# --------------------------------------------------------------------------------------------
# One search run, as the user asked for it.


@dataclass(frozen=True)
class DataOptions:
    """How the data set is prepared, beyond its name and the seed."""

    data_dir: Path | None = None  # where torchvision data sets live (default: the cache folder)
    download: bool = False
    subset: int | None = None  # search on a stratified subset of this many training images
    input_size: int | None = None  # resize to this side instead of the data set's default

    def identity(self) -> dict[str, Any]:
        """What changes the tensors (where they come from is checked by the data key)."""
        return {"subset": self.subset, "input_size": self.input_size}


@dataclass(frozen=True)
class Constraints:
    """Limits a student must meet; one outside them is measured, then rejected untrained."""

    max_latency_ms: float | None = None
    max_flops: int | None = None
    max_params: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

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


PRUNER_NAMES = ("mo-asha", "none")  # stopping.PRUNERS: what may stop a trial early
PRUNER_OF_EARLIER_RUNS = "none"  # runs recorded before --pruner trained every trial `epochs`
PICKS = ("knee", "best-accuracy", "fastest")  # how `autokd export` chooses among the front
DEFAULT_TEACHER = "resnet18"  # trains to about 0.99 on digits in well under a minute on 2 cores
DEFAULT_TEACHER_EPOCHS = 20
DEFAULT_FULL_EPOCHS = (
    30  # `autokd train` and `autokd validate`: a full schedule on the default data
)


@dataclass(frozen=True)
class TrialSettings:
    """What a worker needs to run one trial of a run, on any machine."""

    space: SearchSpace
    target: Target
    epochs: int
    batch_size: int
    seed: int
    constraints: Constraints
    pruner: str  # PRUNER_NAMES: what may stop a trial before `epochs`


@dataclass(frozen=True)
class RunConfig:
    name: str
    runs_dir: Path
    reports_dir: Path
    budget: int  # total trials the study should hold; rerunning continues up to it
    space: SearchSpace
    target: Target
    data: str
    teacher: str
    teacher_weights: Path | None
    teacher_pretrained: bool
    teacher_epochs: int
    epochs: int
    batch_size: int
    seed: int
    sampler: str
    constraints: Constraints = field(default_factory=lambda: Constraints())
    pruner: str = "mo-asha"  # PRUNER_NAMES; `none` trains every trial `epochs`
    data_options: DataOptions = field(default_factory=lambda: DataOptions())
    # How the trials run; none of it changes what a trial computes, so none is in `identity`.
    workers: int | None = None  # None: auto (one per physical core, or per GPU)
    device: str = "auto"  # where students and the teacher train: auto, cpu, cuda, cuda:N
    precision: str = "mixed"  # autocast on CUDA (bf16, else fp16); fp32 turns it off
    storage: str | None = None  # a database URL for the study (None: the run folder's study.db)

    @property
    def run_dir(self) -> Path:
        return self.runs_dir / self.name

    def trial_settings(self) -> TrialSettings:
        return TrialSettings(
            space=self.space,
            target=self.target,
            epochs=self.epochs,
            batch_size=self.batch_size,
            seed=self.seed,
            constraints=self.constraints,
            pruner=self.pruner,
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
            "sampler": self.sampler,
            "constraints": self.constraints.to_dict(),
            "data_options": self.data_options.identity(),
            "pruner": self.pruner,
        }


def check_choice(kind: str, value: str, valid: tuple[str, ...] | list[str]) -> str:
    if value not in valid:
        raise UnknownNameError(kind, value, valid)
    return value
