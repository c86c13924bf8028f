"""How fast a report with 500 trials is written and opened: `autokd report` on a run holding 500
complete trials, then the page loaded in headless Chromium (its start-up on a blank page is
measured too and taken off).

Usage: python benchmarks/report_load.py [--trials 500]
Writes benchmarks/results/report_load.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.helpers
from common import save_result  # noqa: E402

from tests.helpers import CHROMIUM_FLAGS, chromium, fake_run  # noqa: E402


def browser_seconds(page: Path, profile: Path) -> float:
    """Wall time of headless Chromium loading `page` and printing its DOM once it has loaded."""
    started = time.perf_counter()
    subprocess.run(
        [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom", page.as_uri()],
        capture_output=True,
        check=True,
        timeout=120,
    )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=500)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="autokd-report-load-"))
    rng = np.random.default_rng(0)
    latency = rng.uniform(0.08, 0.8, args.trials)
    accuracy = np.clip(1 - 0.02 / latency * rng.uniform(0.5, 1.5, args.trials), 0.5, 1.0)
    flops = np.round(latency * 5e6 * rng.uniform(0.7, 1.3, args.trials))
    run = fake_run(work / "big", list(zip(accuracy, latency, flops, strict=True)))
    page = work / "big.html"
    started = time.perf_counter()
    subprocess.run(["autokd", "report", str(run), "-o", str(page)], check=True, capture_output=True)
    render_s = time.perf_counter() - started
    blank = work / "blank.html"
    blank.write_text("<!DOCTYPE html><html><body>blank</body></html>")
    loads, blanks = [], []
    for attempt in range(3):
        blanks.append(browser_seconds(blank, work / f"p-blank-{attempt}"))
        loads.append(browser_seconds(page, work / f"p-page-{attempt}"))
    result = {
        "trials": args.trials,
        "render_s": round(render_s, 2),
        "html_mb": round(page.stat().st_size / 1e6, 2),
        "browser_load_s": round(statistics.median(loads) - statistics.median(blanks), 2),
        "browser_total_s": round(statistics.median(loads), 2),
        "browser_blank_s": round(statistics.median(blanks), 2),
    }
    save_result("report_load", result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
