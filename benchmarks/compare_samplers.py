"""Acceptance benchmark of the reports: two searches on the default data with different samplers,
compared in one report, both pages checked in headless Chromium at 1,280 and 1,920 px (no
JavaScript error, no clipped axis title, legend entry or annotation, no table wider than the
page), screenshots written to docs/.

Usage: python benchmarks/compare_samplers.py [--budget 50] [--samplers tpe random]
Writes benchmarks/results/compare_samplers.json and docs/{report,compare}-{1280,1920}.png.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.helpers
from common import ROOT, autokd, save_result  # noqa: E402

from tests.helpers import layout_findings, render_in_chromium, screenshot  # noqa: E402

WIDTHS = (1280, 1920)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=int, default=50)
    parser.add_argument("--samplers", nargs=2, default=["tpe", "random"])
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="autokd-compare-"))
    runs = {}
    for sampler in args.samplers:
        started = time.perf_counter()
        autokd(
            "search",
            "--budget",
            str(args.budget),
            "--target",
            "cpu",
            "--sampler",
            sampler,
            "--name",
            sampler,
            "--quiet",
            cwd=work,
        )
        summary = json.loads((work / "runs" / sampler / "summary.json").read_text())
        runs[sampler] = {
            "wall_s": round(time.perf_counter() - started, 1),
            "front": summary["pareto_size"],
            "best": summary["best_accuracy"],
        }
    printed, _ = autokd(
        "compare", *(f"runs/{s}" for s in args.samplers), "-o", "reports/compare.html", cwd=work
    )
    pages = {
        "report": work / "reports" / f"{args.samplers[0]}.html",
        "compare": work / "reports" / "compare.html",
    }
    browser = {}
    for name, page in pages.items():
        dom, errors = render_in_chromium(page, work / f"profile-{name}")
        browser[name] = {"javascript_errors": errors, "plots_drawn": dom.count('class="main-svg"')}
        for width in WIDTHS:
            browser[name][f"layout_{width}"] = layout_findings(
                page, work / f"layout-{name}-{width}", width
            )
            screenshot(
                page,
                ROOT / "docs" / f"{name}-{width}.png",
                work / f"shot-{name}-{width}",
                size=f"{width},{2300 if name == 'report' else 1500}",
            )
    result = {
        "budget": args.budget,
        "runs": runs,
        "compare_output": printed.strip(),
        "browser": browser,
        "work": str(work),
    }
    save_result("compare_samplers", result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
