"""The early stopper's rules on numbers worked out by hand, its judge on a fake trial, and a
search with it on: stopped students recorded PRUNED with their reason, counted in the budget,
the front made of students that trained to the top rung."""

from __future__ import annotations

import numpy as np
import optuna
import pandas as pd
import pytest

from autokd.cli import main
from autokd.records.attrs import CURVE_ATTR
from autokd.records.folder import RunFolder
from autokd.study.pruners import get_pruner, list_pruners
from autokd.study.pruners.mo_asha import (
    Peer,
    TrialJudge,
    bound_reason,
    crowding_distances,
    dominated_at_birth,
    promoted,
    promotion_order,
    rungs_for,
)
from autokd.study.pruners.registry import Stopped
from tests.helpers import tiny_search


@pytest.mark.parametrize(
    ("base", "rungs"),
    [
        (1, (1,)),
        (2, (1, 2)),
        (3, (1, 3)),
        (5, (1, 2, 5)),
        (9, (1, 3, 9)),
        (10, (1, 3, 10)),
        (27, (3, 9, 27)),
    ],  # fmt: skip
)
def test_rungs_are_a_geometric_ladder_up_to_the_base_epochs(base, rungs):
    assert rungs_for(base) == rungs


def finished(number, latency, flops, curve):
    return Peer(number, latency, flops, tuple(curve), finished=True)


# Three finished students; the largest gain from epoch 1 to the end was 0.30 (trial 1).
FINISHED = [
    finished(0, 1.0, 100, [0.50, 0.60, 0.70]),
    finished(1, 2.0, 200, [0.55, 0.75, 0.85]),
    finished(2, 3.0, 300, [0.80, 0.85, 0.90]),
]


def test_the_bound_stops_a_student_a_cheaper_one_already_beats():
    # at epoch 1 with 0.50: at most 0.50 + 0.30 + 0.02 = 0.82; trial 1 (cheaper) reached 0.85
    reason = bound_reason(1, 0.50, 2.5, 250, FINISHED)
    assert reason is not None and "trial 1" in reason and "0.8200" in reason
    # the same accuracy at a cost no finished student matches: it could still be on the front
    assert bound_reason(1, 0.50, 0.5, 50, FINISHED) is None
    # 0.55 at epoch 1 could reach 0.87 > 0.85: not stopped
    assert bound_reason(1, 0.55, 2.5, 250, FINISHED) is None


def test_the_bound_waits_for_enough_finished_students():
    assert bound_reason(1, 0.1, 9.0, 900, FINISHED[:2]) is None


def test_dominated_at_birth_needs_a_cheaper_student_near_the_best():
    assert dominated_at_birth(3.5, 350, FINISHED).number == 2  # 0.90 is the best: as cheap
    assert dominated_at_birth(2.5, 250, FINISHED) is None  # trial 1 (0.85) is not near 0.90
    assert dominated_at_birth(0.5, 50, FINISHED) is None  # nothing is as cheap


def test_crowding_distance_by_hand():
    points = np.array([[0.1, 1.0], [0.2, 3.0], [0.4, 4.0], [0.5, 8.0]])
    distance = crowding_distances(points)
    assert np.isinf(distance[0]) and np.isinf(distance[3])
    assert distance[1] == pytest.approx((0.4 - 0.1) / 0.4 + (4.0 - 1.0) / 7.0)
    assert distance[2] == pytest.approx((0.5 - 0.2) / 0.4 + (8.0 - 3.0) / 7.0)


def test_promotion_is_by_pareto_level_then_crowding():
    points = np.array(
        [
            [0.9, 3.0, 300],  # level 0: the most accurate
            [0.5, 1.0, 100],  # level 0: the cheapest
            [0.7, 2.0, 200],  # level 0: in between (the ends have infinite crowding distance)
            [0.6, 2.5, 250],  # level 1: dominated by the 0.7 student
        ]
    )
    order = promotion_order(points)
    assert set(order[:2]) == {0, 1} and order[2] == 2 and order[3] == 3


def test_a_cheap_modest_student_goes_on_an_expensive_one_like_it_does_not():
    peers = [
        Peer(n, lat, fl, (acc,), finished=False)
        for n, (acc, lat, fl) in enumerate(
            [(0.9, 3.0, 300), (0.8, 2.5, 250), (0.7, 2.0, 200), (0.6, 1.5, 150), (0.5, 1.2, 120)]
        )
    ]
    # 6 reached rung 1: the top 2 go on. The cheapest of all, though least accurate, is one.
    going_on, place, reached = promoted(1, 0.4, 0.5, 50, peers)
    assert going_on and reached == 6 and place <= 2
    going_on, place, _ = promoted(1, 0.4, 5.0, 500, peers)  # dominated by everyone
    assert not going_on and place == 6
    # between two students of the front: undominated, crowded, outside the top 2: it goes on
    going_on, place, _ = promoted(1, 0.85, 2.75, 275, peers)
    assert going_on and place > 2


class FakeTrial:
    """What a judge needs of an Optuna trial."""

    def __init__(self, number=9):
        self.number, self.user_attrs = number, {}

    def set_user_attr(self, key, value):
        self.user_attrs[key] = value


class Report:
    def __init__(self, epoch, accuracy, diverged=False):
        self.epoch, self.val_accuracy, self.seconds = epoch, accuracy, 1.5
        self.diverged = diverged


