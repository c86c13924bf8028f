"""Run reports: compute the report's data as plain objects (`data`), then render HTML (`html`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autokd.cache import atomic_write
from autokd.errors import AutoKDError
from autokd.records import RunFolder
from autokd.report.data import RunReportData, build_run_report
from autokd.report.html import render_run_report

__all__ = ["RunReportData", "build_run_report", "render_run_report", "write_run_report"]


def write_run_report(
    folder: RunFolder,
    *,
    study: Any = None,
    summary: dict[str, Any] | None = None,
    reports_dir: Path = Path("reports"),
    output: Path | None = None,
) -> Path:
    """Render the run's report to `output` (default `<reports_dir>/<run name>.html`).

    `study` and `summary` are read from the run folder unless the caller has them already.
    """
    path = Path(output or Path(reports_dir) / f"{folder.name}.html")
    if path.is_dir():
        raise AutoKDError(f"report path '{path}' is a folder; give a file name ending in .html")
    html = render_run_report(build_run_report(folder, study=study, summary=summary))
    atomic_write(path, lambda tmp: tmp.write_text(html, encoding="utf-8"))
    return path
