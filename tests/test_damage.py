"""Damaged and hostile input: one line, exit code 2, and nothing that existed before changed.

Each case starts from a real tiny run (made once for the module), damages one thing a user could
hand autokd, and runs the real command line: the error is one line with no traceback, and a hash
snapshot of the work folder and the cache is the same afterwards.
"""

from __future__ import annotations

import math
import os
import pickle
import shutil
import stat
from pathlib import Path

import numpy as np
import pytest
import yaml

from autokd.cli import main
from autokd.data.sources import SourceRequest, load_cifar
from autokd.errors import AutoKDError
from autokd.runtime.settings import Settings
from tests.helpers import snapshot, tiny_search


@pytest.fixture(scope="module")
def made_run(tmp_path_factory):
    """A finished tiny run and an exported bundle of its knee student, never changed."""
    work = tmp_path_factory.mktemp("damage")
    assert main(tiny_search(work, "kept", 2)) == 0
    bundle = work / "bundle"
    export = ["export", str(work / "runs" / "kept"), "--pick", "knee", "-o", str(bundle)]
    assert main(export) == 0
    return work


@pytest.fixture
def work(made_run, tmp_path):
    """A private copy of the made run, free to damage."""
    copy = tmp_path / "work"
    shutil.copytree(made_run, copy)
    return copy


def one_line_error(capsys, *args: str) -> str:
    """Run the command; it must fail with exit code 2 and one line on stderr. The line."""
    code = main(list(args))
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("autokd: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    return err


def unchanged(work: Path):
    """Snapshot the work folder and the cache now; call the result to compare later."""
    before = snapshot(work, Settings.from_environment().cache_dir)
    return lambda: snapshot(work, Settings.from_environment().cache_dir) == before


# --------------------------------------------------------------------------------------------
# A damaged study.db: the run is refused, the file kept as it was


@pytest.mark.slow
@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda db: db.write_bytes(b""), "is not a SQLite database (empty or damaged)"),
        (lambda db: db.write_bytes(b"garbage" * 100), "is not a SQLite database"),
        (lambda db: db.write_bytes(db.read_bytes()[:5000]), "is a damaged SQLite database"),
    ],
    ids=["empty", "garbage", "truncated"],
)
def test_a_damaged_study_db_is_refused_and_kept(work, capsys, damage, message):
    db = work / "runs" / "kept" / "study.db"
    damage(db)
    same = unchanged(work)
    assert message in one_line_error(capsys, *tiny_search(work, "kept", 3))
    assert message in one_line_error(capsys, "report", str(work / "runs" / "kept"))
    assert same()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to read-only files")
def test_a_read_only_study_db_is_refused_before_anything_is_written(work, capsys):
    run = work / "runs" / "kept"
    (run / "study.db").chmod(stat.S_IRUSR)
    same = unchanged(work)
    assert "is read-only" in one_line_error(capsys, *tiny_search(work, "kept", 3))
    assert same()


def test_a_read_only_study_db_is_refused_even_for_root(work, capsys, monkeypatch):
    """os.access answers for the real user; as root, a read-only file is simulated."""
    real_access = os.access
    study_db = work / "runs" / "kept" / "study.db"
    monkeypatch.setattr(
        os,
        "access",
        lambda path, mode: False if Path(path) == study_db else real_access(path, mode),
    )
    same = unchanged(work)
    assert "is read-only" in one_line_error(capsys, *tiny_search(work, "kept", 3))
    assert same()


# --------------------------------------------------------------------------------------------
# Damaged run files, weights and bundles


def test_a_summary_missing_a_key_is_one_line(work, capsys):
    summary = work / "runs" / "kept" / "summary.json"
    text = summary.read_text().replace('"data":', '"dataX":')
    summary.write_text(text)
    same = unchanged(work)
    err = one_line_error(capsys, "report", str(work / "runs" / "kept"))
    assert "summary.json lacks key 'data'" in err and "--name kept" in err
    assert same()


def test_corrupted_weights_are_one_line_at_export(work, capsys):
    weights = next((work / "runs" / "kept" / "weights").glob("trial-*.pt"))
    weights.write_bytes(b"not a torch file")
    same = unchanged(work)
    err = one_line_error(
        capsys, "export", str(work / "runs" / "kept"), "--trial", weights.stem.split("-")[1],
        "-o", str(work / "out"),
    )  # fmt: skip
    assert f"weights file '{weights}' cannot be read" in err
    assert same() and not (work / "out").exists()


