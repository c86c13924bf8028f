"""Stopping hopeless students early (`--pruner mo-asha`, the default; `none` turns it off).

Optuna cannot prune a multi-objective study (`trial.report` raises for one), so autokd judges
its own trials. Two of a student's three objectives, latency and FLOPs, are known before its
first batch; only accuracy needs training. With the stopper on, a trial is judged at three rungs
(`rungs_for`: --epochs/9, --epochs/3 and --epochs, rounded, at least 1: 1, 2, 5 for the default
5), its accuracy is read after every epoch and three rules may stop it:

1. **Learning-curve bound**, after any epoch: the student's optimistic final accuracy is its
   accuracy now plus the largest gain any finished student made from this epoch to its end, plus
   `BOUND_MARGIN`. If a finished student at most as slow and as large already has more than that,
   the student cannot reach the front at its own cost: it stops. Used once `MIN_FINISHED`
   students have finished (before that there is no curve to bound by).
2. **Dominated at birth**, at the first rung: a student whose latency and FLOPs a finished
   student matches or beats, where that student is within `BIRTH_MARGIN` of the best accuracy
   of the run, could only enter the front by beating the best accuracy so far. It trains the
   first rung only, and goes on only if it is then ahead of that student at the same epoch.
3. **MO-ASHA promotion** (Schmucker et al. 2021), at each rung below the top: the students that
   reached this rung (any worker's, finished or not) are ranked by non-dominated sorting on
   (accuracy at the rung, latency, FLOPs), ties broken by crowding distance, then accuracy; a
   student goes on if it ranks in the top 1/eta (at least the first), or if none of them
   dominates it: an undominated student may yet be on the front at its cost, and stopping it
   loses that part of the front. Promotion is by Pareto rank, so cheap students with modest
   accuracy go on too.

The top rung is `--epochs`: a complete student trained as long as it would without the stopper,
and the stopper only saves time; to train the promising students longer, raise `--epochs` (the
stopper makes that affordable). Measured on the digits, 3 seeds of 50 trials against no stopper
(benchmarks/stopper.py; the README's table): rungs 1, 3, 9 with the undominated going on took
1.33x the time at 0.995x the accuracy-latency hypervolume; rungs 1, 2, 5 with ASHA's top third
alone 0.78x the time at 0.875x (6 to 15 complete students of 50, too few for a front); these
rules, 0.76x at 0.94x. On Fashion-MNIST (3 seeds), where training is nearly all of a trial,
0.525x the search time at 1.008x (latency) and 0.993x (FLOPs).

A stopped trial is recorded PRUNED with `stopped_by` (the rule and its numbers), the epochs it
trained and its last accuracy; it counts towards `--budget` (it was sampled and judged) and its
weights are not kept. Only students that trained to the top rung are COMPLETE, so every student
on the front trained longest, and the front is ranked on equal training. An epoch whose loss
diverged is not judged: the trial fails as diverged, as it would without the stopper.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from autokd.records.attrs import CURVE_ATTR
from autokd.study.pareto import pareto_mask
from autokd.study.pruners.registry import Stopped

ETA = 3  # each rung trains eta times the epochs of the one before; 1/eta goes on
RUNGS = 3  # rungs per trial, the top one --epochs
BOUND_MARGIN = 0.02  # accuracy added to the optimistic bound: curves are noisy
BIRTH_MARGIN = 0.005  # a cheaper student this close to the run's best accuracy
MIN_FINISHED = 3  # finished students needed before their curves bound others'


def rungs_for(base_epochs: int, eta: int = ETA) -> tuple[int, ...]:
    """The epochs at which a trial is judged: --epochs / eta^k for k = 2, 1, 0, rounded, at
    least 1, without repeats (1, 2, 5 for 5; 1, 3, 9 for 9; 1, 3, 10 for 10; 1, 2 for 2):
    successive halving's geometric ladder, with --epochs on top."""
    return tuple(sorted({max(1, round(base_epochs / eta**k)) for k in range(RUNGS)}))


@dataclass(frozen=True)
class Peer:
    """Another trial as the stopper sees it: its costs, its curve, and whether it finished."""

    number: int
    latency_ms: float
    flops: float
    curve: tuple[float, ...]
    finished: bool  # trained to the top rung (COMPLETE): its last accuracy is final

    def cheaper_or_equal(self, latency_ms: float, flops: float) -> bool:
        return self.latency_ms <= latency_ms and self.flops <= flops


def peers_of(study: Any, *, exclude: int) -> list[Peer]:
    """Every trial of `study` but `exclude` that has costs and at least one epoch's accuracy."""
    import optuna

    from autokd.study.tables import measured_costs

    complete = optuna.trial.TrialState.COMPLETE
    peers = []
    for trial in study.get_trials(deepcopy=False):
        curve = trial.user_attrs.get(CURVE_ATTR)
        costs = measured_costs(trial)
        if trial.number == exclude or not curve or costs is None:
            continue
        peers.append(Peer(trial.number, *costs, tuple(curve), trial.state == complete))
    return peers


# --------------------------------------------------------------------------------------------
# The three rules, as functions of numbers


def bound_reason(
    epoch: int, accuracy: float, latency_ms: float, flops: float, peers: Sequence[Peer]
) -> str | None:
    """Rule 1: why the student cannot reach the front even at its optimistic final accuracy."""
    finished = [p for p in peers if p.finished and len(p.curve) >= epoch]
    if len(finished) < MIN_FINISHED:
        return None
    gain = max(p.curve[-1] - p.curve[epoch - 1] for p in finished)
    bound = accuracy + max(0.0, gain) + BOUND_MARGIN
    better = [p for p in finished if p.cheaper_or_equal(latency_ms, flops) and p.curve[-1] > bound]
    if not better:
        return None
    best = max(better, key=lambda p: p.curve[-1])
    return (
        f"bound: at epoch {epoch} accuracy {accuracy:.4f} could reach at most {bound:.4f}; "
        f"trial {best.number} is as cheap and reached {best.curve[-1]:.4f}"
    )


