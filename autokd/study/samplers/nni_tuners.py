"""NNI's tuners as the search's controller: `--sampler nni-tpe | nni-evolution | nni-random`.

NNI (Microsoft's Neural Network Intelligence; its repository was archived in September 2024,
3.0 is its last release) tunes one number over a search space given in advance, in its own JSON
format. autokd's spaces are define-by-run and its trials have three objectives, so:

1. The space is found by running the space's own sampling `PROBES` times against a stand-in
   trial that draws at random and records every parameter's range (no model is built; a few
   milliseconds). Conditional parameters (a stage that exists only with more stages, a term's
   setting only when the term is chosen) join one flat NNI space; a trial ignores what it does
   not use.
2. Before each trial the tuner proposes a value for every parameter; Optuna asks for them one
   by one (`sample_independent`), so the trial is recorded in the Optuna study like any other.
   A parameter the tuner has no value for falls back to random sampling.
3. Three objectives become one number per trial by ParEGO's augmented Chebyshev scalarisation
   (Knowles 2006): objectives normalised over the trials so far (1 - accuracy, log latency,
   log FLOPs), weights drawn uniformly from the simplex for each trial (seeded by the trial's
   number), value max_i(w_i f_i) + 0.05 sum_i(w_i f_i), minimised. A different weighting per
   trial spreads the trials along the front rather than towards one trade-off. Unlike ParEGO,
   which rescores all past results under each new weighting, a trial's value is fixed when it
   finishes (normalised over the trials finished by then): NNI's tuners take each result once.
4. Trials finished by other workers or by an earlier invocation of the run are fed to this
   process's tuner before each of its own trials (TPE: `import_data`; evolution: added to its
   population; random: nothing to learn), from the full proposal each trial stores.

A trial rejected by the constraints counts as accuracy 0 at its measured costs; a trial stopped
early counts with the accuracy it had; a failed trial is not a result.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import numpy as np
import optuna

from autokd.errors import AutoKDError
from autokd.records.attrs import NNI_PROPOSAL_ATTR, NNI_SCALAR_ATTR

PROBES = 400  # define-by-run samplings that find the flat space (every branch, in practice)
RHO = 0.05  # ParEGO's augmentation: ties among weightings broken by the weighted sum
TUNERS = ("tpe", "evolution", "random")
INSTALL_HINT = "pip install -e '.[nni]'"


def require_nni() -> None:
    """One line naming the extra when NNI is not installed (called before any work)."""
    try:
        import nni  # noqa: F401
    except ImportError:
        raise AutoKDError(
            f"the nni-* samplers need NNI, which is not installed; install it with {INSTALL_HINT}"
        ) from None


# --------------------------------------------------------------------------------------------
# The flat space


class _Recorder:
    """A stand-in trial: draws every suggestion at random and records its range."""

    def __init__(self, rng: random.Random, found: dict[str, dict[str, Any]]) -> None:
        self.rng, self.found = rng, found

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1, log: bool = False):
        self.found.setdefault(name, {"kind": "int", "low": low, "high": high, "step": step,
                                     "log": log})  # fmt: skip
        return low + step * self.rng.randrange((high - low) // step + 1)

    def suggest_float(self, name: str, low: float, high: float, *, log: bool = False):
        self.found.setdefault(name, {"kind": "float", "low": low, "high": high, "log": log})
        return self.rng.uniform(low, high)

    def suggest_categorical(self, name: str, choices: list[Any]) -> Any:
        self.found.setdefault(name, {"kind": "choice", "choices": list(choices)})
        return self.rng.choice(choices)


def discover_space(space: Any, data: Any, *, probes: int = PROBES) -> dict[str, dict[str, Any]]:
    """Every parameter `space` samples for `data`, with its range: name -> description."""
    from autokd.study.space import sample_candidate

    found: dict[str, dict[str, Any]] = {}
    recorder = _Recorder(random.Random(0), found)
    for _ in range(probes):
        sample_candidate(recorder, space, data)
    return found


def nni_space(found: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """The NNI search-space JSON of the recorded parameters."""
    out: dict[str, dict[str, Any]] = {}
    for name, p in found.items():
        if p["kind"] == "choice":
            out[name] = {"_type": "choice", "_value": list(p["choices"])}
        elif p["kind"] == "int" and not p["log"] and p["step"] == 1:
            out[name] = {"_type": "randint", "_value": [p["low"], p["high"] + 1]}
        elif p["kind"] == "int":  # stepped or log: quantised, cast back to int on use
            kind = "qloguniform" if p["log"] else "quniform"
            out[name] = {"_type": kind, "_value": [p["low"], p["high"], p["step"]]}
        else:
            kind = "loguniform" if p["log"] else "uniform"
            out[name] = {"_type": kind, "_value": [p["low"], p["high"]]}
    return out


# --------------------------------------------------------------------------------------------
# Three objectives, one number


def observed(trial: Any) -> tuple[float, float, float] | None:
    """(accuracy, latency_ms, FLOPs) of a finished trial as a result for the tuner; None for a
    trial with no result (failed, or pruned before it was measured)."""
    from autokd.study.tables import measured_costs

    if trial.state == optuna.trial.TrialState.COMPLETE and trial.values:
        return tuple(float(v) for v in trial.values)  # type: ignore[return-value]
    costs = measured_costs(trial)
    if trial.state == optuna.trial.TrialState.PRUNED and costs is not None:
        accuracy = float(trial.user_attrs.get("accuracy", 0.0))  # stopped, or 0: never trained
        return (accuracy, *costs)
    return None


def simplex_weights(seed: int, number: int) -> np.ndarray:
    """Weights of trial `number`'s scalarisation: uniform on the simplex, reproducible."""
    return np.random.default_rng([seed, number]).dirichlet(np.ones(3))


