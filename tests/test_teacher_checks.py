"""A teacher worth distilling: one at chance stops the run before any trial, one its students
outgrow earns a warning (`autokd.teachers.checks`)."""

import math
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from autokd.cli import main
from autokd.errors import AutoKDError
from autokd.teachers.checks import (
    beats_chance,
    chance_bound,
    check_teacher_beats_chance,
    teacher_behind_note,
)
from autokd.teachers.prepared import PreparedTeacher
from tests.conftest import TINY_TEACHER
from tests.helpers import autokd, snapshot, tiny_search


def test_chance_is_one_over_the_classes_plus_two_standard_errors_of_a_guesser():
    # 10 classes, 360 images: 0.1 + 2 * sqrt(0.1 * 0.9 / 360) = 0.1 + 2 * 0.0158114
    assert chance_bound(10, 360) == pytest.approx(0.1316228, abs=1e-6)
    # 2 classes, 100 images: 0.5 + 2 * sqrt(0.25 / 100) = 0.6
    assert chance_bound(2, 100) == pytest.approx(0.6)
    assert not beats_chance(0.13, 10, 360) and beats_chance(0.14, 10, 360)
    assert not beats_chance(0.6, 2, 100) and beats_chance(0.61, 2, 100)
    assert chance_bound(10, 10**9) == pytest.approx(0.1, abs=1e-4)  # a large set: chance itself


def _teacher(accuracy: float, source: str, name: str = "resnet18") -> PreparedTeacher:
    return PreparedTeacher(name, nn.Identity(), accuracy, source, "0" * 16, 0.0, None)


@pytest.mark.parametrize(
    ("source", "advice"), [("file", "--teacher-weights"), ("trained", "--teacher-epochs")]
)
def test_a_teacher_at_chance_is_refused_in_one_line_with_its_likely_causes(source, advice):
    with pytest.raises(AutoKDError) as refused:
        check_teacher_beats_chance(_teacher(0.047, source), classes=10, images=360)
    message = str(refused.value)
    assert "teacher 'resnet18' reaches 0.0470" in message and "chance (1/10 = 0.1000" in message
    assert "up to 0.1316 on 360 images" in message and advice in message
    assert "\n" not in message
    check_teacher_beats_chance(_teacher(0.36, source), classes=10, images=360)  # learned: fine


def test_an_ensemble_is_judged_by_its_own_accuracy():
    ensemble = _teacher(0.1, "mixed", name="resnet18,resnet34")
    with pytest.raises(AutoKDError, match=r"teacher 'resnet18,resnet34' reaches 0\.1000"):
        check_teacher_beats_chance(ensemble, classes=10, images=360)


def test_a_teacher_behind_its_best_student_gets_a_note_with_what_to_do():
    note = teacher_behind_note("mobilenetv3_small_100", 0.58, 0.975)
    assert note is not None and "\n" not in note
    assert "'mobilenetv3_small_100' (0.5800) is 0.3950 below its best student (0.9750)" in note
    assert "--teacher-epochs" in note and "--teacher-weights" in note
    assert teacher_behind_note("resnet18", 0.96, 0.975) is None  # within the 0.02 margin
    assert teacher_behind_note("resnet18", 0.99, 0.975) is None  # ahead: as it should be
    assert teacher_behind_note("resnet18", 0.5, None) is None  # no complete student
    assert teacher_behind_note("resnet18", 0.5, math.nan) is None


def _untrained_weights(tmp_path, digits):
    from autokd.teachers.timm import create_teacher

    torch.manual_seed(0)
    path = tmp_path / "untrained.pt"
    torch.save(create_teacher(TINY_TEACHER, digits).state_dict(), path)
    return path


def test_an_untrained_teacher_stops_the_search_before_any_trial(tmp_path, digits, capsys):
    weights = _untrained_weights(tmp_path, digits)
    args = [*tiny_search(tmp_path, "noise", 3), "--teacher-weights", str(weights)]
    before = snapshot(tmp_path)
    assert main(args) == 2
    assert snapshot(tmp_path) == before
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "chance (1/10 = 0.1000" in err and "Traceback" not in err
    assert err.startswith(f"autokd: error: teacher '{TINY_TEACHER}' reaches ")
    assert not (tmp_path / "runs").exists()  # no run folder, no study, no trial


def test_a_teacher_behind_its_students_is_a_warning_at_the_end_of_the_search(capsys):
    from autokd.cli import _warn_if_teacher_behind

    teacher = SimpleNamespace(name="mobilenetv3_small_100", accuracy=0.58)
    _warn_if_teacher_behind(SimpleNamespace(teacher=teacher, best_accuracy=0.975))
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1
    assert err.startswith("autokd: warning: teacher 'mobilenetv3_small_100' (0.5800) is 0.3950")
    _warn_if_teacher_behind(SimpleNamespace(teacher=teacher, best_accuracy=0.59))
    assert capsys.readouterr().err == ""


@pytest.mark.slow
def test_the_command_refuses_an_untrained_teacher_in_one_line(tmp_path, digits):
    weights = _untrained_weights(tmp_path, digits)
    result = autokd(*tiny_search(tmp_path, "noise", 3), "--teacher-weights", str(weights))
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "chance" in result.stderr
    assert not (tmp_path / "runs").exists()
