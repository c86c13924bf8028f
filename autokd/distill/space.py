"""The `distill:` section of a search space: the terms the search may choose, and their ranges.

    distill:
      logit_loss: {choices: [kd, dkd, dist]}        # a name, or choices (default kd)
      feature_loss: {choices: [none, fitnets, at, rkd]}   # default fitnets
      standardize: {choices: [false, true]}          # logit standardization (default false)
      temperature: {low: 1, high: 8}
      temperature_schedule: {choices: [constant, cosine]}   # default constant
      temperature_end: {low: 1, high: 2}             # needed when a schedule can be sampled
      alpha: {low: 0, high: 1}
      feature_weight: {choices: [0.5, 2.0]}          # per stage, sampled only with a feature term
      dkd: {beta: {low: 4, high: 8}}                 # a term's own settings (default: its range)

Sampling is define-by-run: a term's settings are sampled only in trials that choose the term,
the feature weights only in trials with a feature term, `temperature_end` only with a schedule.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autokd.distill.config import KDConfig
from autokd.distill.terms import (
    FEATURES,
    LOGITS,
    NO_FEATURE_TERM,
    SCHEDULES,
    Term,
    get_term,
    list_terms,
    setting_param,
)
from autokd.errors import ConfigError, UnknownNameError, unknown_name_message
from autokd.records.params import (
    DISTILLATION,
    Choices,
    Fixed,
    FloatRange,
    Param,
    Rule,
    parse_param,
    parse_per_stage,
)
from autokd.records.yamlfiles import check_keys

RULES = {
    "temperature": Rule(float, 0.05, 100.0),
    "temperature_end": Rule(float, 0.05, 100.0),
    "alpha": Rule(float, 0.0, 1.0),
    "feature_weight": Rule(float, 0.0, 1000.0, per_stage=True),
}
_NAMED = ("logit_loss", "feature_loss", "temperature_schedule")
REQUIRED = ("temperature", "alpha", "feature_weight")


@dataclass(frozen=True)
class DistillSpace:
    temperature: Param
    alpha: Param
    feature_weight: tuple[Param, ...]  # one per possible stage
    logit_loss: Param = Fixed("kd")
    feature_loss: Param = Fixed("fitnets")
    standardize: Param = Fixed(False)
    temperature_schedule: Param = Fixed("constant")
    temperature_end: Param | None = None
    settings: tuple[tuple[str, Param], ...] = ()  # a term's setting by study name: dkd_beta

    @property
    def uses_features(self) -> bool:
        """Whether any trial may distil features (then the teacher must expose feature maps)."""
        with_term = any(n != NO_FEATURE_TERM for n in self.options("feature_loss"))
        return with_term and any(w.largest > 0 for w in self.feature_weight)

    def options(self, key: str) -> tuple[Any, ...]:
        param = getattr(self, key)
        return param.values if isinstance(param, Choices) else (param.value,)

    def setting_param(self, term: Term, name: str) -> Param:
        """The range of `term`'s setting: the space's own, else the term's declared one."""
        own = dict(self.settings).get(setting_param(term.name, name))
        if own is not None:
            return own
        setting = next(s for s in term.settings if s.name == name)
        return FloatRange(setting.low, setting.high, log=setting.log)

    def terms(self) -> list[Term]:
        """Every term some trial may choose."""
        logit = [get_term(LOGITS, n) for n in self.options("logit_loss")]
        features = [get_term(FEATURES, n) for n in self.options("feature_loss")
                    if n != NO_FEATURE_TERM]  # fmt: skip
        return logit + features


