"""A latency predictor per target, learned from the students measured on it.

The model is additive over operators, as nn-Meter sums the latencies of a model's kernels: a
student's latency is a fixed cost per call plus, for each kind of operator, a cost per
multiply-add, per output value and per layer:

    latency = c + sum over kinds k of (a_k * MACs_k + b_k * values_k + d_k * layers_k)

with kinds: k x k convolutions, 1 x 1 (pointwise) convolutions, depthwise convolutions, linear
layers, element-wise layers (batch norm, activations) and the rest (pooling). Why this and not a
gradient-boosted model: a target starts with ten measured students, not thousands; the additive
model has 19 numbers to learn, each a physical cost that cannot be negative (fitted by
non-negative least squares), so it extrapolates in size along the lines of the runtime's cost
(a tree cannot predict beyond the latencies it saw), and it learns per target what the runtime
fuses away (batch norm folded into the convolution costs nothing on ONNX Runtime: its weights
go to 0). The fit minimises the relative error, the one `--max-latency-ms` and the +-10%
agreement are judged by, with a small ridge term so that ten students fix nineteen numbers.

Its error is always reported on students it did not learn from (`held_out_error`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from autokd.students import StudentSpec, build_student

KINDS = ("conv", "pointwise", "depthwise", "linear", "elementwise", "other")
PER_KIND = ("macs", "values", "layers")
FEATURES = (*(f"{kind}_{what}" for kind in KINDS for what in PER_KIND), "call")
ELEMENTWISE = (nn.BatchNorm2d, nn.ReLU, nn.ReLU6, nn.Hardswish, nn.Sigmoid, nn.SiLU, nn.GELU)
RIDGE = 1e-4  # relative to the scaled features' own size
TOLERANCE = 0.10


def operator_features(config: StudentSpec, input_shape: tuple[int, int, int],
                      batch_size: int = 1) -> np.ndarray:  # fmt: skip
    """The student's operators summed by kind (`FEATURES`), read from its shapes on PyTorch's
    meta device (nothing is allocated or run)."""
    totals = dict.fromkeys(FEATURES, 0.0)
    totals["call"] = 1.0

    def record(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        kind, macs = _kind_and_macs(module, output)
        totals[f"{kind}_macs"] += macs
        totals[f"{kind}_values"] += output.numel()
        totals[f"{kind}_layers"] += 1

    with torch.device("meta"):
        model = build_student(config).eval()
        leaves = [m for m in model.modules() if not any(True for _ in m.children())]
        for leaf in leaves:
            leaf.register_forward_hook(record)
        model(torch.empty(batch_size, *input_shape))
    return np.array([totals[name] for name in FEATURES], dtype=np.float64)


def _kind_and_macs(module: nn.Module, output: torch.Tensor) -> tuple[str, float]:
    if isinstance(module, nn.Conv2d):
        per_output = (
            (module.in_channels // module.groups) * module.kernel_size[0] * (module.kernel_size[1])
        )
        macs = float(output.numel() * per_output)
        if module.groups > 1 and module.groups == module.in_channels:
            return "depthwise", macs
        return ("pointwise" if module.kernel_size == (1, 1) else "conv"), macs
    if isinstance(module, nn.Linear):
        return "linear", float(output.numel() * module.in_features)
    if isinstance(module, ELEMENTWISE):
        return "elementwise", 0.0
    return "other", 0.0


@dataclass(frozen=True)
class LatencyPredictor:
    """Non-negative costs per feature (`FEATURES`), in milliseconds per unit."""

    weights: tuple[float, ...]
    students: int  # measured students it learned from

    def predict(self, features: np.ndarray) -> float:
        return float(np.dot(self.weights, features))

    def costs(self) -> dict[str, float]:
        return dict(zip(FEATURES, self.weights, strict=True))


def fit_predictor(features: Sequence[np.ndarray], latencies_ms: Sequence[float]
                  ) -> LatencyPredictor:  # fmt: skip
    """The additive model fitted to measured students: non-negative least squares on the
    relative error, features scaled to their largest value, a small ridge term."""
    from scipy.optimize import nnls

    x = np.asarray(features, dtype=np.float64)
    y = np.asarray(latencies_ms, dtype=np.float64)
    if len(y) < 2 or not np.all(y > 0):
        raise ValueError("a predictor needs at least two students with positive latencies")
    scale = x.max(axis=0)
    scale[scale == 0] = 1.0
    relative = (x / scale) / y[:, None]  # each row divided by its latency: relative error
    ridge = np.sqrt(RIDGE) * np.eye(len(FEATURES))
    rows = np.vstack([relative, ridge])
    targets = np.concatenate([np.ones(len(y)), np.zeros(len(FEATURES))])
    solution, _ = nnls(rows, targets)
    return LatencyPredictor(tuple(float(w) for w in solution / scale), len(y))


@dataclass(frozen=True)
class PredictorError:
    """How well a predictor did on students it did not learn from."""

    trained_on: int
    tested_on: int
    within: float  # share predicted within +-TOLERANCE of the measured latency
    spearman: float | None  # rank correlation of predicted and measured; None below 3


def prediction_error(predictor: LatencyPredictor, features: Sequence[np.ndarray],
                     latencies_ms: Sequence[float]) -> PredictorError:  # fmt: skip
    predicted = [predictor.predict(f) for f in features]
    return error_of(predicted, latencies_ms, trained_on=predictor.students)


def error_of(predicted: Sequence[float], measured: Sequence[float], *, trained_on: int
             ) -> PredictorError:  # fmt: skip
    """Predicted latencies judged against the measured ones."""
    from scipy.stats import spearmanr

    within = [abs(p - m) <= TOLERANCE * m for p, m in zip(predicted, measured, strict=True)]
    rho = float(spearmanr(predicted, measured).statistic) if len(predicted) >= 3 else None
    return PredictorError(trained_on, len(predicted), sum(within) / len(within), rho)


def held_out_error(features: Sequence[np.ndarray], latencies_ms: Sequence[float],
                   trained_on: int) -> PredictorError:  # fmt: skip
    """Fit on the first `trained_on` students, judge on the rest."""
    predictor = fit_predictor(features[:trained_on], latencies_ms[:trained_on])
    return prediction_error(predictor, features[trained_on:], latencies_ms[trained_on:])
