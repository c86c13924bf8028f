"""What the engine trains with: the distillation settings of a trial (`KDConfig`) and the
schedule of one training run (`TrainConfig`), and the rules a schedule read from a file obeys."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from autokd.errors import ConfigError
from autokd.records.codec import Codable
from autokd.records.params import Rule

LR_RULE = Rule(float, 1e-6, 10.0)  # a learning rate, in a space file or a bundle


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
class TrainConfig(Codable):
    """The schedule of one training run (a search trial or a full training)."""

    epochs: int
    lr: float  # peak learning rate of AdamW, reached after the linear warm-up
    batch_size: int = 64
    weight_decay: float = 5e-4
    warmup_fraction: float = 0.1  # share of all steps spent warming the LR up linearly
    grad_clip: float = 5.0  # max global gradient norm
    seed: int = 0
    augment: bool = False  # train on the data set's random views (needs a live teacher for KD)


def check_schedule(train: TrainConfig, where: str) -> None:
    """A schedule read back from a file (an exported bundle) obeys the rules a search space's
    does: `where` names the file; a NaN learning rate is one line, not a crash."""

    def check(key: str, value: Any, rule: Rule) -> None:
        number_ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not number_ok or not math.isfinite(value) or not rule.low <= value <= rule.high:
            raise ConfigError(f"{where}: key '{key}' must be {rule.describe()}, got {value!r}")
        if rule.kind is int and not float(value).is_integer():
            raise ConfigError(f"{where}: key '{key}' must be {rule.describe()}, got {value!r}")

    check("train.lr", train.lr, LR_RULE)
    check("train.epochs", train.epochs, Rule(int, 1, 100_000))
    check("train.batch_size", train.batch_size, Rule(int, 1, 65_536))
    check("train.weight_decay", train.weight_decay, Rule(float, 0.0, 1.0))
    check("train.warmup_fraction", train.warmup_fraction, Rule(float, 0.0, 1.0))
    check("train.grad_clip", train.grad_clip, Rule(float, 1e-6, 1e6))
    check("train.seed", train.seed, Rule(int, 0, 2**63 - 1))
