"""The search's controllers: Optuna's samplers and NNI's tuners, by the name `--sampler` gives.

Every controller is an Optuna sampler, so every trial lands in the Optuna study whichever chose
it, and report, compare, export and continuing a run work the same. A controller is a factory
of (seed, budget, space, data) registered under its name; NNI's are in nni_tuners.py.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from autokd.errors import AutoKDError
from autokd.runtime.registry import Registry

if TYPE_CHECKING:  # the space module builds students (torch): not needed to name a sampler
    from autokd.study.space import DataShape, SearchSpace


@dataclass(frozen=True)
class SamplerRequest:
    """What a controller may need: its seed, the run's first budget, the space and data shape
    (NNI's tuners need the whole space before the first trial)."""

    seed: int
    budget: int
    space: SearchSpace | None = None
    data: DataShape | None = None


SamplerFactory = Callable[[SamplerRequest], Any]


def _nothing_required() -> None:
    return None


@dataclass(frozen=True)
class Sampler:
    factory: SamplerFactory
    requires: Callable[[], None] = _nothing_required  # raises AutoKDError: an extra is missing


SAMPLERS: Registry[Sampler] = Registry("sampler", sort=False)


def register_sampler(
    name: str, factory: SamplerFactory, *, requires: Callable[[], None] | None = None
) -> None:
    """`requires` raises AutoKDError when what the sampler needs is missing (an extra)."""
    SAMPLERS.add(name, Sampler(factory, requires or _nothing_required), defined_by=factory)


def list_samplers() -> tuple[str, ...]:
    return tuple(SAMPLERS.names())


def check_sampler(name: str | Any) -> str | Any:
    """`name`, checked before any work: known, and what it needs installed; an Optuna sampler
    object as it is."""
    if not isinstance(name, str):
        import optuna

        if not isinstance(name, optuna.samplers.BaseSampler):
            raise AutoKDError(
                f"sampler must be a name ({', '.join(list_samplers())}) or an Optuna sampler, "
                f"got {type(name).__name__}"
            )
        return name
    SAMPLERS.get(name).requires()
    return name


def make_sampler(
    name: str | Any,
    *,
    seed: int,
    budget: int,
    space: SearchSpace | None = None,
    data: DataShape | None = None,
) -> Any:
    """The Optuna sampler `--sampler name` stands for (names: `list_samplers()`); an Optuna
    sampler object is used as it is."""
    if not isinstance(name, str):
        return name
    return SAMPLERS.get(name).factory(SamplerRequest(seed % 2**32, budget, space, data))


def _tpe(request: SamplerRequest) -> Any:
    """Multivariate TPE, the default. Its constant liar counts trials other workers are running
    as bad ones, so parallel workers do not all sample the same region (one worker: no effect).
    It reads the constraint values a trial records, and learns to avoid violations."""
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(
            seed=request.seed, multivariate=True, group=True, constant_liar=True
        )


def _random(request: SamplerRequest) -> Any:
    import optuna

    return optuna.samplers.RandomSampler(seed=request.seed)


def _nsga2(request: SamplerRequest) -> Any:
    """NSGA-II with a population that fits the budget: with fewer trials than its population it
    never leaves random sampling."""
    import optuna

    population = max(4, min(50, request.budget // 5))
    return optuna.samplers.NSGAIISampler(seed=request.seed, population_size=population)


def _nni(tuner: str) -> SamplerFactory:
    def factory(request: SamplerRequest) -> Any:
        from autokd.study.samplers.nni_tuners import NNISampler

        return NNISampler(tuner, request)

    return factory


def _require_nni() -> None:
    from autokd.study.samplers.nni_tuners import require_nni

    require_nni()


register_sampler("tpe", _tpe)
register_sampler("random", _random)
register_sampler("nsga2", _nsga2)
for _tuner in ("tpe", "evolution", "random"):
    register_sampler(f"nni-{_tuner}", _nni(_tuner), requires=_require_nni)