@pytest.mark.parametrize(
    ("key_path", "value", "message"),
    [
        (("student", "stages", 0, "width"), -5, "key 'student.stages[0].width' must be an integer"),
        (("train", "lr"), math.nan, "key 'train.lr' must be a number in [1e-06, 10], got nan"),
        (("student", "stem_width"), 10**7, "key 'student.stem_width' must be an integer"),
        (("distill", "alpha"), "high", "is not a valid autokd bundle description"),
    ],
)
def test_a_bundle_with_bad_values_is_refused_by_train(work, capsys, key_path, value, message):
    description_file = work / "bundle" / "student.yaml"
    description = yaml.safe_load(description_file.read_text())
    place = description
    for key in key_path[:-1]:
        place = place[key]
    place[key_path[-1]] = value
    description_file.write_text(yaml.safe_dump(description))
    same = unchanged(work)
    err = one_line_error(capsys, "train", str(work / "bundle"), "--epochs", "1", "--quiet")
    assert message in err and str(description_file) in err
    assert same()


def test_a_bundle_yaml_with_a_key_given_twice_is_refused(work, capsys):
    description_file = work / "bundle" / "student.yaml"
    description_file.write_text(description_file.read_text() + "student: {}\n")
    err = one_line_error(capsys, "train", str(work / "bundle"), "--epochs", "1", "--quiet")
    assert "key 'student' is given twice" in err


# --------------------------------------------------------------------------------------------
# Bad values in the files a search reads


TARGET = "description: test\nbackend: torch\n"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("batch_size: 100000\n", "key 'batch_size' must be an integer in [1, 1024]"),
        ("input_size: 100000\n", "key 'input_size' must be an integer in [8, 1024]"),
        ("threads: 1000000\n", "key 'threads' must be 'all' or an integer in [1, 1024]"),
        ("warmup: 100000000\n", "key 'warmup' must be an integer in [0, 1000]"),
        ("warmup: 1\nwarmup: 2\n", "key 'warmup' is given twice"),
    ],
)
def test_target_values_are_bounded(work, capsys, extra, message):
    target = work / "target.yaml"
    target.write_text(TARGET + extra)
    same = unchanged(work)
    assert message in one_line_error(capsys, *tiny_search(work, "new", 2), "--target", str(target))
    assert same()


def test_a_space_whose_largest_student_is_huge_is_refused_before_training(work, capsys):
    space = yaml.safe_load(Path("search_spaces/cnn.yaml").read_text())
    space["student"]["width"] = 2048
    space["student"]["depth"] = 16
    path = work / "huge.yaml"
    path.write_text(yaml.safe_dump(space))
    same = unchanged(work)
    err = one_line_error(capsys, *tiny_search(work, "new", 2), "--space", str(path))
    assert "the largest student this space allows" in err and "at most 100,000,000" in err
    assert same() and not (work / "runs" / "new").exists()


def test_a_space_file_name_that_is_not_utf8_is_one_line(work, capsys):
    name = os.fsdecode(b"space-\xff.yaml")
    shutil.copy("search_spaces/cnn.yaml", work / name)
    err = one_line_error(capsys, *tiny_search(work, "new", 2), "--space", str(work / name))
    assert "is not valid UTF-8" in err and "\\udcff" in err


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "run name '' must start with a letter or digit"),
        ("run\nname", "run name 'run\\nname' must start"),
        ("x" * 200, "at most 128 characters"),
    ],
)
def test_bad_run_names_are_one_line(work, capsys, name, message):
    same = unchanged(work)
    assert message in one_line_error(capsys, *tiny_search(work, name, 2))
    assert same()


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"x": np.zeros((0, 8, 8)), "y": np.zeros(0, dtype=int)}, "x holds no pixels"),
        ({"x": np.zeros((4, 8, 8)), "y": np.zeros(4, dtype=int)}, "y holds a single class"),
        ({"x": np.zeros((4, 8, 8), complex), "y": np.arange(4)}, "must hold real numbers"),
    ],
)
def test_bad_npz_arrays_are_one_line(work, capsys, arrays, message):
    path = work / "data.npz"
    np.savez(path, **arrays)
    same = unchanged(work)
    assert message in one_line_error(capsys, *tiny_search(work, "new", 2), "--data", f"npz:{path}")
    assert same()


def test_a_truncated_npz_is_one_line(work, capsys):
    path = work / "data.npz"
    np.savez(path, x=np.random.rand(50, 8, 8), y=np.arange(50) % 3)
    path.write_bytes(path.read_bytes()[:1000])
    err = one_line_error(capsys, *tiny_search(work, "new", 2), "--data", f"npz:{path}")
    assert f"'{path}'" in err


# --------------------------------------------------------------------------------------------
# Hostile files


class _RunsCode:
    def __reduce__(self):
        return (os.system, ("touch hacked",))


