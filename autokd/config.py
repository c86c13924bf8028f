"""Frozen configuration records and the YAML loading that validates them.

Every YAML file is checked completely when it is loaded: a wrong type, an out-of-range value or an
unknown key raises `ConfigError` naming the file and the dotted key, so a typo never surfaces later
as a `KeyError` in the middle of a search. This module knows nothing about torch.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from autokd.errors import ConfigError, UnknownNameError, unknown_name_message

PACKAGE_DIR = Path(__file__).resolve().parent
SPACES_FOLDER = "search_spaces"
TARGETS_FOLDER = "hardware"
# Inside a wheel the shipped YAML folders live in the package under these names (pyproject.toml).
_WHEEL_FOLDER = {SPACES_FOLDER: "search_spaces", TARGETS_FOLDER: "hardware_targets"}


# --------------------------------------------------------------------------------------------
# Shipped YAML files: a name resolves to the shipped file, a path to the user's own file.


def shipped_dir(folder: str) -> Path:
    """The folder holding autokd's own YAML files, in a wheel or in a source checkout."""
    for candidate in (PACKAGE_DIR / _WHEEL_FOLDER[folder], PACKAGE_DIR.parent / folder):
        if candidate.is_dir():
            return candidate
    raise ConfigError(f"autokd's shipped '{folder}' folder is missing from the installation")


def shipped_names(folder: str) -> list[str]:
    return sorted(p.stem for p in shipped_dir(folder).glob("*.yaml"))


def resolve_yaml(folder: str, name_or_path: str | Path, *, kind: str) -> Path:
    """Turn `cpu` into the shipped `hardware/cpu.yaml`; a path (with / or .yaml) stays a path."""
    text = str(name_or_path)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes in a file name (surrogate escapes)
        shown = ascii(text)[1:-1]
        raise ConfigError(f"{kind} file name '{shown}' is not valid UTF-8; rename it") from None
    if isinstance(name_or_path, Path) or "/" in text or text.endswith((".yaml", ".yml")):
        path = Path(text).expanduser()
        if not path.is_file():
            raise ConfigError(f"{kind} file '{text}' does not exist")
        return path
    path = shipped_dir(folder) / f"{text}.yaml"
    if not path.is_file():
        raise UnknownNameError(
            kind, text, shipped_names(folder), hint=", or a path to a .yaml file"
        )
    return path


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, except that a key given twice in one mapping is an error (PyYAML
    keeps the last value, and the user's first one would be dropped without a word)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, (str, int, float)):
                continue  # an unhashable key: PyYAML's own error follows
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key '{key}' is given twice", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def read_yaml_mapping(path: Path) -> dict[str, Any]:
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)  # noqa: S506
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(f"{path}: not valid YAML{where}: {problem}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: is not UTF-8 text (is it a YAML file?)") from None
    except OSError as err:
        raise ConfigError(f"{path}: cannot be read ({err.strerror})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: must hold a mapping of keys to values at the top level")
    return data


def _description(path: Path, raw: dict[str, Any]) -> str:
    description = raw.get("description", "")
    if not isinstance(description, str):
        raise ConfigError(f"{path}: key 'description' must be text, got {description!r}")
    return description


def _check_keys(path: Path, prefix: str, mapping: Mapping[str, Any], allowed: list[str]) -> None:
    for key in mapping:
        if key not in allowed:
            message = unknown_name_message("key", f"{prefix}{key}", [prefix + a for a in allowed])
            raise ConfigError(f"{path}: {message}")


# --------------------------------------------------------------------------------------------
# Search-space parameters: a fixed value, a range, or a list of choices.


@dataclass(frozen=True)
class Fixed:
    value: int | float

    def suggest(self, trial: Any, name: str) -> int | float:
        return self.value

    @property
    def largest(self) -> int | float:
        return self.value


@dataclass(frozen=True)
class IntRange:
    low: int
    high: int
    step: int = 1
    log: bool = False

    def suggest(self, trial: Any, name: str) -> int:
        return trial.suggest_int(name, self.low, self.high, step=self.step, log=self.log)

    @property
    def largest(self) -> int:
        return self.high


@dataclass(frozen=True)
class FloatRange:
    low: float
    high: float
    log: bool = False

    def suggest(self, trial: Any, name: str) -> float:
        return trial.suggest_float(name, self.low, self.high, log=self.log)

    @property
    def largest(self) -> float:
        return self.high


@dataclass(frozen=True)
class Choices:
    values: tuple[int | float, ...]

    def suggest(self, trial: Any, name: str) -> int | float:
        return trial.suggest_categorical(name, list(self.values))

    @property
    def largest(self) -> int | float:
        return max(self.values)


Param = Fixed | IntRange | FloatRange | Choices


@dataclass(frozen=True)
class _Rule:
    """What one search-space key accepts: its number type, inclusive bounds, per-stage or not."""

    kind: type
    low: float
    high: float
    per_stage: bool = False
    odd: bool = False

    def describe(self) -> str:
        what = "an odd integer" if self.odd else ("an integer" if self.kind is int else "a number")
        return f"{what} in [{self.low:g}, {self.high:g}]"