def _parse_name(path: Path, key: str, value: Any, valid: list[Any], what: str) -> Param:
    """A name (or true/false) fixed, or {choices: [...]} among `valid`."""
    if isinstance(value, dict):
        check_keys(path, f"{key}.", value, ["choices"])
        choices = value.get("choices")
        if not isinstance(choices, list) or not choices:
            raise ConfigError(f"{path}: key '{key}.choices' must be a non-empty list")
        return Choices(tuple(dict.fromkeys(_parse_name(path, key, v, valid, what).value
                                           for v in choices)))  # fmt: skip
    if value not in valid or isinstance(value, bool) != isinstance(valid[0], bool):
        message = unknown_name_message(what, str(value), [str(v) for v in valid])
        raise ConfigError(f"{path}: key '{key}': {message}")
    return Fixed(value)


def parse_distill(path: Path, body: dict[str, Any], stages: int) -> DistillSpace:
    """Validate the `distill:` mapping of space file `path` whose students have up to `stages`."""
    logit_names, feature_names = list_terms(LOGITS), list_terms(FEATURES)
    term_keys = sorted(set(logit_names + feature_names))
    allowed = [*RULES, *_NAMED, "standardize", *term_keys]
    check_keys(path, "distill.", body, allowed)
    for key in REQUIRED:
        if key not in body:
            raise ConfigError(f"{path}: key 'distill.{key}' is missing")

    def named(key: str, valid: list[Any], what: str, default: Any) -> Param:
        return _parse_name(path, f"distill.{key}", body.get(key, default), valid, what)

    schedule = named("temperature_schedule", list(SCHEDULES), "temperature schedule", "constant")
    end = None
    if "temperature_end" in body:
        end = parse_param(path, "distill.temperature_end", body["temperature_end"],
                           RULES["temperature_end"])  # fmt: skip
    elif any(s != "constant" for s in _values(schedule)):
        raise ConfigError(
            f"{path}: key 'distill.temperature_end' is missing (a temperature schedule moves "
            "from 'temperature' to it)"
        )
    settings = []
    for term_name in term_keys:
        if term_name not in body:
            continue
        term = get_term(LOGITS, term_name) if term_name in logit_names else get_term(
            FEATURES, term_name)  # fmt: skip
        own = body[term_name]
        declared = {s.name: s for s in term.settings}
        if not isinstance(own, dict):
            raise ConfigError(f"{path}: key 'distill.{term_name}' must map settings "
                              f"{sorted(declared)} to values")  # fmt: skip
        check_keys(path, f"distill.{term_name}.", own, sorted(declared))
        for name, value in own.items():
            setting = declared[name]
            rule = Rule(float, setting.low, setting.high)
            param = parse_param(path, f"distill.{term_name}.{name}", value, rule)
            settings.append((setting_param(term_name, name), param))
    return DistillSpace(
        temperature=parse_param(
            path, "distill.temperature", body["temperature"], RULES["temperature"]
        ),  # fmt: skip
        alpha=parse_param(path, "distill.alpha", body["alpha"], RULES["alpha"]),
        feature_weight=parse_per_stage(
            path, "distill.feature_weight", body["feature_weight"], RULES["feature_weight"], stages
        ),
        logit_loss=named("logit_loss", logit_names, "logit loss", "kd"),
        feature_loss=named(
            "feature_loss", [NO_FEATURE_TERM, *feature_names], "feature loss", "fitnets"
        ),  # fmt: skip
        standardize=named(
            "standardize", [False, True], "standardize value (true or false)", False
        ),  # fmt: skip
        temperature_schedule=schedule,
        temperature_end=end,
        settings=tuple(settings),
    )


def _values(param: Param) -> tuple[Any, ...]:
    return param.values if isinstance(param, Choices) else (param.value,)