def test_a_cifar_batch_that_would_run_code_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for i in range(1, 6):
        batch = {b"data": _RunsCode(), b"labels": [0]}
        (folder / f"data_batch_{i}").write_bytes(pickle.dumps(batch))
    with pytest.raises(AutoKDError, match=r"is not a CIFAR python batch .*calls posix.system"):
        load_cifar(SourceRequest(data_dir=tmp_path, download=False), hundred=False)
    assert not (tmp_path / "hacked").exists()


def test_validate_writes_its_report_where_the_command_line_says(work, capsys, tmp_path):
    """A run folder received from someone else names a report path in its summary.json: autokd
    never writes there."""
    summary = work / "runs" / "kept" / "summary.json"
    elsewhere = tmp_path / "elsewhere" / "owned.html"
    summary.write_text(summary.read_text().replace('"report":', f'"report": "{elsewhere}", "x":'))
    reports = work / "my-reports"
    code = main(
        ["validate", str(work / "runs" / "kept"), "--top-k", "1", "--epochs", "1", "--workers",
         "1", "--quiet", "--reports-dir", str(reports)]
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    assert (reports / "kept.html").is_file()
    assert not elsewhere.exists()


# --------------------------------------------------------------------------------------------
# Runs stopped at the worst moment


def test_a_run_killed_before_its_study_existed_starts_again(work, capsys):
    """SIGKILL while the teacher trained left run.json alone: the same command runs."""
    run = work / "runs" / "early"
    (run / "weights").mkdir(parents=True)
    (run / "run.json").write_text('{"name": "early"}')
    (run / ".run.json.abc.tmp").write_text("half")
    assert main(tiny_search(work, "early", 1)) == 0
    assert (run / "study.db").is_file()


def test_a_folder_with_other_files_is_still_not_taken_over(work, capsys):
    run = work / "runs" / "mine"
    run.mkdir(parents=True)
    (run / "run.json").write_text("{}")
    (run / "notes.txt").write_text("keep me")
    assert "exists and is not an autokd run" in one_line_error(
        capsys, *tiny_search(work, "mine", 1)
    )
    assert (run / "notes.txt").read_text() == "keep me"


@pytest.mark.slow
def test_the_largest_seed_can_be_continued(tmp_path):
    args = [*tiny_search(tmp_path, "big-seed", 1), "--seed", str(2**32 - 1)]
    assert main(args) == 0
    args[args.index("--budget") + 1] = "2"
    assert main(args) == 0


@pytest.mark.slow
@pytest.mark.usefixtures("teacher_on_noise")
def test_user_strings_are_escaped_in_both_pages(tmp_path, capsys):
    """A description, a file path and a data path holding markup reach the pages as text."""
    hostile = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    space = yaml.safe_load(Path("search_spaces/cnn.yaml").read_text())
    space["description"] = hostile
    odd = tmp_path / "<b>odd"  # a folder name with markup
    odd.mkdir()
    (odd / "space.yaml").write_text(yaml.safe_dump(space))
    (odd / "target.yaml").write_text(f"description: '{hostile}'\nthreads: 1\nmin_run_time: 0.02\n")
    np.savez(odd / "data.npz", x=np.random.rand(60, 8, 8), y=np.arange(60) % 3)
    for name in ("a", "b"):
        args = [*tiny_search(tmp_path, name, 2), "--space", str(odd / "space.yaml")]
        args += ["--target", str(odd / "target.yaml"), "--data", f"npz:{odd / 'data.npz'}"]
        assert main(args) == 0, capsys.readouterr().err
    compare = tmp_path / "compare.html"
    runs = [str(tmp_path / "runs" / n) for n in ("a", "b")]
    assert main(["compare", *runs, "-o", str(compare)]) == 0
    report = (tmp_path / "reports" / "a.html").read_text()
    for text in (report, compare.read_text()):
        assert "<script>alert" not in text and "<img src=x" not in text and "<b>odd" not in text
    assert "&lt;script&gt;alert" in report and "&lt;b&gt;odd" in report  # shown, as text


@pytest.mark.slow
def test_two_searches_on_one_run_share_its_budget(tmp_path):
    """Two processes started on the same run name join it: exactly the budget, not twice."""
    import subprocess
    import sys

    import optuna

    args = [sys.executable, "-m", "autokd", *tiny_search(tmp_path, "shared", 6)]
    first = subprocess.Popen(args, stderr=subprocess.PIPE, text=True)
    second = subprocess.Popen(args, stderr=subprocess.PIPE, text=True)
    errors = [first.communicate(timeout=600)[1], second.communicate(timeout=600)[1]]
    assert (first.returncode, second.returncode) == (0, 0), errors
    db = tmp_path / "runs" / "shared" / "study.db"
    study = optuna.load_study(study_name=None, storage=f"sqlite:///{db}")
    complete = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    assert len(complete) == 6
    assert len({t.number for t in complete}) == 6
