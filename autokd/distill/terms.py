"""The registry of distillation terms: what the engine can sum and the search can choose among.

A term declares its name, its own settings with their ranges (sampled only when the term is
chosen), what it needs from the teacher, and a function of tensors. Two kinds exist:

- a *logit* term compares the student's logits with the teacher's (one per trial, weighted by
  `alpha`; `1 - alpha` weights the labels' cross-entropy);
- a *feature* term compares each distilled student stage with a teacher level (weighted per
  stage by `feature_weights`).

Weights mean the same whichever term is chosen: the engine calibrates every term against the
reference term of its kind (KD, FitNets) on each training run's first batches
(`autokd.distill.objective`); `benchmarks/term_scales.py` measures the result. A term's own
settings default to their published values (DKD's beta 8, DIST's beta and gamma 2, RKD's
angle weight twice the distance weight, as 50 against 25).

A new term is one `register_term(LogitTerm(...))` or `register_term(FeatureTerm(...))` call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from autokd.runtime.registry import Registry

LOGITS, FEATURES = "logits", "features"
NO_FEATURE_TERM = "none"  # a feature_loss choice: no feature term, no feature weights sampled
SCHEDULES = ("constant", "linear", "cosine")  # how the temperature moves from start to end


@dataclass(frozen=True)
class Setting:
    """One setting of a term: a float the search samples in [low, high] when the term is chosen."""

    name: str
    low: float
    high: float
    default: float  # the published value: used where the space fixes nothing else
    log: bool = False
    help: str = ""


@dataclass(frozen=True)
class LogitTerm:
    """loss(student_logits, teacher_logits, labels, temperature, **settings) -> scalar."""

    name: str
    description: str
    loss: Callable[..., Any]
    settings: tuple[Setting, ...] = ()
    kind: str = LOGITS
    needs: str = "teacher logits"


@dataclass(frozen=True)
class FeatureTerm:
    """loss(student_map, teacher_map, **settings) -> scalar, once per distilled stage.

    With `adapter`, a learned 1x1 convolution + BatchNorm first brings the student's map to the
    teacher's channels and grid; without, the loss must accept maps of any channel count.
    """

    name: str
    description: str
    loss: Callable[..., Any]
    adapter: bool
    settings: tuple[Setting, ...] = ()
    kind: str = FEATURES
    needs: str = "teacher feature maps"


Term = LogitTerm | FeatureTerm
TERMS: dict[str, Registry[Term]] = {
    LOGITS: Registry("logit loss"),
    FEATURES: Registry("feature loss"),
}


def register_term(term: Term) -> Term:
    """Make `term` available to the engine and to search spaces (`distill.logit_loss` or
    `distill.feature_loss`); registering a name again replaces the earlier term."""
    if term.name == NO_FEATURE_TERM or not term.name.isidentifier():
        raise ValueError(f"a term name must be an identifier other than 'none', got {term.name!r}")
    return TERMS[term.kind].add(term.name, term, defined_by=term.loss)


def list_terms(kind: str) -> list[str]:
    return TERMS[kind].names()


def get_term(kind: str, name: str) -> Term:
    return TERMS[kind].get(name, also_valid=[NO_FEATURE_TERM] if kind == FEATURES else [])


def setting_param(term: str, setting: str) -> str:
    """The name a term's setting has in a study, trials.csv and a bundle: `dkd_beta`."""
    return f"{term}_{setting}"


def temperature_at(start: float, end: float | None, schedule: str, progress: float) -> float:
    """The temperature at `progress` (0 at the first step, 1 at the last) of training."""
    import math

    if schedule == "constant" or end is None:
        return start
    if schedule == "linear":
        return start + (end - start) * progress
    return end + (start - end) * 0.5 * (1.0 + math.cos(math.pi * progress))  # cosine


def term_settings(term: Term, chosen: dict[str, float]) -> dict[str, float]:
    """The keyword arguments of `term`'s loss: its settings from `chosen` (study names such as
    `dkd_beta`), each missing one at its published default."""
    return {s.name: chosen.get(setting_param(term.name, s.name), s.default) for s in term.settings}


def _register_shipped() -> None:
    from autokd.distill import losses

    register_term(
        LogitTerm("kd", "soft targets at temperature T (Hinton et al. 2015)", losses.kd_loss)
    )
    register_term(
        LogitTerm(
            "dkd",
            "decoupled KD: target and non-target parts (Zhao et al. 2022)",
            losses.dkd_loss,
            settings=(Setting("beta", 1.0, 16.0, 8.0, help="weight of the non-target part"),),
        )
    )
    register_term(
        LogitTerm(
            "dist",
            "inter- and intra-class Pearson correlation (Huang et al. 2022)",
            losses.dist_loss,
            settings=(
                Setting("beta", 0.5, 4.0, 2.0, help="weight of the inter-class relation"),
                Setting("gamma", 0.5, 4.0, 2.0, help="weight of the intra-class relation"),
            ),
        )
    )
    register_term(
        FeatureTerm(
            "fitnets",
            "MSE through a 1x1 adapter (Romero et al. 2015)",
            losses.mse_loss,
            adapter=True,
        )  # fmt: skip
    )
    register_term(
        FeatureTerm(
            "at",
            "attention transfer (Zagoruyko and Komodakis 2017)",
            losses.at_loss,
            adapter=False,
        )
    )
    register_term(
        FeatureTerm(
            "rkd",
            "relational KD: distances and angles of pooled embeddings (Park et al. 2019)",
            losses.rkd_loss,
            adapter=False,
            needs="teacher embeddings (pooled feature maps)",
            settings=(Setting("angle", 0.0, 4.0, 2.0, help="angle weight, distance's is 1"),),
        )
    )


_register_shipped()
