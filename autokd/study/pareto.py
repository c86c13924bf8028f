"""Pareto fronts and hypervolume on plain numpy arrays.

Objectives are given with a direction each ("maximize" or "minimize"); internally everything is
turned into minimisation by negating the maximised columns.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Direction = str  # "maximize" | "minimize"


def _as_minimisation(values: np.ndarray, directions: Sequence[Direction]) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    if values.ndim != 2 or values.shape[1] != len(directions):
        raise ValueError(
            f"values must have shape (n, {len(directions)}) for {len(directions)} directions, "
            f"but got {values.shape}"
        )
    signs = np.array([-1.0 if d == "maximize" else 1.0 for d in directions])
    return values * signs


def pareto_mask(values: np.ndarray, directions: Sequence[Direction]) -> np.ndarray:
    """True for every row that no other row dominates (at least as good everywhere, better once).

    Rows with equal values are all kept, as Optuna's `study.best_trials` keeps them.
    """
    points = _as_minimisation(values, directions)
    n = len(points)
    mask = np.ones(n, dtype=bool)
    for i in range(n):
        no_worse = np.all(points <= points[i], axis=1)
        better = np.any(points < points[i], axis=1)
        if np.any(no_worse & better):
            mask[i] = False
    return mask


def hypervolume_2d(
    values: np.ndarray, directions: Sequence[Direction], reference: Sequence[float]
) -> float:
    """Area dominated by the points and bounded by `reference` (in the objectives' own units).

    The reference point must be worse than every point that should count; points that do not
    dominate it contribute nothing.
    """
    points = _as_minimisation(values, directions)
    ref = _as_minimisation(np.asarray([reference], dtype=float), directions)[0]
    points = points[np.all(points < ref, axis=1)]
    if len(points) == 0:
        return 0.0
    points = points[pareto_mask(points, ["minimize", "minimize"])]
    points = points[np.argsort(points[:, 0])]
    area, previous_y = 0.0, ref[1]
    for x, y in points:
        if y < previous_y:
            area += (ref[0] - x) * (previous_y - y)
            previous_y = y
    return float(area)
