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
from tests.helpers import autokd, snapshot, tiny_search


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


# --------------------------------------------------------------------------------------------
# Outputs never swallow inputs


@pytest.mark.parametrize("where", ["the run", "the runs folder", "the work folder"])
def test_export_with_force_never_replaces_the_run_or_a_folder_around_it(work, capsys, where):
    run = work / "runs" / "kept"
    output = {"the run": run, "the runs folder": run.parent, "the work folder": work}[where]
    same = unchanged(work)
    err = one_line_error(capsys, "export", str(run), "-o", str(output), "--force")
    assert "which this command reads" in err
    assert same()


def test_train_with_force_never_replaces_the_bundle_it_trains(work, capsys):
    bundle = work / "bundle"
    same = unchanged(work)
    err = one_line_error(capsys, "train", str(bundle), "-o", str(bundle), "--force", "--quiet")
    assert "which this command reads" in err
    assert same()


def test_force_replaces_only_an_output_of_the_same_kind(work, capsys):
    notes = work / "notes"
    notes.mkdir()
    (notes / "thesis.txt").write_text("months of work")
    another_run = work / "elsewhere"
    shutil.copytree(work / "runs" / "kept", another_run)
    same = unchanged(work)
    run = str(work / "runs" / "kept")
    err = one_line_error(capsys, "export", run, "-o", str(notes), "--force")
    assert "holds something other than a bundle" in err
    err = one_line_error(capsys, "export", run, "-o", str(another_run), "--force")
    assert "holds a run" in err
    err = one_line_error(capsys, "train", str(work / "bundle"), "-o", str(notes), "--force")
    assert "holds something other than a training" in err
    assert same()


def test_a_second_command_writing_the_same_output_is_refused(work, capsys):
    from autokd.records.outputs import writing

    output = work / "students" / "twice"
    run = str(work / "runs" / "kept")
    with writing(output, Settings.from_environment().lock_dir):  # the first command, still busy
        err = one_line_error(capsys, "export", run, "-o", str(output))
    assert "another autokd command is writing" in err
    assert not output.exists()
    assert main(["export", run, "-o", str(output)]) == 0  # once the first has ended


# --------------------------------------------------------------------------------------------
# Bounded before spent


def _laughs(levels: int = 9) -> str:
    """A "billion laughs": each list holds nine aliases of the one before (9**levels values)."""
    lines = ["  l0: &l0 [ha, ha, ha, ha, ha, ha, ha, ha, ha]"]
    for i in range(1, levels):
        lines.append(f"  l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]")
    return "description: laughs\nfamily: cnn\nbomb:\n" + "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("description: " + "[" * 10_000 + "]" * 10_000 + "\n", "nested deeper than 32 levels"),
        ("description: " + "{a: " * 10_000 + "1" + "}" * 10_000 + "\n", "nested deeper than"),
        (_laughs(), "expands to more than 100,000 values"),
    ],
    ids=["lists-10000-deep", "mappings-10000-deep", "billion-laughs"],
)
def test_a_yaml_bomb_is_refused_in_milliseconds(work, capsys, text, message):
    import time

    space = work / "bomb.yaml"
    space.write_text(text)
    same = unchanged(work)
    started = time.perf_counter()
    assert message in one_line_error(capsys, *tiny_search(work, "new", 2), "--space", str(space))
    assert time.perf_counter() - started < 5  # the load itself: milliseconds (the rest: imports)
    assert same()


@pytest.mark.parametrize("size", ["1", "7", "4096"])
def test_an_input_size_outside_the_targets_bounds_is_one_line(work, capsys, size):
    same = unchanged(work)
    err = one_line_error(capsys, *tiny_search(work, "new", 2), "--input-size", size)
    assert "--input-size must be between 8 and 1024 pixels" in err and f"got {size}" in err
    assert same()


