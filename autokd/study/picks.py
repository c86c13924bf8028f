"""Which student of a front to pick: the knee, the most accurate, the fastest.

`autokd export --pick` and the report's "what to pick" both read these, so the report marks the
student that export takes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from autokd.errors import AutoKDError, check_choice
from autokd.study.pareto import pareto_mask

if TYPE_CHECKING:  # (pandas is imported by the callers: the CLI reads PICKS for --help)
    import pandas as pd

PICKS = ("knee", "best-accuracy", "fastest")  # how `autokd export` chooses among the front


def knee_position(accuracy: np.ndarray, latency: np.ndarray) -> int:
    """Index of the knee of an accuracy-latency front.

    Both axes are scaled to [0, 1] over the front; the knee is the student farthest above the
    straight line from the fastest student to the most accurate one: where extra latency stops
    buying much accuracy. With two students or fewer, the most accurate one.
    """
    accuracy, latency = np.asarray(accuracy, float), np.asarray(latency, float)
    if len(accuracy) <= 2 or np.ptp(accuracy) == 0 or np.ptp(latency) == 0:
        return int(np.lexsort((latency, -accuracy))[0])
    x = (latency - latency.min()) / np.ptp(latency)
    y = (accuracy - accuracy.min()) / np.ptp(accuracy)
    fastest, most_accurate = int(np.argmin(x)), int(np.argmax(y))
    (x0, y0), (x1, y1) = (x[fastest], y[fastest]), (x[most_accurate], y[most_accurate])
    # signed distance to the line, positive above it (towards high accuracy, low latency)
    distance = ((x1 - x0) * (y - y0) - (y1 - y0) * (x - x0)) / np.hypot(x1 - x0, y1 - y0)
    return int(np.argmax(distance))


def pick_row(front: pd.DataFrame, pick: str) -> pd.Series:
    """The row `pick` chooses among `front` (Pareto students, with accuracy and latency_ms)."""
    check_choice("pick", pick, PICKS)
    if front.empty:
        raise AutoKDError("the run has no complete trial to export yet")
    if pick == "fastest":
        return front.sort_values(["latency_ms", "accuracy"], ascending=[True, False]).iloc[0]
    if pick == "best-accuracy":
        return front.sort_values(["accuracy", "latency_ms"], ascending=[False, True]).iloc[0]
    latency_front = accuracy_latency_front(front)
    position = knee_position(latency_front["accuracy"], latency_front["latency_ms"])
    return latency_front.iloc[position]


def accuracy_latency_front(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of `frame` on its accuracy-latency front (FLOPs left out), fastest first."""
    values = frame[["accuracy", "latency_ms"]].to_numpy(float)
    return frame[pareto_mask(values, ["maximize", "minimize"])].sort_values("latency_ms")


@dataclass(frozen=True)
class Pick:
    name: str  # one of PICKS
    number: int  # the trial
    accuracy: float
    latency_ms: float
    why: str  # one sentence


def front_picks(front: pd.DataFrame) -> list[Pick]:
    """The three picks `export` offers, each with the sentence that says why it is that one;
    [] for an empty front."""
    if front.empty:
        return []
    rows = {name: pick_row(front, name) for name in PICKS}
    fastest, best, knee = rows["fastest"], rows["best-accuracy"], rows["knee"]
    return [
        Pick("knee", int(knee["number"]), knee["accuracy"], knee["latency_ms"],
             _knee_reason(knee, fastest, best)),
        Pick("best-accuracy", int(best["number"]), best["accuracy"], best["latency_ms"],
             "the most accurate student on the front (the fastest of those tied)"),
        Pick("fastest", int(fastest["number"]), fastest["accuracy"], fastest["latency_ms"],
             "the fastest student on the front (the most accurate of those tied)"),
    ]  # fmt: skip


def _knee_reason(knee: pd.Series, fastest: pd.Series, best: pd.Series) -> str:
    if knee["number"] == best["number"]:
        return (
            "the most accurate student, because the front has too few students or no trade-off "
            "for a knee"
        )
    gain = best["accuracy"] - knee["accuracy"]
    cost = best["latency_ms"] / knee["latency_ms"]
    above = (
        f"it gains {knee['accuracy'] - fastest['accuracy']:+.4f} accuracy over the fastest "
        f"student for {knee['latency_ms'] / fastest['latency_ms']:.2f}x its latency"
        if knee["number"] != fastest["number"]
        else "it is the fastest student"
    )
    return (
        f"the student farthest above the line from the fastest to the most accurate: {above}, "
        f"while the most accurate adds only {gain:+.4f} for {cost:.2f}x the latency"
    )