MAX_STAGES = 6  # the most stages a search space may ask for
MAX_INPUT_SIZE = 1024  # image side, for a student and for a target's timing input
MAX_CLASSES = 100_000

_TRAIN_RULES = {"lr": _Rule(float, 1e-6, 10.0)}
_SPACE_TOP_KEYS = ["description", "family", "student", "distill", "train"]


def _parse_number(path: Path, key: str, value: Any, rule: _Rule) -> int | float:
    ok_type = isinstance(value, int) if rule.kind is int else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok_type or not (rule.low <= value <= rule.high):
        raise ConfigError(f"{path}: key '{key}' must be {rule.describe()}, got {value!r}")
    if rule.odd and value % 2 == 0:
        raise ConfigError(f"{path}: key '{key}' must be {rule.describe()}, got {value!r}")
    return rule.kind(value)


def _parse_param(path: Path, key: str, value: Any, rule: _Rule) -> Param:
    if not isinstance(value, dict):
        if isinstance(value, list):
            raise ConfigError(
                f"{path}: key '{key}' must be a number, {{low: .., high: ..}} or {{choices: [..]}}"
                + (" (or a list of those, one per stage)" if rule.per_stage else "")
                + f", got a list {value!r}"
            )
        return Fixed(_parse_number(path, key, value, rule))
    if "choices" in value:
        _check_keys(path, f"{key}.", value, ["choices"])
        choices = value["choices"]
        if not isinstance(choices, list) or not choices:
            raise ConfigError(f"{path}: key '{key}.choices' must be a non-empty list")
        parsed = tuple(_parse_number(path, f"{key}.choices", v, rule) for v in choices)
        return Choices(tuple(dict.fromkeys(parsed)))
    allowed = ["low", "high", "log"] + (["step"] if rule.kind is int else [])
    _check_keys(path, f"{key}.", value, allowed)
    for bound in ("low", "high"):
        if bound not in value:
            raise ConfigError(f"{path}: key '{key}' needs '{bound}' (or use 'choices')")
    low = _parse_number(path, f"{key}.low", value["low"], rule)
    high = _parse_number(path, f"{key}.high", value["high"], rule)
    if low > high:
        raise ConfigError(f"{path}: key '{key}' needs low <= high, got low={low}, high={high}")
    log = value.get("log", False)
    if not isinstance(log, bool):
        raise ConfigError(f"{path}: key '{key}.log' must be true or false, got {log!r}")
    if log and low <= 0:
        raise ConfigError(f"{path}: key '{key}' with log: true needs low > 0, got {low}")
    if rule.kind is int:
        step = value.get("step", 1)
        if isinstance(step, bool) or not isinstance(step, int) or step < 1:
            raise ConfigError(f"{path}: key '{key}.step' must be a positive integer, got {step!r}")
        if log and step != 1:
            raise ConfigError(
                f"{path}: key '{key}' cannot combine log: true with a step, got step={step}"
            )
        return IntRange(int(low), int(high), step=step, log=log)
    return FloatRange(float(low), float(high), log=log)


def _parse_per_stage(
    path: Path, key: str, value: Any, rule: _Rule, stages: int
) -> tuple[Param, ...]:
    if not isinstance(value, list):
        return (_parse_param(path, key, value, rule),) * stages
    if len(value) != stages:
        raise ConfigError(
            f"{path}: key '{key}' lists {len(value)} per-stage values but up to {stages} stages "
            "can be sampled; give one value per stage or a single value for all"
        )
    return tuple(_parse_param(path, f"{key}[{i}]", v, rule) for i, v in enumerate(value))


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
    _check_keys(path, "", raw, _SPACE_TOP_KEYS)
    family_name = raw.get("family", "cnn")
    if not isinstance(family_name, str):
        raise ConfigError(f"{path}: key 'family' must be a student family name, got {family_name!r}")
    try:
        family = get_family(family_name)
    except UnknownNameError as err:
        raise ConfigError(f"{path}: key 'family': {err}") from None
    for section in ("student", "distill", "train"):
        if not isinstance(raw.get(section), dict):
            raise ConfigError(f"{path}: key '{section}' must be a mapping (search_spaces/README.md)")
    student = family.parse_space(path, raw["student"])
    train = raw["train"]
    _check_keys(path, "train.", train, list(_TRAIN_RULES))
    if "lr" not in train:
        raise ConfigError(f"{path}: key 'train.lr' is missing")
    return SearchSpace(
        name=path.stem,
        source=str(path),
        description=_description(path, raw),
        family=family.name,
        student=student,
        distill=parse_distill(path, raw["distill"], student.max_stages),
        lr=_parse_param(path, "train.lr", train["lr"], _TRAIN_RULES["lr"]),
        digest=file_digest(path),
    )


# --------------------------------------------------------------------------------------------
# Hardware targets.

# backend -> the devices it runs on
BACKENDS: dict[str, tuple[str, ...]] = {"torch": ("cpu", "cuda"), "onnxruntime": ("cpu",)}
_TARGET_KEYS = [
    "description",
    "backend",
    "device",
    "threads",
    "batch_size",
    "input_size",
    "warmup",
    "min_run_time",
]


