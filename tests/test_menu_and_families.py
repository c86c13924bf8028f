"""The shipped `mobile` and `cnn-menu` spaces end to end, and a run folder written before the
term and family plug-ins existed still opening in report, export and train."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
import yaml

from autokd.cli import main
from autokd.distill.config import KDConfig
from autokd.records.folder import RunFolder, load_study
from autokd.reporting.data import build_run_report
from autokd.study.tables import trials_frame
from tests.helpers import tiny_search

LEGACY_RUN = Path(__file__).parent / "data" / "run-before-plugins"


@pytest.mark.slow
@pytest.mark.parametrize(("space", "budget"), [("mobile", 3), ("cnn-menu", 6)])
def test_a_shipped_space_searches_exports_and_trains(space, budget, tmp_path):
    assert main([*tiny_search(tmp_path, space, budget), "--space", space]) == 0
    run = tmp_path / "runs" / space
    with (run / "trials.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len([r for r in rows if r["state"] == "COMPLETE"]) == budget
    bundle = tmp_path / "bundle"
    assert main(["export", str(run), "--pick", "knee", "-o", str(bundle)]) == 0
    description = yaml.safe_load((bundle / "student.yaml").read_text())
    assert description["student"]["family"] == ("mobile" if space == "mobile" else "cnn")
    assert (bundle / "student.onnx").is_file() and (bundle / "student.torchscript.pt").is_file()
    assert main(["train", str(bundle), "--epochs", "1", "--quiet", "-o", str(tmp_path / "t")]) == 0
    if space == "cnn-menu":  # the choices are columns, classified by the space's declaration
        assert {"logit_loss", "feature_loss", "temperature_schedule"} <= set(rows[0])
        report = build_run_report(RunFolder(run))
        assert all("alpha" in hover for hover in report.complete["hover"])
        latency = report.importances.get("latency_ms", {})  # explained by architecture alone
        assert not {"logit_loss", "alpha", "temperature", "lr"} & set(latency)


@pytest.mark.slow
def test_a_run_from_before_the_plugins_opens_in_report_export_and_train(tmp_path):
    run = tmp_path / "legacy"
    shutil.copytree(LEGACY_RUN, run)
    frame = trials_frame(load_study(RunFolder(run)))
    assert frame["s1_depth"].dtype == "Int64" and frame["s1_feature_weight"].dtype == float
    assert main(["report", str(run), "-o", str(tmp_path / "legacy.html")]) == 0
    bundle = tmp_path / "bundle"
    assert main(["export", str(run), "--trial", "2", "-o", str(bundle)]) == 0
    distill = yaml.safe_load((bundle / "student.yaml").read_text())["distill"]
    kd = KDConfig.from_dict(distill)  # the trial recorded three keys; the rest are defaults
    chosen = (kd.logit_loss, kd.feature_loss, kd.temperature_schedule)
    assert chosen == ("kd", "fitnets", "constant")
    # The run's teacher was trained on another machine: train on labels to read the bundle
    out = tmp_path / "trained"
    assert main(["train", str(bundle), "--epochs", "1", "--no-kd", "--quiet", "-o", str(out)]) == 0
    assert (out / "result.json").is_file()