def dominated_at_birth(latency_ms: float, flops: float, peers: Sequence[Peer]) -> Peer | None:
    """Rule 2: the finished student, as cheap as this one, within BIRTH_MARGIN of the best."""
    finished = [p for p in peers if p.finished]
    if not finished:
        return None
    best = max(p.curve[-1] for p in finished)
    cheaper = [
        p
        for p in finished
        if p.cheaper_or_equal(latency_ms, flops) and p.curve[-1] >= best - BIRTH_MARGIN
    ]
    return max(cheaper, key=lambda p: p.curve[-1], default=None)


def promotion_order(points: np.ndarray) -> list[int]:
    """Indices of `points` (rows of accuracy, latency, FLOPs) best first: by non-dominated
    level, then crowding distance within the level (larger first), then accuracy."""
    remaining = np.arange(len(points))
    directions = ["maximize", "minimize", "minimize"]
    order: list[int] = []
    while len(remaining):
        level = remaining[pareto_mask(points[remaining], directions)]
        crowd = crowding_distances(points[level])
        ranked = sorted(range(len(level)), key=lambda i: (-crowd[i], -points[level[i], 0]))
        order.extend(int(level[i]) for i in ranked)
        remaining = np.setdiff1d(remaining, level)
    return order


def crowding_distances(points: np.ndarray) -> np.ndarray:
    """NSGA-II's crowding distance: per objective, the normalised gap between each point's
    neighbours; the extremes of every objective get infinity."""
    n = len(points)
    distance = np.zeros(n)
    if n <= 2:
        return np.full(n, np.inf)
    for column in points.T:
        order = np.argsort(column, kind="stable")
        span = column[order[-1]] - column[order[0]]
        distance[order[0]] = distance[order[-1]] = np.inf
        if span > 0:
            distance[order[1:-1]] += (column[order[2:]] - column[order[:-2]]) / span
    return distance


def promoted(
    rung: int, accuracy: float, latency_ms: float, flops: float, peers: Sequence[Peer]
) -> tuple[bool, int, int]:
    """Rule 3: whether the student goes on from `rung`: it ranks in the top 1/eta of those that
    reached the rung, or none of them dominates it (it could be on the front at its cost); with
    its place (1-based) and how many reached it."""
    reached = [p for p in peers if len(p.curve) >= rung]
    rows = [[p.curve[rung - 1], p.latency_ms, p.flops] for p in reached]
    points = np.array([[accuracy, latency_ms, flops], *rows])
    place = promotion_order(points).index(0) + 1
    keep = max(1, len(points) // ETA)
    undominated = bool(pareto_mask(points, ["maximize", "minimize", "minimize"])[0])
    return place <= keep or undominated, place, len(points)


# --------------------------------------------------------------------------------------------
# One trial's judge


class TrialJudge:
    """The epoch callback of one trial: records its curve in the study (other workers' judges
    read it) and stops the trial when a rule says so."""

    def __init__(
        self,
        trial: Any,
        rungs: Sequence[int],
        latency_ms: float,
        flops: float,
        *,
        read_peers: Any = None,
    ) -> None:
        self.trial, self.rungs = trial, tuple(rungs)
        self.latency_ms, self.flops = latency_ms, flops
        self.peers = read_peers or (lambda: peers_of(trial.study, exclude=trial.number))
        self.curve: list[float] = []
        self.seconds = 0.0
        # the finished students when this one was sampled (no rung to judge at: no need)
        self.rival = dominated_at_birth(latency_ms, flops, self.peers()) if rungs[:-1] else None

    def __call__(self, report: Any) -> None:
        epoch, accuracy = report.epoch, report.val_accuracy
        self.curve.append(accuracy)
        self.seconds += report.seconds
        self.trial.set_user_attr(CURVE_ATTR, list(self.curve))
        if epoch >= self.rungs[-1] or report.diverged:
            return  # the top rung: the trial completes; diverged: it fails after the epoch
        reason = self.reason(epoch, accuracy, self.peers())
        if reason is not None:
            raise Stopped(reason, epoch, accuracy)

    def reason(self, epoch: int, accuracy: float, peers: Sequence[Peer]) -> str | None:
        reason = bound_reason(epoch, accuracy, self.latency_ms, self.flops, peers)
        if reason is not None or epoch not in self.rungs:
            return reason
        rival = self.rival
        if epoch == self.rungs[0] and rival is not None and accuracy <= rival.curve[epoch - 1]:
            return (
                f"dominated at birth: trial {rival.number} is as cheap and reached "
                f"{rival.curve[-1]:.4f}; at epoch {epoch} this one had {accuracy:.4f}, it had "
                f"{rival.curve[epoch - 1]:.4f}"
            )
        going_on, place, reached = promoted(epoch, accuracy, self.latency_ms, self.flops, peers)
        if going_on:
            return None
        keep = max(1, reached // ETA)
        return (
            f"rung {epoch}: dominated, ranked {place} of {reached} by Pareto rank (the top "
            f"{keep} and the undominated go on to epoch {self._next_rung(epoch)})"
        )

    def _next_rung(self, epoch: int) -> int:
        return next(r for r in self.rungs if r > epoch)


def mo_asha(trial: Any, epochs: int, latency_ms: float, flops: float) -> TrialJudge:
    """The `mo-asha` pruner: a `TrialJudge` at the rungs `--epochs` asks for."""
    return TrialJudge(trial, rungs_for(epochs), latency_ms, flops)