def parego(
    point: tuple[float, float, float],
    others: list[tuple[float, float, float]],
    weights: np.ndarray,
) -> float:
    """Augmented Chebyshev value of `point`, objectives normalised over `others` + `point`."""

    def minimised(p: tuple[float, float, float]) -> np.ndarray:
        accuracy, latency, flops = p
        return np.array([1.0 - accuracy, math.log(max(latency, 1e-9)), math.log(max(flops, 1.0))])

    rows = np.array([minimised(p) for p in [*others, point]])
    low, span = rows.min(axis=0), np.ptp(rows, axis=0)
    f = np.divide(rows[-1] - low, span, out=np.zeros(3), where=span > 0)
    return float((weights * f).max() + RHO * (weights * f).sum())


# --------------------------------------------------------------------------------------------
# The sampler


class NNISampler(optuna.samplers.BaseSampler):
    """An Optuna sampler that asks one of NNI's tuners (module doc)."""

    def __init__(self, tuner: str, request: Any) -> None:
        require_nni()
        if request.space is None or request.data is None:
            raise ValueError("NNI's tuners need the search space and the data shape")
        self.name, self.seed = tuner, request.seed
        self.found = discover_space(request.space, request.data)
        self.space = nni_space(self.found)
        self.tuner = _make_tuner(tuner, self.space, request)
        self.fallback = optuna.samplers.RandomSampler(seed=request.seed)
        self.fed: set[int] = set()  # trial numbers whose results this tuner has
        self.mine: dict[int, dict[str, Any]] = {}  # this process's running trials' proposals
        self.evolution_random = random.Random(request.seed)

    # Optuna's sampler interface ---------------------------------------------------------

    def infer_relative_search_space(self, study: Any, trial: Any) -> dict[str, Any]:
        return {}

    def sample_relative(self, study: Any, trial: Any, search_space: Any) -> dict[str, Any]:
        return {}

    def before_trial(self, study: Any, trial: Any) -> None:
        self._feed_finished(study)
        proposal = self._propose(trial.number)
        self.mine[trial.number] = proposal
        study._storage.set_trial_system_attr(trial._trial_id, NNI_PROPOSAL_ATTR, proposal)

    def sample_independent(self, study: Any, trial: Any, name: str, distribution: Any) -> Any:
        value = _as_value(self.mine.get(trial.number, {}).get(name), distribution)
        if value is None:
            return self.fallback.sample_independent(study, trial, name, distribution)
        return value

    def after_trial(self, study: Any, trial: Any, state: Any, values: Any) -> None:
        proposal = self.mine.pop(trial.number, None)
        if not proposal:  # not this process's, or drawn at random (no tuner to tell)
            return
        point = None
        if state == optuna.trial.TrialState.COMPLETE and values:
            point = tuple(float(v) for v in values)
        elif state == optuna.trial.TrialState.PRUNED:
            point = observed(_with_state(trial, state))
        if point is None:  # failed: no result to learn from
            self.tuner.trial_end(trial.number, False)
            return
        scalar = parego(point, self._others(study, trial.number), self._weights(trial.number))
        study._storage.set_trial_system_attr(trial._trial_id, NNI_SCALAR_ATTR, scalar)
        self.tuner.receive_trial_result(trial.number, proposal, scalar)
        self.fed.add(trial.number)

    # feeding and proposing ----------------------------------------------------------------

    def _weights(self, number: int) -> np.ndarray:
        return simplex_weights(self.seed, number)

    def _others(self, study: Any, number: int) -> list[tuple[float, float, float]]:
        points = (observed(t) for t in study.get_trials(deepcopy=False) if t.number != number)
        return [p for p in points if p is not None]

    def _feed_finished(self, study: Any) -> None:
        """Results of trials this tuner did not run: other workers', earlier invocations'."""
        for trial in study.get_trials(deepcopy=False):
            if trial.number in self.fed or trial.number in self.mine:
                continue
            proposal = trial.system_attrs.get(NNI_PROPOSAL_ATTR)
            scalar = trial.system_attrs.get(NNI_SCALAR_ATTR)
            if proposal is None or scalar is None:
                continue  # still running, failed, or not chosen by an NNI tuner
            _feed(self.name, self.tuner, proposal, float(scalar))
            self.fed.add(trial.number)

    def _propose(self, number: int) -> dict[str, Any]:
        if self.name != "evolution":
            return _plain(self.tuner.generate_parameters(number))
        with _random_state(self):  # NNI's evolution draws from the global `random`
            try:
                return _plain(self.tuner.generate_parameters(number))
            except RuntimeError:  # an empty population (every individual taken): random
                return {}


