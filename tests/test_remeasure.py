"""`autokd remeasure`: the front's doubtful latencies timed again and read over the first ones."""

from __future__ import annotations

import json

import pandas as pd

from autokd.cli import main
from autokd.records.folder import RunFolder, load_study
from autokd.study.tables import trials_frame
from tests.helpers import fake_run

# (accuracy, latency_ms, flops): trial 1 is on the front with a planted, contended 5 ms timing
# (the fake run's students are one-stage 16-pixel CNNs: they really take well under 1 ms)
POINTS = [(0.90, 0.04, 1e5), (0.99, 5.0, 2e5), (0.95, 6.0, 3e5)]
CONTENDED = {1: {"latency_contended": True, "latency_noisy": True, "latency_blocks": 40}}


def test_the_doubtful_front_student_is_timed_again_and_the_tables_follow(tmp_path, capsys):
    folder = fake_run(tmp_path / "runs" / "busy", POINTS, trial_attrs=CONTENDED)
    before = trials_frame(load_study(RunFolder(folder)))
    assert before.set_index("number")["latency_doubt"].to_dict() == {0: "", 1: "contended", 2: ""}
    assert before["is_pareto"].tolist() == [True, True, False]

    reports = tmp_path / "reports"
    assert main(["remeasure", str(folder), "--reports-dir", str(reports), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "1 students of run busy timed again on target cpu" in out

    after = trials_frame(load_study(RunFolder(folder))).set_index("number")
    assert after.loc[1, "latency_ms"] < 1.0  # the real timing replaced the planted one
    assert after.loc[1, "latency_remeasured"]
    assert after.loc[[0, 2], "latency_ms"].tolist() == [0.04, 6.0]  # trusted ones untouched
    csv = pd.read_csv(folder / "trials.csv").set_index("number")
    assert csv.loc[1, "latency_ms"] == after.loc[1, "latency_ms"]
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["pareto_size"] == int(after["is_pareto"].sum())
    assert (reports / "busy.html").is_file()


def test_a_front_with_nothing_doubtful_is_left_as_it_was(tmp_path, capsys):
    folder = fake_run(tmp_path / "quiet", POINTS)
    assert main(["remeasure", str(folder), "--reports-dir", str(tmp_path), "--quiet"]) == 0
    assert "nothing timed again" in capsys.readouterr().out
    frame = trials_frame(load_study(RunFolder(folder)))
    assert frame["latency_ms"].tolist() == [0.04, 5.0, 6.0]