def sample_distillation(trial: Any, space: DistillSpace, stages: int) -> KDConfig:
    """The distillation of one trial, define-by-run: what is not chosen is not sampled."""
    temperature = float(space.temperature.suggest(trial, "temperature"))
    alpha = float(space.alpha.suggest(trial, "alpha"))
    logit = get_term(LOGITS, space.logit_loss.suggest(trial, "logit_loss"))
    standardize = bool(space.standardize.suggest(trial, "standardize"))
    schedule = str(space.temperature_schedule.suggest(trial, "temperature_schedule"))
    end = None
    if schedule != "constant" and space.temperature_end is not None:
        end = float(space.temperature_end.suggest(trial, "temperature_end"))
    feature_name = str(space.feature_loss.suggest(trial, "feature_loss"))
    weights = (0.0,) * stages
    if feature_name != NO_FEATURE_TERM:
        weights = tuple(
            float(space.feature_weight[i].suggest(trial, f"s{i + 1}_feature_weight"))
            for i in range(stages)
        )
    chosen = [logit] + ([get_term(FEATURES, feature_name)] if feature_name != NO_FEATURE_TERM
                        else [])  # fmt: skip
    settings = {}
    for term in chosen:
        for setting in term.settings:
            name = setting_param(term.name, setting.name)
            settings[name] = float(space.setting_param(term, setting.name).suggest(trial, name))
    return KDConfig(
        temperature=temperature,
        alpha=alpha,
        feature_weights=weights,
        logit_loss=logit.name,
        feature_loss=feature_name,
        standardize=standardize,
        temperature_schedule=schedule,
        temperature_end=end,
        settings=tuple(sorted(settings.items())),
    )


def distill_declarations(space: DistillSpace, max_stages: int) -> dict[str, dict[str, str]]:
    """Every distillation parameter the space may sample: study name -> kind and type."""

    def declare(names: list[str], kind: str) -> dict[str, dict[str, str]]:
        return {name: {"kind": DISTILLATION, "type": kind} for name in names}

    floats = ["temperature", "alpha"] + (["temperature_end"] if space.temperature_end else [])
    floats += [f"s{i + 1}_feature_weight" for i in range(max_stages)]
    floats += [setting_param(t.name, s.name) for t in space.terms() for s in t.settings]
    choices = ["logit_loss", "feature_loss", "standardize", "temperature_schedule"]
    return {**declare(floats, "float"), **declare(choices, "choice")}


def check_distillation(kd: KDConfig, stages: int, where: str) -> None:
    """Values read back from a file (an exported bundle) obey the rules a space's do."""

    def check_number(key: str, value: Any, rule: Rule) -> None:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not ok or not math.isfinite(value) or not rule.low <= value <= rule.high:
            raise ConfigError(f"{where}: key '{key}' must be {rule.describe()}, got {value!r}")

    check_number("distill.temperature", kd.temperature, RULES["temperature"])
    check_number("distill.alpha", kd.alpha, RULES["alpha"])
    if len(kd.feature_weights) != stages:
        raise ConfigError(f"{where}: key 'distill.feature_weights' must hold one per stage")
    for i, weight in enumerate(kd.feature_weights):
        check_number(f"distill.feature_weights[{i}]", weight, RULES["feature_weight"])
    if kd.temperature_schedule not in SCHEDULES:
        message = unknown_name_message("temperature schedule", kd.temperature_schedule, SCHEDULES)
        raise ConfigError(f"{where}: key 'distill.temperature_schedule': {message}")
    if kd.temperature_end is not None:
        check_number("distill.temperature_end", kd.temperature_end, RULES["temperature_end"])
    try:
        chosen = [get_term(LOGITS, kd.logit_loss)]
        if kd.feature_loss != NO_FEATURE_TERM:
            chosen.append(get_term(FEATURES, kd.feature_loss))
    except UnknownNameError as err:
        raise ConfigError(f"{where}: {err}") from None
    declared = {setting_param(t.name, s.name): s for t in chosen for s in t.settings}
    for key, value in kd.settings:
        if key not in declared:
            message = unknown_name_message("setting", key, sorted(declared))
            raise ConfigError(f"{where}: key 'distill.settings': {message}")
        setting = declared[key]
        check_number(f"distill.settings.{key}", value, Rule(float, setting.low, setting.high))