def _make_tuner(name: str, space: dict[str, Any], request: Any) -> Any:
    logging.getLogger("nni").setLevel(logging.WARNING)  # its INFO lines would break the bars
    if name == "tpe":
        from nni.algorithms.hpo.tpe_tuner import TpeTuner

        tuner = TpeTuner(optimize_mode="minimize", seed=request.seed)
    elif name == "random":
        from nni.algorithms.hpo.random_tuner import RandomTuner

        tuner = RandomTuner(seed=request.seed)
    else:
        from nni.algorithms.hpo.evolution_tuner import EvolutionTuner

        # NNI's default population (32) would keep a 20-50 trial search random throughout
        tuner = EvolutionTuner(optimize_mode="minimize", population_size=_population(request))
    tuner.update_search_space(space)
    if name == "evolution":  # its first population, drawn again from a seeded state
        tuner.random_state = np.random.RandomState(request.seed)
        tuner.population = []
        for _ in range(tuner.population_size):
            tuner._random_generate_individual()
    return tuner


def _population(request: Any) -> int:
    return max(8, min(32, request.budget // 4))


def _feed(name: str, tuner: Any, proposal: dict[str, Any], scalar: float) -> None:
    if name == "tpe":
        tuner.import_data([{"parameter": proposal, "value": scalar}])
    elif name == "evolution":
        from nni.algorithms.hpo.evolution_tuner import Individual

        config = {
            key: {"_index": spec["_value"].index(proposal[key]), "_value": proposal[key]}
            if spec["_type"] == "choice"
            else proposal[key]
            for key, spec in tuner.searchspace_json.items()
            if key in proposal
        }
        tuner.population.append(Individual(config=config, result=-scalar))  # it maximises


def _plain(params: Mapping[str, Any]) -> dict[str, Any]:
    """NNI's proposal with NumPy scalars as Python numbers (stored as JSON in the study)."""
    return {k: v.item() if isinstance(v, np.generic) else v for k, v in params.items()}


def _as_value(value: Any, distribution: Any) -> Any:
    """`value` in the form `distribution` takes, or None when it does not fit it."""
    if value is None:
        return None
    if isinstance(distribution, optuna.distributions.CategoricalDistribution):
        return value if value in distribution.choices else None
    if isinstance(distribution, optuna.distributions.IntDistribution):
        step = distribution.step
        value = distribution.low + step * round((float(value) - distribution.low) / step)
        value = int(value)
    else:
        value = float(value)
    return value if distribution._contains(distribution.to_internal_repr(value)) else None


def _with_state(trial: Any, state: Any) -> Any:
    """A copy of the frozen trial in its final state (after_trial sees it still running)."""
    import copy

    finished = copy.copy(trial)
    finished.state = state
    return finished


@contextmanager
def _random_state(sampler: NNISampler) -> Iterator[None]:
    """Run NNI's evolution on this sampler's own `random` state, the global one untouched."""
    saved = random.getstate()
    random.setstate(sampler.evolution_random.getstate())
    try:
        yield
    finally:
        sampler.evolution_random.setstate(random.getstate())
        random.setstate(saved)
