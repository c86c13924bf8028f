"""The search space: a YAML file read into a `SearchSpace` (`load_space`), and the define-by-run
turn of a space and a trial into a candidate (`sample_candidate`).

The student's family samples the architecture (`autokd.students`), then the distillation terms
(`autokd.distill.space`), then the learning rate. Fixed values in the space are not Optuna
parameters. Which parameters a space may sample, and of which kind, is declared once
(`param_declarations`) and stored in the study: trials.csv, the report and the importances
read the declaration, never a name's suffix.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from autokd.distill.config import LR_RULE, KDConfig
from autokd.distill.space import (
    DistillSpace,
    distill_declarations,
    parse_distill,
    sample_distillation,
)
from autokd.errors import ConfigError, UnknownNameError
from autokd.measure.flops import count_flops
from autokd.measure.limits import MAX_STUDENT_PARAMS, student_size
from autokd.measure.metrics import MetricsCache
from autokd.measure.targets import Target
from autokd.records.params import ARCHITECTURE, TRAINING, Param, parse_param
from autokd.records.run import Constraints
from autokd.records.yamlfiles import (
    SPACES_FOLDER,
    check_keys,
    description_of,
    file_digest,
    read_yaml_mapping,
    resolve_yaml,
)
from autokd.students import FamilySpace, StudentSpec, build_student, count_params, get_family

_SPACE_TOP_KEYS = ["description", "family", "student", "distill", "train"]


@dataclass(frozen=True)
class SearchSpace:
    """Ranges the controller samples from: the family's `student:` section (parsed by the family,
    `autokd.students`), the distillation terms (`autokd.distill.space`) and the learning rate."""

    name: str
    source: str
    description: str
    family: str
    student: FamilySpace  # the family's parsed space; `max_stages` sizes the per-stage keys
    distill: DistillSpace
    lr: Param
    digest: str = field(default="", compare=False)

    @property
    def max_stages(self) -> int:
        return int(self.student.max_stages)


def load_space(name_or_path: str | Path | SearchSpace) -> SearchSpace:
    """Load and validate a search space: a shipped name (`cnn`), a path to a YAML file, or a
    `SearchSpace` already loaded (returned as it is)."""
    if isinstance(name_or_path, SearchSpace):
        return name_or_path
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
    check_keys(path, "train.", train, ["lr"])
    if "lr" not in train:
        raise ConfigError(f"{path}: key 'train.lr' is missing")
    return SearchSpace(
        name=path.stem,
        source=str(path),
        description=description_of(path, raw),
        family=family.name,
        student=student,
        distill=parse_distill(path, raw["distill"], student.max_stages),
        lr=parse_param(path, "train.lr", train["lr"], LR_RULE),
        digest=file_digest(path),
    )


class DataShape(Protocol):
    """What a student needs to know of its data (a `DataBundle` has it, and so has `Shape`)."""

    channels: int
    classes: int
    input_size: int


@dataclass(frozen=True)
class Shape:
    channels: int
    classes: int
    input_size: int


@dataclass(frozen=True)
class Candidate:
    """What one trial trains: an architecture, its distillation settings and its learning rate."""

    student: StudentSpec
    kd: KDConfig
    lr: float


def sample_candidate(trial: Any, space: SearchSpace, data: DataShape) -> Candidate:
    """Sample a candidate with `trial` (an Optuna trial, or `optuna.trial.FixedTrial` in tests)."""
    student = get_family(space.family).sample(trial, space.student, data)
    kd = sample_distillation(trial, space.distill, len(student.stages))
    return Candidate(student=student, kd=kd, lr=float(space.lr.suggest(trial, "lr")))


class _Largest:
    """A stand-in trial that answers every suggestion with its largest value."""

    def suggest_int(self, name: str, low: int, high: int, **_: Any) -> int:
        return high

    def suggest_float(self, name: str, low: float, high: float, **_: Any) -> float:
        return high

    def suggest_categorical(self, name: str, choices: list[Any]) -> Any:
        return max(choices)  # a list of numbers, of names or of true/false


def largest_candidate(space: SearchSpace, data: DataShape) -> Candidate:
    """The largest student `space` allows: every key at its largest (the size bound's case)."""
    return sample_candidate(_Largest(), space, data)


class _Smallest:
    """A stand-in trial that answers every suggestion with its smallest value, but a stride with
    its largest: a larger stride shrinks every layer after it (names as in `students.staged`)."""

    def suggest_int(self, name: str, low: int, high: int, **_: Any) -> int:
        return high if name.endswith("_stride") else low

    def suggest_float(self, name: str, low: float, high: float, **_: Any) -> float:
        return low

    def suggest_categorical(self, name: str, choices: list[Any]) -> Any:
        return max(choices) if name.endswith("_stride") else min(choices)


def smallest_candidate(space: SearchSpace, data: DataShape) -> Candidate:
    """The cheapest student `space` allows: every key at its smallest, every stride at its
    largest (the case the limits are checked on before the teacher trains)."""
    return sample_candidate(_Smallest(), space, data)


def param_declarations(space: SearchSpace) -> dict[str, dict[str, str]]:
    """Every parameter `space` may sample, in reading order: study name -> its kind
    (architecture, distillation, training) and type (int, float, choice)."""
    return _declarations(space.family, space.student, space.distill, space.max_stages)


def legacy_declarations() -> dict[str, dict[str, str]]:
    """The declarations of a study written before they were stored: such runs used the `cnn`
    family's keys with up to MAX_STAGES stages, KD and FitNets."""
    from autokd.distill.space import DistillSpace
    from autokd.records.params import MAX_STAGES, Fixed
    from autokd.students.cnn import RULES
    from autokd.students.staged import StagedSpace

    one = (Fixed(1),) * MAX_STAGES
    per_stage = tuple((key, one) for key in RULES)
    student = StagedSpace(Fixed(MAX_STAGES), (Fixed(1),) * MAX_STAGES, Fixed(8), per_stage)
    distill = DistillSpace(temperature=Fixed(1.0), alpha=Fixed(0.0), feature_weight=one)
    return _declarations("cnn", student, distill, MAX_STAGES)


def _declarations(
    family: str, student: Any, distill: Any, max_stages: int
) -> dict[str, dict[str, str]]:
    architecture = get_family(family).declarations(student)
    declared = {name: {"kind": ARCHITECTURE, "type": t} for name, t in architecture.items()}
    declared.update(distill_declarations(distill, max_stages))
    declared["lr"] = {"kind": TRAINING, "type": "float"}
    return declared


def check_space_size(space: SearchSpace, data: DataShape) -> None:
    """Refuse, before any training, a space whose largest student exceeds `MAX_STUDENT_PARAMS`."""
    largest = largest_candidate(space, data).student
    params = student_size(largest).params
    if params > MAX_STUDENT_PARAMS:
        raise ConfigError(
            f"{space.source}: the largest student this space allows ({largest.describe()}) has "
            f"{params:,} parameters; autokd's students have at most {MAX_STUDENT_PARAMS:,}: "
            "lower the largest depth, width, kernel or stage count"
        )


# A latency this little over its limit may be timing noise (the protocol calls IQR / median over
# 0.1 noisy): another student may time under the limit, so the search runs and rejects per trial.
LATENCY_NOISE = 0.1
# A doubtful timing (a busy machine) is up to this many times too slow (`measure.latency`): only
# one this far over its limit proves the space infeasible.
CONTENDED_SLOWDOWN = 20.0


def check_space_within_limits(
    space: SearchSpace,
    data: DataShape,
    constraints: Constraints,
    target: Target,
    *,
    metrics: MetricsCache,
) -> None:
    """Refuse, before the teacher trains, a space whose cheapest student (`smallest_candidate`)
    is already over a limit: every student would be rejected untrained, leaving an empty front.
    Latency is timed only when a latency limit is set, through `metrics` (cached: the trial
    that samples this student reuses the timing)."""
    active = constraints.active
    if not active:
        return
    smallest = smallest_candidate(space, data).student
    timed = any(metric == "latency_ms" for metric, _, _ in active)
    costs, trusted = _costs(smallest, target, metrics) if timed else (_counts(smallest), True)
    broken = [(m, flag, limit) for m, flag, limit in active if _over(m, costs[m], limit, trusted)]
    if not broken:
        return
    flags = " and ".join(f"{flag} {limit:.4g}" for _, flag, limit in broken)
    over = "; ".join(f"{metric} {costs[metric]:.4g} > {limit:.4g}" for metric, _, limit in broken)
    where = f" on target '{target.name}'" if any(m == "latency_ms" for m, _, _ in broken) else ""
    raise ConfigError(
        f"space '{space.name}' has no student within {flags}: its smallest "
        f"({smallest.describe()}) has {over}{where}; raise "
        f"{' and '.join(flag for _, flag, _ in broken)}, or choose a space with smaller students"
    )


def _over(metric: str, value: float, limit: float, trusted: bool) -> bool:
    if metric != "latency_ms":
        return value > limit
    return value > limit * ((1 + LATENCY_NOISE) if trusted else CONTENDED_SLOWDOWN)


def _costs(
    student: StudentSpec, target: Target, metrics: MetricsCache
) -> tuple[dict[str, float], bool]:
    """Latency, FLOPs and parameters as a trial measures them (and cached for it), and whether
    the latency is trusted."""
    measured = metrics.measure(student, target)
    costs = {
        "latency_ms": measured.latency.median_ms,
        "flops": measured.flops,
        "params": measured.params,
    }
    return costs, measured.latency.trusted


def _counts(student: StudentSpec) -> dict[str, float]:
    """FLOPs and parameters as a trial counts them, without timing anything."""
    model = build_student(student)
    shape = (student.in_channels, student.input_size, student.input_size)
    return {"flops": count_flops(model, shape), "params": count_params(model)}


def sample_architectures(space: SearchSpace, data_shape: tuple[int, int, int], classes: int,
                         n: int, seed: int) -> list[StudentSpec]:  # fmt: skip
    """`n` distinct architectures drawn at random from `space` (the same ones for a seed)."""
    import optuna

    channels, size, _ = data_shape
    shape_only = Shape(channels=channels, classes=classes, input_size=size)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    found: dict[str, StudentSpec] = {}
    for _ in range(50 * n):
        if len(found) == n:
            break
        config = sample_candidate(study.ask(), space, shape_only).student
        found.setdefault(config.arch_hash(), config)
    return list(found.values())
