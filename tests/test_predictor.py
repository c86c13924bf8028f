"""The latency predictor: operator features counted by hand, an additive latency recovered, and
its error judged only on students it did not learn from (`autokd.measure.predictor`)."""

import numpy as np
import pytest
import torch
from torch import nn

from autokd.measure.predictor import (
    FEATURES,
    _kind_and_macs,
    fit_predictor,
    held_out_error,
    operator_features,
)
from autokd.study.space import load_space, sample_architectures


@pytest.mark.parametrize(
    ("module", "x", "kind", "macs"),
    [
        (nn.Conv2d(4, 8, 3), torch.zeros(1, 4, 10, 10), "conv", 8 * 8 * 8 * 4 * 9),
        (nn.Conv2d(4, 8, 1), torch.zeros(1, 4, 10, 10), "pointwise", 8 * 10 * 10 * 4),
        (nn.Conv2d(8, 8, 3, groups=8), torch.zeros(1, 8, 10, 10), "depthwise", 8 * 8 * 8 * 9),
        (nn.Linear(16, 10), torch.zeros(2, 16), "linear", 2 * 10 * 16),
        (nn.BatchNorm2d(4), torch.zeros(1, 4, 3, 3), "elementwise", 0),
        (nn.AdaptiveAvgPool2d(1), torch.zeros(1, 4, 3, 3), "other", 0),
    ],
)  # (by hand: output values x multiply-adds per output value)
def test_operators_are_counted_by_kind(module, x, kind, macs):
    assert _kind_and_macs(module, module(x)) == (kind, macs)


@pytest.fixture(scope="module")
def students():
    configs = sample_architectures(load_space("mobile"), (1, 16, 16), 10, 30, seed=3)
    return [operator_features(c, (1, 16, 16)) for c in configs]


def test_features_count_every_layer_once(students):
    layers = [FEATURES.index(f"{kind}_layers") for kind in ("conv", "pointwise", "depthwise")]
    assert all(f[FEATURES.index("call")] == 1 for f in students)
    assert all(sum(f[i] for i in layers) >= 3 for f in students)  # stem, expand, depthwise ...
    assert all(f[FEATURES.index("depthwise_macs")] > 0 for f in students)  # mobile blocks


def test_an_additive_latency_is_recovered_from_ten_students(students):
    truth = np.zeros(len(FEATURES))
    truth[FEATURES.index("conv_macs")] = 2e-6  # ms per multiply-add
    truth[FEATURES.index("depthwise_macs")] = 8e-6
    truth[FEATURES.index("pointwise_values")] = 1e-5
    truth[FEATURES.index("call")] = 0.01
    latencies = [float(truth @ f) for f in students]
    error = held_out_error(students, latencies, trained_on=10)
    assert (error.trained_on, error.tested_on) == (10, 20)
    assert error.within >= 0.9 and error.spearman > 0.95


def test_the_weights_are_costs_never_negative(students):
    rng = np.random.default_rng(0)
    latencies = [float(rng.uniform(0.1, 1.0)) for _ in students]  # no structure at all
    predictor = fit_predictor(students, latencies)
    assert min(predictor.weights) >= 0 and predictor.students == len(students)
    with pytest.raises(ValueError, match="positive latencies"):
        fit_predictor(students[:3], [0.1, 0.0, 0.2])


@pytest.mark.slow
def test_a_predicting_search_times_the_front_and_flags_the_rest(tmp_path, capsys, monkeypatch):
    import csv
    import json

    from autokd.cli import main
    from autokd.study import latency_plan
    from tests.helpers import tiny_search

    monkeypatch.setattr(latency_plan, "PREDICT_AFTER", 3)  # a tiny run: predict from the 4th
    args = [*tiny_search(tmp_path, "predicting", 12), "--latency", "predict"]
    assert main(args) == 0
    out = capsys.readouterr().out
    with (tmp_path / "runs" / "predicting" / "trials.csv").open() as table:
        rows = [r for r in csv.DictReader(table) if r["state"] == "COMPLETE"]
    predicted = [r for r in rows if r["latency_predicted"] == "True"]
    timed = [r for r in rows if r["latency_predicted"] == "False"]
    assert predicted and len(timed) >= 3, [(r["number"], r["latency_predicted"]) for r in rows]
    assert all(r["is_pareto"] == "False" for r in predicted)  # never on the front untimed
    assert all(r["latency_device"] == "" for r in predicted)  # nothing timed them
    assert all(float(r["latency_ms"]) == float(r["latency_prediction_ms"]) for r in predicted)
    summary = json.loads((tmp_path / "runs" / "predicting" / "summary.json").read_text())
    record = summary["latency_prediction"]
    assert record["predicted"] == len(predicted) and record["timed"] == len(timed)
    assert f"latency predicted for {len(predicted)} students" in out
    report = (tmp_path / "reports" / "predicting.html").read_text()
    assert f"Latency predicted for {len(predicted)} students" in report
    run = str(tmp_path / "runs" / "predicting")
    export = ["export", run, "--trial", predicted[0]["number"], "-o", str(tmp_path / "b")]
    assert main(export) == 2
    assert "latency was predicted, never timed" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()


@pytest.mark.slow
def test_a_measured_search_judges_a_predictor_on_its_second_half(tmp_path, capsys):
    import json

    from autokd.cli import main
    from tests.helpers import tiny_search

    assert main(tiny_search(tmp_path, "judged", 6)) == 0
    out = capsys.readouterr().out
    summary = json.loads((tmp_path / "runs" / "judged" / "summary.json").read_text())
    record = summary["latency_prediction"]
    assert record["judged"] == "second half" and record["predicted"] == 0
    assert (record["error"]["trained_on"], record["error"]["tested_on"]) == (3, 3)
    assert "latency predictor (additive per operator) learned from the first 3 timed" in out
    report = (tmp_path / "reports" / "judged.html").read_text()
    assert "Latency predictor (additive per operator) learned from the first 3" in report
