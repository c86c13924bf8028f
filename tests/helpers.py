"""Running the real `autokd` command line from tests."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import TINY_TEACHER

# A search small enough for a test: timm's tiny test model as teacher, one epoch everywhere.
TINY_SEARCH = ["--teacher", TINY_TEACHER, "--teacher-epochs", "1", "--epochs", "1", "--quiet"]


def tiny_search(work: Path, name: str, budget: int) -> list[str]:
    """`search` arguments for a tiny run `name` whose runs and reports stay inside `work`."""
    return ["search", "--budget", str(budget), "--name", name, "--runs-dir", str(work / "runs"),
            "--reports-dir", str(work / "reports"), *TINY_SEARCH]  # fmt: skip


def autokd(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run `python -m autokd ARGS` (the console script's own entry point) in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "autokd", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=dict(os.environ),
        timeout=600,
    )


def snapshot(*folders: Path) -> dict[str, str]:
    """Hash of every file under `folders`: to prove that nothing was written or overwritten."""
    files = {}
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                files[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return files


CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync"]  # fmt: skip


def chromium() -> str | None:
    import shutil

    return shutil.which("chromium") or shutil.which("chromium-browser")


def render_in_chromium(page: Path, profile: Path) -> tuple[str, list[str]]:
    """Load `page` from file:// in headless Chromium; return the final DOM and console errors."""
    done = subprocess.run(
        [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--enable-logging=stderr",
         "--v=0", "--virtual-time-budget=10000", "--dump-dom", page.resolve().as_uri()],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    errors = [line for line in done.stderr.splitlines()
              if "CONSOLE" in line and ("Uncaught" in line or "Error" in line)]  # fmt: skip
    return done.stdout, errors