def _png_header(path: Path, width: int, height: int) -> None:
    """A PNG whose header claims `width` x `height` (what a decompression bomb's header says)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        check = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + check

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grey
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                     + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))  # fmt: skip


@pytest.mark.parametrize("side", [20_000, 12_000])
def test_an_oversized_image_in_a_folder_is_refused_with_its_name(work, capsys, side):
    from PIL import Image

    folder = work / "photos"
    for label in ("a", "b"):
        (folder / label).mkdir(parents=True)
        for i in range(3):
            Image.new("L", (8, 8), 40 * i).save(folder / label / f"{i}.png")
    _png_header(folder / "a" / "huge.png", side, side)
    same = unchanged(work)
    err = one_line_error(capsys, *tiny_search(work, "new", 2), "--data", f"folder:{folder}")
    assert f"huge.png' has {side**2 / 1e6:,.0f} million pixels" in err and "at most 50" in err
    assert "DecompressionBomb" not in capsys.readouterr().err
    assert same()


def test_a_folder_too_large_for_memory_at_its_size_is_refused_before_decoding(
    work, capsys, monkeypatch
):
    from PIL import Image

    from autokd.runtime import memory

    folder = work / "photos"
    for label in ("a", "b"):
        (folder / label).mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (8, 8), (40 * i, 0, 0)).save(folder / label / f"{i}.png")
    monkeypatch.setattr(memory, "available_bytes", lambda device: 2**20)  # 1 MiB free
    same = unchanged(work)
    search = [*tiny_search(work, "new", 2), "--data", f"folder:{folder}", "--input-size", "512"]
    err = one_line_error(capsys, *search)
    assert "6 images at 512x512 need about 4.5 MiB of memory" in err
    assert same()


# --------------------------------------------------------------------------------------------
# Caches verified by their contents


def _flip_bytes_inside(path: Path, at: float = 0.6, count: int = 64) -> None:
    """Flip `count` bytes at `at` of the file: inside the tensors' data of a torch zip file,
    which torch reads back without a complaint."""
    raw = bytearray(path.read_bytes())
    start = int(len(raw) * at)
    raw[start : start + count] = bytes(b ^ 0xFF for b in raw[start : start + count])
    path.write_bytes(bytes(raw))


@pytest.mark.parametrize("entry", ["teachers", "teacher_outputs"])
def test_a_damaged_cache_file_is_said_recomputed_and_replaced(tmp_path, capsys, monkeypatch, entry):
    import torch

    from autokd.records.cache import _SAID
    from autokd.teachers.prepared import tensors_digest

    cache = tmp_path / "cache"
    monkeypatch.setenv("AUTOKD_CACHE_DIR", str(cache))
    assert main(tiny_search(tmp_path, "first", 1)) == 0
    (cached,) = (cache / entry).glob("*.pt")
    intact = torch.load(cached, weights_only=True)
    _flip_bytes_inside(cached)
    capsys.readouterr()
    _SAID.clear()
    assert main(tiny_search(tmp_path, "second", 1)) == 0
    err = capsys.readouterr().err
    assert f"cache entry '{cached}' is damaged" in err and "checksum" in err
    assert "recomputing it" in err and err.count("is damaged") == 1
    replaced = torch.load(cached, weights_only=True)  # intact again: its contents, its digest
    named = replaced["state_dict"] if entry == "teachers" else {"logits": replaced["logits"]}
    if entry == "teacher_outputs":
        named.update({f"feature{i}": f for i, f in enumerate(replaced["features"])})
    assert replaced["digest"] == tensors_digest(named) and set(replaced) == set(intact)
    if entry == "teachers":  # the run records the teacher it used: the one trained again
        summary = json_of(tmp_path / "runs" / "second" / "summary.json")
        assert summary["teacher"]["weights_digest"] == replaced["digest"]
        assert summary["teacher"]["source"] == "trained"


def json_of(path: Path) -> dict:
    import json

    return json.loads(path.read_text())


def test_an_unreadable_cached_teacher_is_trained_again_not_a_stop(tmp_path, capsys, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("AUTOKD_CACHE_DIR", str(cache))
    assert main(tiny_search(tmp_path, "first", 1)) == 0
    (cached,) = (cache / "teachers").glob("*.pt")
    cached.write_bytes(cached.read_bytes()[:100])  # cut short: not a readable checkpoint
    assert main(tiny_search(tmp_path, "second", 1)) == 0
    assert "is damaged" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------
# Every end explained


def test_an_unwritable_reports_dir_is_found_before_training(work, capsys, monkeypatch):
    import os as os_module

    reports = work / "locked-reports"
    reports.mkdir()
    real_access = os_module.access
    monkeypatch.setattr(  # (as root, chmod does not stop a write: say the folder refuses)
        "autokd.study.controller.os.access",
        lambda path, mode: False if Path(path) == reports else real_access(path, mode),
    )
    same = unchanged(work)
    err = one_line_error(capsys, *tiny_search(work, "new", 2), "--reports-dir", str(reports))
    assert f"--reports-dir '{reports}' cannot be written" in err
    assert same() and not (work / "runs" / "new").exists()


def test_remapped_labels_are_said_in_one_line_and_recorded(tmp_path, capsys):
    from autokd.data.sources import load_npz

    archive = tmp_path / "odd.npz"
    np.savez(archive, x=np.zeros((6, 8, 8), np.uint8), y=np.array([-1, 5, 1000, -1, 5, 1000]))
    raw = load_npz(archive)
    assert raw.labels.tolist() == [0, 1, 2, 0, 1, 2] and raw.class_names == ("-1", "5", "1000")
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "its labels -1, 5, 1000 are classes 0 to 2" in err
    np.savez(archive, x=np.zeros((4, 8, 8), np.uint8), y=np.array([0, 1, 0, 1]))
    load_npz(archive)
    assert capsys.readouterr().err == ""  # 0 .. K-1 already: nothing to say


def test_a_full_cache_disk_while_saving_the_teacher_is_one_line_naming_the_file(
    tmp_path, capsys, monkeypatch
):
    import torch

    def full_disk(obj, path, *args, **kwargs):  # what torch.save raises when no byte fits
        raise RuntimeError(
            "[enforce fail at inline_container.cc:603] . PytorchStreamWriter failed writing "
            "file data/0: file write failed"
        )

    monkeypatch.setenv("AUTOKD_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(torch, "save", full_disk)
    code = main(tiny_search(tmp_path, "full", 1))
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "Traceback" not in err
    assert "cannot write or read '" in err and "/teachers/" in err and "is the disk full?" in err
    assert not list((tmp_path / "cache" / "teachers").glob("*"))  # no half-written file left


@pytest.fixture
def small_disk(tmp_path):
    """A 4 MiB file system of its own (tmpfs), for a real full disk; skipped where this user
    cannot mount one (root in a container that allows it, as CI runs)."""
    import subprocess

    mount = tmp_path / "small"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)],
                          capture_output=True)  # fmt: skip
    if made.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(disk: Path, leave_kib: int) -> Path:
    """Fill `disk` but `leave_kib` KiB; returns the filler to delete."""
    filler = disk / "filler"
    free = shutil.disk_usage(disk).free // 1024
    with filler.open("wb") as out:
        out.write(b"\0" * max(0, free - leave_kib) * 1024)
    return filler


@pytest.mark.slow
@pytest.mark.parametrize("leave_kib", [8, 300], ids=["storage-full", "full-mid-search"])
def test_a_full_runs_disk_is_one_line_naming_a_path_and_every_trial_ends_with_a_reason(
    small_disk, tmp_path, capsys, leave_kib
):
    import optuna

    def search(budget: int) -> int:
        args = tiny_search(tmp_path, "full", budget)
        return main([*args, "--runs-dir", str(small_disk / "runs")])  # the last flag wins

    assert search(1) == 0
    filler = _fill(small_disk, leave_kib)
    # in a process of its own, as a user runs it: the trial it could not close has an owner
    # that is gone when the run is next opened
    ended = autokd(*tiny_search(tmp_path, "full", 3), "--runs-dir", str(small_disk / "runs"))
    err = ended.stderr
    assert ended.returncode == 1 and err.count("\n") == 1 and "Traceback" not in err, err
    assert f"cannot write or read '{small_disk}/runs/full/" in err and "space" in err, err
    filler.unlink()  # space again: the run continues, and says why every trial failed
    assert search(3) == 0
    storage = f"sqlite:///{small_disk / 'runs' / 'full' / 'study.db'}"
    trials = optuna.load_study(study_name="full", storage=storage).trials
    assert sum(t.state == optuna.trial.TrialState.COMPLETE for t in trials) == 3
    assert not [t for t in trials if t.state == optuna.trial.TrialState.RUNNING]
    failed = [t for t in trials if t.state == optuna.trial.TrialState.FAIL]
    assert all(t.user_attrs.get("fail_reason") for t in failed), [t.user_attrs for t in failed]


@pytest.mark.slow
def test_paths_with_control_characters_are_printed_escaped(tmp_path, capsys):
    odd = tmp_path / "new\nline\x1b[31m"  # a newline and a terminal colour in a folder name
    code = main([*tiny_search(tmp_path, "odd", 1), "--runs-dir", str(odd / "runs"),
                 "--reports-dir", str(odd / "reports")])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0 and (odd / "runs" / "odd" / "study.db").is_file()
    assert "\x1b" not in out and "\nline" not in out, out
    assert f"run:    {tmp_path}/new\\nline\\x1b[31m/runs/odd/" in out, out
    assert f"report: {tmp_path}/new\\nline\\x1b[31m/reports/odd.html" in out, out
