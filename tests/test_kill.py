"""SIGKILL at random moments, the same command each time: nothing completed is lost, nothing is
stuck, the budget is exact (tests/kill_harness.py; benchmarks/kill.py kills many more times)."""

from __future__ import annotations

from tests.helpers import autokd, tiny_search
from tests.kill_harness import kill_search, kill_train


def test_search_and_train_killed_at_random_moments_lose_nothing(tmp_path, monkeypatch):
    cache = tmp_path / "cache"  # its own, empty: the first kills land in the teacher's training
    monkeypatch.setenv("AUTOKD_CACHE_DIR", str(cache))
    run = tmp_path / "runs" / "killed"
    record = kill_search(
        tiny_search(tmp_path, "killed", 4), cwd=tmp_path, run=run, cache=cache, budget=4,
        kills=5, seed=1, max_delay=8.0,
    )  # fmt: skip
    assert record.problems == []
    assert record.kills == 5 and record.trials_lost == 0 and record.stuck == 0
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
