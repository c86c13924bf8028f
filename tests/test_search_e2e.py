"""One real search through the command line, then its outputs, continuation and report."""

import json
import re

import optuna
import pandas as pd
import pytest

from autokd.records.folder import RunFolder, load_study
from tests.helpers import autokd, chromium, render_in_chromium, tiny_search


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("search")
    result = autokd(*tiny_search(work, "e2e", 3), cwd=work)
    assert result.returncode == 0, result.stderr
    return work, result


@pytest.mark.slow
def test_search_writes_every_output_file(finished_run):
    work, result = finished_run
    run = work / "runs" / "e2e"
    for name in ("study.db", "run.json", "trials.csv", "pareto.csv", "summary.json"):
        assert (run / name).is_file(), name
    assert "report: " in result.stdout and str(work / "reports" / "e2e.html") in result.stdout

    trials = pd.read_csv(run / "trials.csv")
    assert list(trials.columns[:8]) == [
        "number",
        "state",
        "accuracy",
        "latency_ms",
        "latency_iqr_ms",
        "flops",
        "params",
        "is_pareto",
    ]
    assert {
        "stages",
        "stem_width",
        "s1_depth",
        "s1_width",
        "s1_kernel",
        "s1_dilation",
        "s1_feature_weight",
        "temperature",
        "alpha",
        "lr",
    } <= set(trials.columns)
    assert len(trials) == 3 and (trials["state"] == "COMPLETE").all()
    assert trials["accuracy"].between(0, 1).all() and (trials["latency_ms"] > 0).all()
    assert (trials["flops"] > 0).all() and (trials["params"] > 0).all()

    pareto = pd.read_csv(run / "pareto.csv")
    assert len(pareto) == trials["is_pareto"].sum() >= 1
    assert pareto["latency_ms"].is_monotonic_increasing

    summary = json.loads((run / "summary.json").read_text())
    assert summary["budget"] == 3 and summary["trials"] == {"complete": 3}
    assert summary["teacher"]["name"] == "test_resnet"
    assert 0 <= summary["teacher"]["accuracy"] <= 1
    assert summary["data"]["name"] == "digits" and summary["target"]["name"] == "cpu"
    environment = summary["environment"]
    assert environment["cpu"] and environment["torch"] and summary["target"]["threads"] >= 1
    assert summary["pareto_size"] == len(pareto)
    assert summary["best_accuracy"] == pytest.approx(trials["accuracy"].max())
    assert "InferenceSession" not in summary["latency_protocol"]
    assert "one call: the module's forward, eval mode" in summary["latency_protocol"]
    assert optuna.get_all_study_names(f"sqlite:///{run / 'study.db'}") == ["e2e"]


def test_is_pareto_matches_optunas_best_trials(finished_run):
    work, _ = finished_run
    study = load_study(RunFolder(work / "runs" / "e2e"))
    trials = pd.read_csv(work / "runs" / "e2e" / "trials.csv")
    assert set(trials.loc[trials["is_pareto"], "number"]) == {t.number for t in study.best_trials}


def test_the_report_opens_offline(finished_run):
    work, _ = finished_run
    html = (work / "reports" / "e2e.html").read_text()
    assert not re.search(r"<script[^>]*\bsrc=", html)  # nothing fetched: plotly.js is inline
    assert "Plotly.newPlot" in html and "plotly.js" in html.lower()
    assert "accuracy vs latency" in html and "Pareto students" in html
    assert "1 multiply-add = 1 flop" in html


@pytest.mark.slow
def test_rerunning_the_same_name_continues_the_study(finished_run):
    work, _ = finished_run
    run = work / "runs" / "e2e"
    before = pd.read_csv(run / "trials.csv")
    result = autokd(*tiny_search(work, "e2e", 4), cwd=work)
    assert result.returncode == 0, result.stderr
    assert "(1 run now)" in result.stdout
    after = pd.read_csv(run / "trials.csv")
    assert len(after) == 4
    pd.testing.assert_frame_equal(
        after.iloc[:3][["number", "accuracy", "latency_ms"]],
        before[["number", "accuracy", "latency_ms"]],
    )
    study = optuna.load_study(study_name=None, storage=f"sqlite:///{run / 'study.db'}")
    assert len(study.trials) == 4


@pytest.mark.slow
def test_report_command_re_renders_from_the_study(finished_run, tmp_path):
    work, _ = finished_run
    output = tmp_path / "again.html"
    result = autokd("report", str(work / "runs" / "e2e"), "-o", str(output))
    assert result.returncode == 0, result.stderr
    assert output.stat().st_size > 1_000_000  # plotly.js is embedded


@pytest.mark.slow
@pytest.mark.skipif(chromium() is None, reason="Debian's chromium is not installed")
def test_the_report_draws_in_a_real_browser_without_javascript_errors(finished_run, tmp_path):
    work, _ = finished_run
    dom, errors = render_in_chromium(work / "reports" / "e2e.html", tmp_path / "profile")
    assert errors == []
    assert dom.count('class="main-svg"') >= 2  # plotly drew both front plots as SVG


@pytest.mark.slow
def test_the_same_seed_gives_the_same_trials(finished_run):
    """Same seed, same sampled candidates and trained accuracies. The latencies come from the
    cache filled by the first run: re-timed ones could differ and steer the sampler elsewhere."""
    work, _ = finished_run
    result = autokd(*tiny_search(work, "again", 3), cwd=work)
    assert result.returncode == 0, result.stderr
    first = pd.read_csv(work / "runs" / "e2e" / "trials.csv").iloc[:3]
    again = pd.read_csv(work / "runs" / "again" / "trials.csv")
    same = [
        c
        for c in again.columns
        if c not in ("latency_ms", "latency_iqr_ms", "is_pareto")
        and not c.endswith(("_seconds", "_cached", "_noisy", "_contended", "_doubt", "_blocks"))
    ]
    assert "accuracy" in same and "s1_width" in same
    pd.testing.assert_frame_equal(first[same], again[same])