@dataclass(frozen=True)
class Target:
    """Where and how latency is measured; see hardware/README.md for every field."""

    name: str
    source: str
    description: str
    backend: str
    device: str
    threads: int | None  # None: all physical cores of the machine
    batch_size: int
    input_size: int | None  # None: the data set's input size
    warmup: int
    min_run_time: float
    digest: str = field(default="", compare=False)  # of the file: a rerun must measure alike


# Bounds that keep one latency measurement finite (hardware/README.md, "Fields").
TARGET_BOUNDS = {"batch_size": (1, 1024), "input_size": (8, MAX_INPUT_SIZE), "warmup": (0, 1000)}
MAX_TARGET_THREADS = 1024


def _target_int(path: Path, raw: dict[str, Any], key: str, default: int | None) -> Any:
    value = raw.get(key, default)
    if value is None and default is None:
        return None
    low, high = TARGET_BOUNDS[key]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(
            f"{path}: key '{key}' must be an integer in [{low}, {high}], got {value!r}"
        )
    return value


def load_target(name_or_path: str | Path) -> Target:
    """Load and validate a hardware target: a shipped name (`cpu`) or a path to a YAML file."""
    path = resolve_yaml(TARGETS_FOLDER, name_or_path, kind="target")
    raw = read_yaml_mapping(path)
    _check_keys(path, "", raw, _TARGET_KEYS)
    return parse_target(path, path.stem, raw, digest=file_digest(path))


def parse_target(path: Path, name: str, raw: Mapping[str, Any], *, digest: str = "") -> Target:
    """A target from its fields (a target file's, or those an exported bundle records)."""
    backend = raw.get("backend", "torch")
    if not isinstance(backend, str) or backend not in BACKENDS:
        raise ConfigError(
            f"{path}: {unknown_name_message('backend', str(backend), list(BACKENDS))}"
        )
    device = raw.get("device", BACKENDS[backend][0])
    if not isinstance(device, str) or device not in BACKENDS[backend]:
        raise ConfigError(
            f"{path}: key 'device': backend '{backend}' runs on "
            f"{', '.join(BACKENDS[backend])}, not {device!r}"
        )
    threads = raw.get("threads", "all")
    if threads not in ("all", None) and (
        isinstance(threads, bool)
        or not isinstance(threads, int)
        or not 1 <= threads <= MAX_TARGET_THREADS
    ):
        raise ConfigError(
            f"{path}: key 'threads' must be 'all' or an integer in [1, {MAX_TARGET_THREADS}], "
            f"got {threads!r}"
        )
    min_run_time = raw.get("min_run_time", 0.3)
    if (
        isinstance(min_run_time, bool)
        or not isinstance(min_run_time, (int, float))
        or not (0.01 <= min_run_time <= 60)
    ):
        raise ConfigError(
            f"{path}: key 'min_run_time' must be seconds in [0.01, 60], got {min_run_time!r}"
        )
    return Target(
        name=name,
        source=str(path),
        description=_description(path, dict(raw)),
        backend=backend,
        device=device,
        threads=None if threads in ("all", None) else threads,
        batch_size=_target_int(path, dict(raw), "batch_size", 1),
        input_size=_target_int(path, dict(raw), "input_size", None),
        warmup=_target_int(path, dict(raw), "warmup", 10),
        min_run_time=float(min_run_time),
        digest=digest,
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
            settings=tuple(sorted((str(k), float(v)) for k, v in (data.get("settings") or {}).items())),
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

    def check(key: str, value: Any, rule: _Rule) -> None:
        number_ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not number_ok or not math.isfinite(value) or not rule.low <= value <= rule.high:
            raise ConfigError(f"{where}: key '{key}' must be {rule.describe()}, got {value!r}")
        if rule.kind is int and not float(value).is_integer():
            raise ConfigError(f"{where}: key '{key}' must be {rule.describe()}, got {value!r}")

    check("train.lr", train.lr, _TRAIN_RULES["lr"])
    check("train.epochs", train.epochs, _Rule(int, 1, 100_000))
    check("train.batch_size", train.batch_size, _Rule(int, 1, 65_536))
    check("train.weight_decay", train.weight_decay, _Rule(float, 0.0, 1.0))
    check("train.warmup_fraction", train.warmup_fraction, _Rule(float, 0.0, 1.0))
    check("train.grad_clip", train.grad_clip, _Rule(float, 1e-6, 1e6))
    check("train.seed", train.seed, _Rule(int, 0, 2**63 - 1))


def file_digest(path: Path) -> str:
    """A short hash of a file's bytes: its identity for runs that must not change under them."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def stable_hash(value: Any) -> str:
    """A short hash of a JSON-able value that is the same in every process and on every machine."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


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


SAMPLERS = ("tpe", "random", "nsga2")
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
        }


def check_choice(kind: str, value: str, valid: tuple[str, ...] | list[str]) -> str:
    if value not in valid:
        raise UnknownNameError(kind, value, valid)
    return value
