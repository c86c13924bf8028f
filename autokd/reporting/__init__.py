"""Reports: compute each page's data as plain objects (`data`, `compare`), then render it as one
self-contained HTML file (`run_page`, `compare_page`, sharing `page`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autokd.errors import AutoKDError
from autokd.records.cache import atomic_write
from autokd.records.folder import RunFolder
from autokd.records.summary import RunSummary
from autokd.reporting.compare import CompareData, build_compare
from autokd.reporting.compare_page import render_compare
from autokd.reporting.data import RunReportData, build_run_report
from autokd.reporting.run_page import render_run_report

__all__ = [
    "CompareData",
    "RunReportData",
    "build_compare",
    "build_run_report",
    "render_compare",
    "render_run_report",
    "write_compare_report",
    "write_run_report",
]


def _write_html(path: Path, html: str) -> Path:
    if path.is_dir():
        raise AutoKDError(f"report path '{path}' is a folder; give a file name ending in .html")
    atomic_write(path, lambda tmp: tmp.write_text(html, encoding="utf-8"))
    return path


def write_run_report(
    folder: RunFolder,
    *,
    study: Any = None,
    summary: RunSummary | None = None,
    reports_dir: Path = Path("reports"),
    output: Path | None = None,
) -> Path:
    """Render the run's report to `output` (default `<reports_dir>/<run name>.html`).

    `study` and `summary` are read from the run folder unless the caller has them already.
    """
    path = Path(output or Path(reports_dir) / f"{folder.name}.html")
    if path.is_dir():  # before the work, not only before the write
        raise AutoKDError(f"report path '{path}' is a folder; give a file name ending in .html")
    return _write_html(
        path, render_run_report(build_run_report(folder, study=study, summary=summary))
    )


def write_compare_report(
    folders: list[RunFolder], output: Path, *, allow_mixed_targets: bool = False
) -> tuple[Path, CompareData]:
    data = build_compare(folders, allow_mixed_targets=allow_mixed_targets)
    return _write_html(Path(output), render_compare(data)), data
