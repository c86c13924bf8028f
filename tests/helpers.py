"""Running the real `autokd` command line from tests."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.conftest import TINY_TEACHER

# A search small enough for a test: timm's tiny test model as teacher, one epoch for every
# student. The teacher trains two: after one it reaches 0.10-0.36 on the digits, by seed and
# subset, which a run may rightly refuse as no better than chance (after two: 0.79-0.88).
# One worker: reproducible trials (parallel workers interleave), and no worker start-up to wait for.
TINY_SEARCH = [
    "--teacher",
    TINY_TEACHER,
    "--teacher-epochs",
    "2",
    "--epochs",
    "1",
    "--workers",
    "1",
    "--pruner",  # tests that raise --epochs count complete trials (test_stopping turns it on)
    "none",
    "--quiet",
]


SMALL_SPACE = """\
family: cnn
student:
  stages: 2
  stem_width: 8
  depth: 1
  width: {choices: [8, 16]}
  kernel: 3
  dilation: 1
distill:
  temperature: 4.0
  alpha: 0.5
  feature_weight: 1.0
%s
train:
  lr: 0.01
"""


def write_space(folder: Path, *, extra_distill: str = "", name: str = "space.yaml") -> Path:
    """A small `cnn` space file; `extra_distill` lines are added under `distill:`."""
    lines = "\n".join("  " + line for line in extra_distill.splitlines())
    path = folder / name
    path.write_text(SMALL_SPACE % lines)
    return path


def tiny_search(work: Path, name: str, budget: int) -> list[str]:
    """`search` arguments for a tiny run `name` whose runs and reports stay inside `work`."""
    return [
        "search",
        "--budget",
        str(budget),
        "--name",
        name,
        "--runs-dir",
        str(work / "runs"),
        "--reports-dir",
        str(work / "reports"),
        *TINY_SEARCH,
    ]


def autokd(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `python -m autokd ARGS` (the console script's own entry point) in a subprocess, with
    `env` added to this process's environment."""
    return subprocess.run(
        [sys.executable, "-m", "autokd", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        timeout=600,
    )


def wait_for_complete_trials(process: subprocess.Popen, db: Path, count: int) -> None:
    """Wait (at most 5 minutes) until the search `process` has `count` complete trials in the
    study `db`. Read with SQLite alone, read-only: Optuna's own reader creates the tables that
    are missing, and racing the search that is creating them fails one or the other."""
    import sqlite3
    import time

    deadline = time.time() + 300
    while True:
        assert process.poll() is None and time.time() < deadline
        if db.is_file():
            try:
                with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as connection:
                    (complete,) = connection.execute(
                        "SELECT COUNT(*) FROM trials WHERE state = 'COMPLETE'"
                    ).fetchone()
                if complete >= count:
                    return
            except sqlite3.OperationalError:  # the search is still making its tables
                pass
        time.sleep(0.3)


def snapshot(*folders: Path) -> dict[str, str]:
    """Hash of every file under `folders`: to prove that nothing was written or overwritten."""
    files = {}
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                files[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return files


CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium() -> str | None:
    import shutil

    return shutil.which("chromium") or shutil.which("chromium-browser")


def dump_dom(page: Path, profile: Path, *flags: str) -> subprocess.CompletedProcess:
    """Headless Chromium loads `page` from file:// (with `flags`) and prints its final DOM."""
    return subprocess.run(
        [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *flags, "--dump-dom",
         page.resolve().as_uri()],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def render_in_chromium(page: Path, profile: Path) -> tuple[str, list[str]]:
    """Load `page` from file:// in headless Chromium; return the final DOM and console errors."""
    done = dump_dom(
        page, profile, "--enable-logging=stderr", "--v=0", "--virtual-time-budget=10000"
    )
    errors = [
        line
        for line in done.stderr.splitlines()
        if "CONSOLE" in line and ("Uncaught" in line or "Error" in line)
    ]
    return done.stdout, errors


def fake_run(
    folder: Path,
    points: list[tuple[float, float, float]],
    *,
    sampler: str = "tpe",
    target: str = "cpu",
    cpu: str = "Test CPU",
    threads: int = 1,
    trial_attrs: dict[int, dict[str, Any]] | None = None,
) -> Path:
    """A run folder with the study, run.json and summary.json autokd writes, written by autokd's
    own writers (records and `write_json`), holding complete trials with the given (accuracy,
    latency_ms, flops), and `trial_attrs` added to the user attributes of trial n (a flag):
    for report tests with known numbers."""
    import optuna

    from autokd.distill.config import KDConfig, TrainConfig
    from autokd.records.attrs import OBJECTIVES
    from autokd.records.cache import write_json
    from autokd.records.folder import RunFolder
    from autokd.records.run import RunRecord
    from autokd.records.summary import (
        DataRecord,
        RunSummary,
        SpaceRecord,
        TargetRecord,
        TeacherRecord,
    )
    from autokd.students.cnn import StageConfig, StudentConfig
    from autokd.study.trial import TrialRecord

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    run = RunFolder(folder)
    folder.mkdir(parents=True)
    study = optuna.create_study(
        study_name=run.study_name, storage=run.storage_url, directions=[d for _, d in OBJECTIVES]
    )
    for number, (accuracy, latency, flops) in enumerate(points):
        study.add_trial(
            optuna.trial.create_trial(
                values=[accuracy, latency, flops],
                params={
                    "stages": 1 + number % 2,
                    "lr": 0.01 * (1 + number % 3),
                    "alpha": 0.1 * (number % 5),
                },
                distributions={
                    "stages": optuna.distributions.IntDistribution(1, 2),
                    "lr": optuna.distributions.FloatDistribution(0.001, 0.1),
                    "alpha": optuna.distributions.FloatDistribution(0.0, 1.0),
                },
                user_attrs={
                    "latency_iqr_ms": latency / 50,
                    "params": 1000 + number,
                    "architecture": f"8 | 1x8 k3 d1 s1 (#{number})",
                    **TrialRecord(
                        StudentConfig("cnn", 1, 10, 16, 8, (StageConfig(1, 8, 3, 1, 1),)),
                        KDConfig(temperature=2.0, alpha=0.5, feature_weights=(0.0,)),
                        TrainConfig(epochs=1, lr=0.01, batch_size=64, seed=number),
                    ).attrs(),
                    **(trial_attrs or {}).get(number, {}),
                },
            )
        )
    identity = {"space": "cnn", "target": target, "sampler": sampler}
    record = RunRecord(
        name=folder.name,
        created="2026-01-01",
        budget=len(points),
        first_budget=len(points),
        identity=identity,
    )
    write_json(run.run_json, record.to_dict())
    summary = RunSummary(
        name=folder.name,
        budget=len(points),
        trials={"complete": len(points)},
        sampler=sampler,
        seed=0,
        epochs=1,
        batch_size=64,
        space=SpaceRecord("cnn", "search_spaces/cnn.yaml", "d1"),
        teacher=TeacherRecord("resnet18", 0.99, "w1", source="cache", epochs=20),
        data=DataRecord("digits", 1437, 360, 1, 10, 16, "k1"),
        target=TargetRecord(target, "torch", "cpu", threads, 1, 16, 1, 0.1, "test target"),
        environment={"cpu": cpu, "torch": "test", "physical_cores": 1},
        latency_protocol="test protocol",
        flops_convention="test convention",
        best_accuracy=max(p[0] for p in points),
        updated="2026-01-01",
    )
    write_json(run.summary_json, summary.to_dict())
    return folder


def screenshot(page: Path, output: Path, profile: Path, *, size: str = "1400,1800") -> Path:
    """A PNG of `page` as headless Chromium draws it, for people to look at."""
    output.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            chromium(),
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            f"--window-size={size}",
            "--virtual-time-budget=10000",
            f"--screenshot={output.resolve()}",
            page.resolve().as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=True,
    )
    return output


def quick_target(name: str, **changes):
    """A shipped target timed briefly (0.02 s of blocks, 2 warm-up calls): tests check that a
    backend measures, not how well."""
    from autokd.measure.targets import load_target

    return dataclasses.replace(load_target(name), **{"min_run_time": 0.02, "warmup": 2, **changes})


# Run in the page once plotly has drawn and been fitted: every axis title, plot title, legend
# entry and annotation must lie inside its plot's cell and SVG, and no table may need a
# horizontal scrollbar. The findings go into <body data-layout="..."> for --dump-dom to carry.
_LAYOUT_CHECK = """<script>
window.addEventListener("load", () => setTimeout(() => {
  const found = {clipped: [], overflowing: [], plots: 0};
  const within = (r, b) => r.left >= b.left - 1 && r.right <= b.right + 1 &&
                           r.top >= b.top - 1 && r.bottom <= b.bottom + 1;
  document.querySelectorAll(".plot").forEach((cell, plot) => {
    const svg = cell.querySelector(".main-svg");
    if (!svg) return;
    found.plots += 1;
    const boxes = [cell.getBoundingClientRect(), svg.getBoundingClientRect()];
    const parts = ".g-xtitle, .g-ytitle, .g-gtitle, .legend .traces, .annotation";
    cell.querySelectorAll(parts).forEach((el) => {
      const r = el.getBoundingClientRect();
      if (r.width > 0 && !boxes.every((b) => within(r, b))) {
        found.clipped.push(`plot ${plot}: ${el.getAttribute("class")} '${el.textContent}'`);
      }
    });
  });
  document.querySelectorAll(".scroll").forEach((box, index) => {
    if (box.scrollWidth > box.clientWidth + 1) {
      found.overflowing.push(`table ${index}: ${box.scrollWidth} px in ${box.clientWidth}`);
    }
  });
  document.body.setAttribute("data-layout", JSON.stringify(found));
}, 1500));
</script>"""


def layout_findings(page: Path, profile: Path, width: int) -> dict[str, Any]:
    """What `_LAYOUT_CHECK` finds in `page` drawn by headless Chromium `width` pixels wide."""
    import html as html_module
    import json
    import re

    checked = profile.parent / f"{page.stem}-checked-{width}.html"
    checked.write_text(page.read_text().replace("</body>", _LAYOUT_CHECK + "</body>"))
    done = dump_dom(checked, profile, f"--window-size={width},1200", "--virtual-time-budget=15000")
    match = re.search(r'data-layout="([^"]*)"', done.stdout)
    assert match, f"the layout check did not run in Chromium: {done.stderr[-500:]}"
    return json.loads(html_module.unescape(match.group(1)))
