"""The report's numbers, checked as plain objects (no HTML parsing)."""

from datetime import datetime, timedelta
from types import SimpleNamespace

import pandas as pd
import pytest

from autokd.reporting.data import front_of, hypervolume_history, working_minutes

TRIALS = pd.DataFrame(
    {
        "number": [0, 1, 2, 3],
        "accuracy": [0.7, 0.9, 0.8, 0.95],
        "latency_ms": [0.5, 1.0, 2.0, 2.5],
        "flops": [300, 100, 400, 200],
    }
)


def test_fronts_per_cost_by_hand():
    assert front_of(TRIALS, "latency_ms") == [0, 1, 3]  # trial 2 is slower and worse than 1
    assert front_of(TRIALS, "flops") == [1, 3]  # cheapest first
    assert front_of(TRIALS.iloc[:0], "flops") == []


def test_hypervolume_grows_trial_by_trial_as_computed_by_hand():
    history = hypervolume_history(TRIALS, reference=(0.0, 3.0))
    assert [step.number for step in history] == [0, 1, 2, 3]
    after_0 = 0.7 * (3.0 - 0.5)
    after_1 = after_0 + (0.9 - 0.7) * (3.0 - 1.0)
    after_3 = after_1 + (0.95 - 0.9) * (3.0 - 2.5)
    assert [step.volume for step in history] == pytest.approx([after_0, after_1, after_1, after_3])


def test_hypervolume_follows_the_order_trials_completed_in():
    finished = TRIALS.assign(minutes=[4.0, 1.0, 2.0, 3.0])  # trial 1 finished first
    history = hypervolume_history(finished, reference=(0.0, 3.0))
    assert [step.number for step in history] == [1, 2, 3, 0]
    assert [step.minutes for step in history] == [1.0, 2.0, 3.0, 4.0]
    first = 0.9 * (3.0 - 1.0)
    assert history[0].volume == pytest.approx(first)
    assert history[-1].volume == pytest.approx(0.7 * 2.5 + 0.2 * 2.0 + 0.05 * 0.5)  # all four


def test_the_time_axis_counts_only_time_when_some_trial_ran():
    day = datetime(2026, 11, 30, 9, 0)
    spans = {  # two overlapping trials, then the run continued a day later
        0: (day, day + timedelta(minutes=2)),
        1: (day + timedelta(minutes=1), day + timedelta(minutes=3)),
        2: (day + timedelta(days=1), day + timedelta(days=1, minutes=4)),
        3: (day + timedelta(days=1, minutes=1), None),  # still running: no span yet
    }
    trials = {
        n: SimpleNamespace(datetime_start=start, datetime_complete=end)
        for n, (start, end) in spans.items()
    }
    assert working_minutes(trials, [0, 1, 2, 3]) == pytest.approx([2.0, 3.0, 7.0, None])
