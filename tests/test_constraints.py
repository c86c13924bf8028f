"""Latency, FLOPs and parameter limits: a student over one is measured, then never trained."""

import json

import pandas as pd
import pytest

from autokd.cli import main
from autokd.records.folder import RunFolder, load_study
from autokd.records.run import Constraints
from autokd.study import objective as search_module
from tests.helpers import autokd, tiny_search


def test_violations_are_relative_and_positive_when_over():
    limits = Constraints(max_latency_ms=0.2, max_params=1000)
    assert [flag for _, flag, _ in limits.active] == ["--max-latency-ms", "--max-params"]
    over = limits.violations({"latency_ms": 0.3, "flops": 1, "params": 500})
    assert over == pytest.approx([0.5, -0.5])
    assert Constraints().active == []


@pytest.fixture
def count_training(monkeypatch):
    calls = []
    real = search_module.train_student

    def counting(*args, **kwargs):
        calls.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(search_module, "train_student", counting)
    return calls


def test_students_over_the_limit_cost_no_training(tmp_path, count_training):
    assert main([*tiny_search(tmp_path, "tight", 3), "--max-params", "10"]) == 0
    assert count_training == []  # every student has more than 10 parameters
    trials = pd.read_csv(tmp_path / "runs" / "tight" / "trials.csv")
    assert (trials["state"] == "PRUNED").all()
    assert trials["rejected_by"].str.startswith("params").all()
    assert (trials["latency_ms"] > 0).all() and (trials["flops"] > 0).all()  # still measured
    study = load_study(RunFolder(tmp_path / "runs" / "tight"))
    assert all(t.constraints["params"] > 0 for t in study.trials)  # what the sampler learns from
    summary = json.loads((tmp_path / "runs" / "tight" / "summary.json").read_text())
    assert summary["rejected"] == 3 and summary["constraints"]["max_params"] == 10
    html = (tmp_path / "reports" / "tight.html").read_text()
    assert "Rejected by the constraints" in html


@pytest.mark.slow
def test_only_students_within_the_limits_are_trained(tmp_path, count_training):
    assert main([*tiny_search(tmp_path, "some", 6), "--max-params", "20000"]) == 0
    trials = pd.read_csv(tmp_path / "runs" / "some" / "trials.csv")
    complete, rejected = trials[trials["state"] == "COMPLETE"], trials[trials["state"] == "PRUNED"]
    assert len(count_training) == len(complete)
    assert (complete["params"] <= 20000).all() and (rejected["params"] > 20000).all()
    assert len(complete) + len(rejected) == 6


def test_limits_must_be_positive_and_stay_fixed_in_a_run(tmp_path, capsys):
    refused = autokd("search", "--max-latency-ms", "0", cwd=tmp_path)
    assert refused.returncode == 2
    assert "--max-latency-ms: must be a positive number" in refused.stderr
    assert main([*tiny_search(tmp_path, "fixed", 1), "--max-params", "100000"]) == 0
    capsys.readouterr()
    assert main([*tiny_search(tmp_path, "fixed", 2), "--max-params", "50000"]) == 2
    assert "was started with constraints=" in capsys.readouterr().err


@pytest.mark.slow
def test_targets_lists_every_target_with_whether_it_works_here():
    listing = autokd("targets").stdout
    for name in ("cpu", "cpu-1t", "onnxruntime", "cuda"):
        assert name in listing
    assert "[usable]" in listing


@pytest.mark.slow
def test_measure_times_twice_in_fresh_processes_and_compares(tmp_path):
    target = tmp_path / "quick.yaml"
    target.write_text("threads: 1\nwarmup: 2\nmin_run_time: 0.02\n")
    result = autokd("measure", "--target", str(target), "-n", "3", "-o", str(tmp_path / "m.json"))
    assert result.returncode == 0, result.stderr
    assert "re-measurements within +-10%" in result.stdout
    numbers = json.loads((tmp_path / "m.json").read_text())
    assert len(numbers["first_ms"]) == len(numbers["second_ms"]) == 3
    assert 0 <= numbers["within_tolerance"] <= 1 and -1 <= numbers["spearman"] <= 1