def test_the_judge_records_the_curve_and_stops_at_a_rung():
    peers = [Peer(n, 1.0, 100, (0.9,), finished=False) for n in range(5)]  # all cheaper, better
    trial = FakeTrial()
    judge = TrialJudge(trial, (1, 3, 9), 2.0, 200, read_peers=lambda: peers)
    with pytest.raises(Stopped) as stop:
        judge(Report(1, 0.5))
    assert trial.user_attrs[CURVE_ATTR] == [0.5] and judge.seconds == 1.5
    assert stop.value.epoch == 1 and "rung 1: dominated, ranked 6 of 6" in stop.value.reason


def test_an_epoch_that_diverged_is_not_judged():
    peers = [Peer(n, 1.0, 100, (0.9,), finished=False) for n in range(5)]  # all cheaper, better
    trial = FakeTrial()
    judge = TrialJudge(trial, (1, 3, 9), 2.0, 200, read_peers=lambda: peers)
    judge(Report(1, 0.1, diverged=True))  # fails as diverged after the epoch, not stopped
    assert trial.user_attrs[CURVE_ATTR] == [0.1]


def test_every_pruner_the_command_line_offers_has_a_judge():
    assert list_pruners() == ["mo-asha", "none"]
    assert all(callable(get_pruner(name).judge) for name in list_pruners())


def test_the_judge_lets_the_top_rung_complete():
    trial = FakeTrial()
    judge = TrialJudge(trial, (1, 3), 2.0, 200, read_peers=lambda: [])
    for epoch in (1, 2, 3):  # alone: first at every rung; epoch 2 is no rung
        judge(Report(epoch, 0.1 * epoch))
    assert trial.user_attrs[CURVE_ATTR] == pytest.approx([0.1, 0.2, 0.3])


def test_a_student_dominated_at_birth_must_be_ahead_at_the_first_rung():
    rival = finished(4, 1.0, 100, [0.7, 0.9, 0.95])
    trial = FakeTrial()
    judge = TrialJudge(trial, (1, 3), 2.0, 200, read_peers=lambda: [rival])
    assert judge.rival is rival
    with pytest.raises(Stopped, match="dominated at birth: trial 4"):
        judge(Report(1, 0.7))
    ahead = TrialJudge(FakeTrial(), (1, 3), 2.0, 200, read_peers=lambda: [rival])
    ahead(Report(1, 0.75))  # ahead of the rival at epoch 1: it goes on


# One architecture (its latency is measured once and cached, so every student costs the same)
# and learning rates far apart: a student behind an earlier one at rung 1 is dominated, whatever
# the machine's timings.
ONE_ARCHITECTURE = """\
family: cnn
student: {stages: 2, stem_width: 8, depth: 1, width: 8, kernel: 3, dilation: 1}
distill: {temperature: 4.0, alpha: 0.5, feature_weight: 0.0}
train:
  lr: {choices: [0.0003, 0.003, 0.03]}
"""


@pytest.mark.slow
@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_search_with_the_stopper_records_stopped_students(tmp_path, workers):
    space = tmp_path / "one-architecture.yaml"
    space.write_text(ONE_ARCHITECTURE)
    args = [*tiny_search(tmp_path, "stop", 8), "--space", str(space)]
    args[args.index("--pruner") + 1] = "mo-asha"  # the tests' tiny search turns it off
    args[args.index("--workers") + 1] = workers  # judges in two processes read one study
    args[args.index("--epochs") + 1] = "3"  # rungs 1 and 3
    assert main(args) == 0
    run = RunFolder(tmp_path / "runs" / "stop")
    trials = pd.read_csv(run.trials_csv)
    assert len(trials) == 8  # stopped students count towards the budget
    stopped = trials[trials["stopped_by"].notna()]
    complete = trials[trials["state"] == "COMPLETE"]
    if workers == "1":  # two workers' trials interleave: which get judged depends on timing
        assert len(stopped) >= 1
    # every trial ended judged: trained to the top rung, or stopped below it with its reason
    assert len(stopped) + len(complete) == 8
    assert (stopped["state"] == "PRUNED").all()
    assert (stopped["epochs_trained"] < 3).all() and stopped["accuracy"].notna().all()
    assert (complete["epochs_trained"] == 3).all()
    assert trials.loc[trials["is_pareto"], "state"].eq("COMPLETE").all()
    summary = run.read_summary()
    assert summary.pruner == "mo-asha" and summary.epochs == 3
    assert summary.stopped == len(stopped)
    assert summary.epochs_saved == int((3 - stopped["epochs_trained"]).sum())
    study = optuna.load_study(study_name=None, storage=run.storage_url)
    assert all(len(t.user_attrs[CURVE_ATTR]) == 3 for t in study.trials if t.values)
    for trial in study.trials:  # each epoch's accuracy recorded, in both arms
        assert len(trial.user_attrs[CURVE_ATTR]) == trial.user_attrs["epochs_trained"]


def test_the_training_saved_counts_stopped_and_rejected_students():
    from autokd.study.controller import training_saved

    complete = pd.DataFrame({"train_seconds": [10.0, 14.0]})  # 12 s for 6 epochs: 2 s an epoch
    stopped = pd.DataFrame({"epochs_trained": [1, 3]})  # 5 + 3 epochs not trained
    rejected = pd.DataFrame({"number": [7]})  # 6 epochs not trained
    saved = training_saved(complete, rejected, stopped, epochs=6)
    assert saved == {"rejected_saved_s": 12.0, "stopped_saved_s": 16.0, "training_saved_s": 28.0}
