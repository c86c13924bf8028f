"""Latency, FLOPs and parameter limits: a student over one is measured, then never trained."""

import json
from types import SimpleNamespace

import pandas as pd
import pytest

from autokd.cli import main
from autokd.errors import ConfigError
from autokd.measure.targets import load_target
from autokd.records.folder import RunFolder, load_study
from autokd.records.run import Constraints
from autokd.study import controller
from autokd.study import objective as search_module
from autokd.study.space import Shape, check_space_within_limits, load_space, smallest_candidate
from tests.helpers import autokd, snapshot, tiny_search


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


def test_students_over_the_limit_cost_no_training(tmp_path, count_training, monkeypatch):
    # No student has 10 parameters, which the run refuses up front (test_teacher_checks); let
    # it through to see each trial's own rejection.
    monkeypatch.setattr(controller, "check_space_within_limits", lambda *a, **k: None)
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
    result = autokd("measure", "--target", str(target), "-n", "6", "-o", str(tmp_path / "m.json"))
    assert result.returncode == 0, result.stderr
    assert "re-measurements within +-10%" in result.stdout
    assert "latency predictor (additive per operator) learned from 3 of them: " in result.stdout
    assert "of the other 3 predicted within +-10%" in result.stdout
    numbers = json.loads((tmp_path / "m.json").read_text())
    assert len(numbers["first_ms"]) == len(numbers["second_ms"]) == 6
    assert 0 <= numbers["within_tolerance"] <= 1 and -1 <= numbers["spearman"] <= 1
    assert numbers["predictor"]["trained_on"] == numbers["predictor"]["tested_on"] == 3


def test_the_smallest_student_has_every_key_at_its_smallest_and_strides_at_their_largest():
    shape = Shape(channels=1, classes=10, input_size=16)
    cnn = smallest_candidate(load_space("cnn"), shape).student
    assert cnn.stem_width == 8 and len(cnn.stages) == 2
    assert [(s.depth, s.width, s.kernel, s.dilation, s.stride) for s in cnn.stages] == [
        (1, 8, 3, 1, 2),  # the first stride is searched (1 or 2): 2 is the cheaper
        (1, 16, 3, 1, 2),
    ]
    mobile = smallest_candidate(load_space("mobile"), shape).student
    assert {(s.expansion, s.se) for s in mobile.stages} == {(2, 0)}


class _Timed:
    """A metrics cache that times every student at `latency_ms` (and counts nothing)."""

    def __init__(self, latency_ms, *, trusted=True):
        self.latency_ms, self.trusted, self.measured = latency_ms, trusted, []

    def measure(self, config, target):
        self.measured.append(config)
        latency = SimpleNamespace(median_ms=self.latency_ms, trusted=self.trusted)
        return SimpleNamespace(latency=latency, flops=79520, params=2034)


def test_a_space_whose_smallest_student_breaks_a_limit_is_refused_with_the_numbers():
    space, shape, cpu = load_space("cnn"), Shape(1, 10, 16), load_target("cpu")
    timing = _Timed(0.64)
    with pytest.raises(ConfigError) as refused:
        check_space_within_limits(space, shape, Constraints(max_params=10), cpu, metrics=timing)
    assert str(refused.value) == (
        "space 'cnn' has no student within --max-params 10: its smallest "
        "(8 | 1x8 k3 d1 s2 | 1x16 k3 d1 s2) has params 2034 > 10; raise --max-params, or "
        "choose a space with smaller students"
    )
    assert timing.measured == []  # no latency limit: nothing timed
    with pytest.raises(ConfigError, match=r"latency_ms 0\.64 > 0\.3 on target 'cpu'; raise --max"):
        check_space_within_limits(
            space, shape, Constraints(max_latency_ms=0.3), cpu, metrics=timing
        )
    for fine in (Constraints(), Constraints(max_params=2034), Constraints(max_latency_ms=0.6)):
        check_space_within_limits(space, shape, fine, cpu, metrics=timing)  # 0.64: maybe noise
    busy = _Timed(0.64, trusted=False)  # timed on a busy machine: up to 20x too slow
    check_space_within_limits(space, shape, Constraints(max_latency_ms=0.3), cpu, metrics=busy)
    with pytest.raises(ConfigError, match=r"latency_ms 0\.64 > 0\.03"):
        check_space_within_limits(space, shape, Constraints(max_latency_ms=0.03), cpu, metrics=busy)


@pytest.fixture
def teacher_never_prepared(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the teacher was prepared")

    monkeypatch.setattr(controller, "prepare_teacher", refuse)


@pytest.mark.parametrize(
    ("limit", "broken"),
    [(["--max-params", "10"], "params 2034 > 10"), (["--max-latency-ms", "0.0001"], "latency_ms")],
)
def test_an_infeasible_limit_stops_the_search_before_the_teacher(
    tmp_path, capsys, teacher_never_prepared, limit, broken
):
    before = snapshot(tmp_path)
    assert main([*tiny_search(tmp_path, "none", 3), *limit]) == 2
    assert snapshot(tmp_path) == before
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("autokd: error: space 'cnn' has no student")
    assert broken in err and f"raise {limit[0]}" in err
    assert not (tmp_path / "runs").exists()
