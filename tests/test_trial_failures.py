"""A trial that fails ends alone: recorded FAIL with its reason, and the search goes on.

Also: what counts as a diverged student, the memory bound that fails a student too large before
anything is allocated, and SIGTERM handled like Ctrl-C.
"""

from __future__ import annotations

import csv
import math
import signal
import subprocess
import sys

import pytest
import torch

from autokd.cli import main
from autokd.distill.engine import EpochReport, FitResult
from autokd.distill.training import training_failure
from autokd.errors import TrialFailed
from autokd.measure import limits
from autokd.students.cnn import StageConfig, StudentConfig
from autokd.study import objective as trial_objective
from autokd.study.workers import MIN_FAILURE_LIMIT, failure_reason
from tests.helpers import tiny_search, wait_for_complete_trials


def _rows(work, name):
    with open(work / "runs" / name / "trials.csv") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.slow
def test_a_failing_trial_is_recorded_and_the_search_goes_on(tmp_path, monkeypatch, capsys):
    real, calls = trial_objective.train_student, []

    def second_one_fails(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("DefaultCPUAllocator: can't allocate memory\nmore detail")
        return real(*args, **kwargs)

    monkeypatch.setattr(trial_objective, "train_student", second_one_fails)
    assert main(tiny_search(tmp_path, "goes-on", 3)) == 0
    rows = _rows(tmp_path, "goes-on")
    assert [r["state"] for r in rows].count("COMPLETE") == 3  # the budget, exactly
    (failed,) = [r for r in rows if r["state"] == "FAIL"]
    assert failed["fail_reason"] == "RuntimeError: DefaultCPUAllocator: can't allocate memory"
    assert failed["architecture"]  # which student failed is on its row
    err = capsys.readouterr().err
    assert f"trial {failed['number']} failed: RuntimeError: DefaultCPUAllocator" in err


@pytest.mark.slow
def test_a_search_whose_trials_keep_failing_stops_with_the_reason(tmp_path, monkeypatch, capsys):
    def always_fails(*args, **kwargs):
        raise ValueError("broken student")

    monkeypatch.setattr(trial_objective, "train_student", always_fails)
    code = main(tiny_search(tmp_path, "hopeless", 2))
    err = capsys.readouterr().err
    assert code == 2
    last = err.strip().splitlines()[-1]
    assert last == (
        f"autokd: error: {MIN_FAILURE_LIMIT} trials failed, the last one: ValueError: broken "
        "student; the search stops (each trial's reason is in trials.csv, column fail_reason)"
    )
    rows = _rows(tmp_path, "hopeless")  # the tables are written all the same
    assert [r["state"] for r in rows] == ["FAIL"] * MIN_FAILURE_LIMIT


def _fit(accuracy, first_loss, last_loss, *, diverged=False):
    history = [EpochReport(1, 1, last_loss, accuracy, 0.01, 1.0)]
    return FitResult(accuracy, accuracy, 1, 1.0, diverged, history, first_loss=first_loss)


LABELS = torch.tensor([0] * 12 + [1] * 8)  # the most common class: 12 of 20 = 0.6


@pytest.mark.parametrize(
    ("fit", "reason"),
    [
        (_fit(0.9, 2.3, 0.5), None),
        (_fit(0.6, 2.3, 5.0, diverged=True), "diverged: the loss became NaN or infinite"),
        (_fit(0.6, 2.3, 9.7), "diverged to chance: validation accuracy 0.6000 is no better"),
        (_fit(0.55, 2.3, 2.4), "than always answering the most common class (0.6000)"),
        (_fit(0.6, 2.3, 2.2), None),  # at chance, but its loss falls: a slow learner, kept
        (_fit(0.65, 2.3, 9.7), None),  # above chance: a result
        (_fit(0.6, math.nan, 9.7), None),  # resumed: no first loss to compare with
    ],
)
def test_what_counts_as_diverged(fit, reason):
    found = training_failure(fit, LABELS)
    assert found == reason if reason is None else reason in found


def test_a_student_too_large_for_memory_fails_before_anything_is_allocated(monkeypatch):
    student = StudentConfig("cnn", 3, 10, 224, 64, (StageConfig(4, 512, 7, 1, 1),))
    size = limits.student_size(student)
    assert size.params > 64 * 512 * 49 + 3 * 512 * 512 * 49  # the stage's convolutions alone
    needed = limits.training_bytes(size, 64)
    assert needed > 2**30  # activations of 64 images at 224x224x512, kept for the backward
    monkeypatch.setattr(limits.memory, "available_bytes", lambda device: 2**30)
    with pytest.raises(TrialFailed, match=r"too large: training it needs about .* GiB of memory"):
        limits.check_fits(needed, "cpu", "training it")
    assert failure_reason(TrialFailed("too large: x")) == "too large: x"  # as it is, no type


def test_the_size_estimate_matches_the_real_student():
    student = StudentConfig("cnn", 1, 10, 16, 8, (StageConfig(2, 16, 3, 1, 1),))
    from autokd.students import build_student, count_params

    assert limits.student_size(student).params == count_params(build_student(student))


@pytest.mark.slow
def test_sigterm_stops_like_ctrl_c(tmp_path):
    args = [sys.executable, "-m", "autokd", *tiny_search(tmp_path, "termed", 60), "--epochs", "2"]
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_complete_trials(process, tmp_path / "runs" / "termed" / "study.db", 1)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 143, err
    assert "Traceback" not in err and "run the same command with --name termed" in err
    assert any(r["state"] == "COMPLETE" for r in _rows(tmp_path, "termed"))
    assert not any(r["state"] == "RUNNING" for r in _rows(tmp_path, "termed"))
