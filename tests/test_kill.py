"""SIGKILL at random moments, the same command each time: nothing completed is lost, nothing is
stuck, the budget is exact (tests/kill_harness.py; benchmarks/kill.py kills many more times)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import autokd, tiny_search
from tests.kill_harness import kill_search, kill_train


@pytest.mark.slow
def test_search_and_train_killed_at_random_moments_lose_nothing(tmp_path, monkeypatch):
    cache = tmp_path / "cache"  # its own, empty: the first kills land in the teacher's training
    monkeypatch.setenv("AUTOKD_CACHE_DIR", str(cache))
    run = tmp_path / "runs" / "killed"
    record = kill_search(
        tiny_search(tmp_path, "killed", 4), cwd=tmp_path, run=run, cache=cache, budget=4,
        kills=5, seed=1, max_delay=8.0,
    )  # fmt: skip
    assert record.problems == []
    # a restarted search may finish its budget before the next random kill: fewer kills then
    assert 2 <= record.kills <= 5 and record.trials_lost == 0 and record.stuck == 0
    assert record.complete_at_end == 4 and record.damaged_cache_files == 0
    assert len(record.moments) >= 2, record.moments

    bundle = tmp_path / "bundle"
    exported = autokd("export", str(run), "--pick", "knee", "-o", str(bundle))
    assert exported.returncode == 0, exported.stderr
    trained = kill_train(
        ["train", str(bundle), "--epochs", "30", "--quiet"], cwd=tmp_path,
        output=tmp_path / "trained", cache=cache, kills=3, seed=2, max_delay=7.0, epochs=30,
    )  # fmt: skip
    assert trained.problems == [] and trained.kills >= 2  # (a resumed run may finish first)


@pytest.mark.slow
def test_a_search_killed_while_its_study_is_created_is_started_afresh(tmp_path, monkeypatch):
    """The moment a random kill once hit: study.db made, its tables not yet. The study is made
    in a hidden file of the process and linked into place, so a kill before the link leaves a
    run that never started, whatever half-made file it left."""
    import os

    import autokd
    from autokd.records.folder import RunFolder
    from autokd.study import controller
    from tests.conftest import TINY_TEACHER

    link = os.link

    def killed_at_the_link(source, destination):
        if Path(destination).name == "study.db":
            raise SystemExit(137)
        link(source, destination)

    monkeypatch.setattr(controller.os, "link", killed_at_the_link)
    tiny = dict(name="k", runs_dir=tmp_path / "runs", teacher=TINY_TEACHER, teacher_epochs=2,
                epochs=1, pruner="none", budget=1, progress=False)  # fmt: skip
    with pytest.raises(SystemExit):
        autokd.search(**tiny)
    folder = RunFolder(tmp_path / "runs" / "k")
    assert folder.run_json.is_file() and not folder.study_db.exists()
    for leftover in (".study.db.4242.tmp", ".study.db.4242.tmp-journal"):  # SIGKILL's, no finally
        (folder.path / leftover).write_bytes(b"SQLite format 3\x00")
    assert folder.never_started()

    monkeypatch.setattr(controller.os, "link", link)
    run = autokd.search(**tiny)
    assert (run.trials["state"] == "COMPLETE").sum() == 1
