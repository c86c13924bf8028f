"""NNI's tuners as controllers: the flat space found from a define-by-run space, ParEGO's
scalarisation by hand, values handed to Optuna in its forms, several samplers sharing one study,
and a search with `--sampler nni-evolution` that report and export open."""

from __future__ import annotations

import builtins
import math

import numpy as np
import optuna
import pytest

from autokd.cli import main
from autokd.errors import AutoKDError
from autokd.records.attrs import NNI_PROPOSAL_ATTR, NNI_SCALAR_ATTR, OBJECTIVES
from autokd.study.samplers import check_sampler, make_sampler
from autokd.study.space import Shape, load_space, sample_candidate

pytest.importorskip("nni", reason="the nni extra is not installed")
from autokd.study.samplers import nni_tuners  # noqa: E402 - needs nni, checked above
from tests.helpers import tiny_search  # noqa: E402

DIGITS = Shape(channels=1, classes=10, input_size=16)


def test_the_flat_space_holds_every_conditional_parameter():
    found = nni_tuners.discover_space(load_space("cnn-menu"), DIGITS)
    # a term's own setting exists only when the term is chosen, a fourth stage only with four
    assert {"logit_loss", "feature_loss", "dkd_beta", "temperature_end", "s4_width"} <= set(found)
    space = nni_tuners.nni_space(found)
    assert space["logit_loss"] == {"_type": "choice", "_value": ["kd", "dkd", "dist"]}
    assert space["lr"]["_type"] == "loguniform"
    assert space["stages"]["_type"] == "randint"  # upper bound exclusive in NNI
    assert space["stages"]["_value"][1] == found["stages"]["high"] + 1


def test_parego_by_hand():
    others = [(0.5, 1.0, 100.0), (0.9, 10.0, 10000.0)]
    # normalised: 1 - accuracy over [0.1, 0.5], log latency over [0, log 10], log flops likewise
    point = (0.7, math.sqrt(10.0), 1000.0)
    f = np.array([0.5, 0.5, 0.5])
    weights = np.array([0.2, 0.3, 0.5])
    expected = (weights * f).max() + 0.05 * (weights * f).sum()
    assert nni_tuners.parego(point, others, weights) == pytest.approx(expected)
    assert nni_tuners.parego(point, [], weights) == 0.0  # one point: nothing to normalise by


def test_simplex_weights_are_reproducible_and_sum_to_one():
    a, b = nni_tuners.simplex_weights(3, 7), nni_tuners.simplex_weights(3, 7)
    assert np.array_equal(a, b) and a.sum() == pytest.approx(1.0) and (a >= 0).all()
    assert not np.array_equal(a, nni_tuners.simplex_weights(3, 8))


@pytest.mark.parametrize(
    ("value", "distribution", "expected"),
    [
        (24.0, optuna.distributions.IntDistribution(8, 64, step=8), 24),
        (28.1, optuna.distributions.IntDistribution(8, 64, step=8), 32),  # onto the step
        (70.0, optuna.distributions.IntDistribution(8, 64, step=8), None),  # outside: random
        (0.01, optuna.distributions.FloatDistribution(1e-4, 1e-1, log=True), 0.01),
        ("dkd", optuna.distributions.CategoricalDistribution(["kd", "dkd"]), "dkd"),
        ("at", optuna.distributions.CategoricalDistribution(["kd", "dkd"]), None),
        (None, optuna.distributions.CategoricalDistribution(["kd"]), None),
    ],
)
def test_a_proposal_is_handed_to_optuna_in_its_form(value, distribution, expected):
    assert nni_tuners._as_value(value, distribution) == expected


def _sampling_only(study: optuna.Study, sampler, trials: int) -> None:
    """Trials that sample a candidate and score it without training (accuracy from its size)."""
    space = load_space("cnn-menu")
    study.sampler = sampler
    for _ in range(trials):
        trial = study.ask()
        candidate = sample_candidate(trial, space, DIGITS)
        width = sum(stage.width for stage in candidate.student.stages)
        study.tell(trial, [min(0.99, width / 400), 0.1 + width / 100, float(width * 1000)])


@pytest.mark.parametrize("tuner", ["tpe", "evolution", "random"])
def test_the_tuner_chooses_what_the_trial_samples(tuner):
    study = optuna.create_study(directions=[d for _, d in OBJECTIVES])
    space = load_space("cnn-menu")
    sampler = make_sampler(f"nni-{tuner}", seed=1, budget=12, space=space, data=DIGITS)
    _sampling_only(study, sampler, 12)
    for trial in study.trials:
        proposal = trial.system_attrs[NNI_PROPOSAL_ATTR]
        scalar = trial.system_attrs[NNI_SCALAR_ATTR]
        assert 0.0 <= scalar <= 1.05
        for name, value in trial.params.items():  # every value the trial used was proposed
            assert nni_tuners._as_value(proposal[name], trial.distributions[name]) == value
    assert sampler.fed == {t.number for t in study.trials}


def test_a_second_worker_learns_the_first_ones_trials():
    study = optuna.create_study(directions=[d for _, d in OBJECTIVES])
    space = load_space("cnn-menu")
    first = make_sampler("nni-tpe", seed=1, budget=20, space=space, data=DIGITS)
    _sampling_only(study, first, 6)
    second = make_sampler("nni-tpe", seed=2, budget=20, space=space, data=DIGITS)
    _sampling_only(study, second, 2)
    assert second.fed == set(range(8))  # the 6 it was fed and its own 2
    history = second.tuner._history[("logit_loss",)]  # NNI keys a parameter by its path
    assert len(history) == 8


def test_without_nni_the_sampler_names_the_extra(monkeypatch):
    real_import = builtins.__import__

    def no_nni(name, *args, **kwargs):
        if name == "nni" or name.startswith("nni."):
            raise ImportError("No module named 'nni'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_nni)
    with pytest.raises(AutoKDError, match=r"pip install -e '\.\[nni\]'"):
        check_sampler("nni-evolution")
    assert check_sampler("tpe") == "tpe"  # Optuna's need nothing more


@pytest.mark.slow
def test_a_search_with_nni_evolution_opens_in_report_and_export(tmp_path):
    assert main([*tiny_search(tmp_path, "evo", 4), "--sampler", "nni-evolution"]) == 0
    run = tmp_path / "runs" / "evo"
    study = optuna.load_study(study_name=None, storage=f"sqlite:///{run / 'study.db'}")
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(complete) == 4
    assert all(NNI_SCALAR_ATTR in t.system_attrs for t in complete)
    report = tmp_path / "again.html"
    assert main(["report", str(run), "-o", str(report)]) == 0 and report.is_file()
    assert main(["export", str(run), "--pick", "knee", "-o", str(tmp_path / "bundle")]) == 0
    # continuing the run: a fresh tuner is fed the four trials before it proposes more
    assert main([*tiny_search(tmp_path, "evo", 5), "--sampler", "nni-evolution"]) == 0
    study = optuna.load_study(study_name=None, storage=f"sqlite:///{run / 'study.db'}")
    assert len([t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]) == 5
