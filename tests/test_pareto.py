import numpy as np
import optuna
import pytest

from autokd.study.pareto import hypervolume_2d, pareto_mask


def test_pareto_mask_agrees_with_optunas_best_trials():
    rng = np.random.default_rng(0)
    study = optuna.create_study(directions=["maximize", "minimize"])
    for accuracy, latency in zip(
        rng.uniform(0.8, 1.0, 200).round(2), rng.uniform(0.1, 1.0, 200).round(2), strict=True
    ):
        study.add_trial(
            optuna.trial.create_trial(
                values=[float(accuracy), float(latency)], distributions={}, params={}
            )
        )
    values = np.array([t.values for t in study.trials])
    mask = pareto_mask(values, ["maximize", "minimize"])
    assert set(np.flatnonzero(mask)) == {t.number for t in study.best_trials}


def test_pareto_mask_by_hand():
    values = np.array([[0.9, 1.0], [0.95, 2.0], [0.9, 2.0], [0.8, 0.5], [0.95, 2.0]])
    assert pareto_mask(values, ["maximize", "minimize"]).tolist() == [True, True, False, True, True]


def test_hypervolume_matches_a_hand_computed_staircase():
    # maximise accuracy, minimise latency; reference (accuracy 0.5, latency 3.0)
    points = np.array([[0.9, 1.0], [0.7, 0.5], [0.95, 2.0], [0.6, 2.5]])
    # As minimisation of (-acc, latency) with reference (-0.5, 3): strips from the fastest point.
    expected = (0.7 - 0.5) * (3.0 - 0.5) + (0.9 - 0.7) * (3.0 - 1.0) + (0.95 - 0.9) * (3.0 - 2.0)
    got = hypervolume_2d(points, ["maximize", "minimize"], (0.5, 3.0))
    assert got == pytest.approx(expected)


def test_points_beyond_the_reference_count_nothing():
    points = np.array([[0.4, 1.0], [0.9, 5.0]])
    assert hypervolume_2d(points, ["maximize", "minimize"], (0.5, 3.0)) == 0.0


def test_shape_errors_say_what_was_expected():
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        pareto_mask(np.zeros((3, 3)), ["maximize", "minimize"])
