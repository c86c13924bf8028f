"""Run reports: compute the report's data as plain objects (`data`), then render HTML (`html`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autokd.cache import atomic_write
from autokd.records import RunFolder
from autokd.report.data import RunReportData, build_run_report
from autokd.report.html import render_run_report

__all__ = ["RunReportData", "build_run_report", "render_run_report", "write_run_report"]


def write_run_report(
    folder: RunFolder,
    *,
    summary: dict[str, Any] | None = None,
    reports_dir: Path = Path("reports"),
    output: Path | None = None,
) -> Path:
    """Render the run's report to `output` (default `<reports_dir>/<run name>.html`)."""
    path = output or Path(reports_dir) / f"{folder.name}.html"
    html = render_run_report(build_run_report(folder, summary=summary))
    atomic_write(path, lambda tmp: tmp.write_text(html, encoding="utf-8"))
    return path
