"""The INT8 search's students against the float32 search's front quantized, in INT8 terms: one
panel per INT8 target, drawn from benchmarks/int8.py's results (nothing is timed again).

Usage: python benchmarks/plot_int8.py [--results int8_fashion_mnist] [--output docs/int8_fronts.png]
Writes an HTML page beside the results and, through headless Chromium, the PNG.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.helpers
from common import RESULTS, ROOT  # noqa: E402

from tests.helpers import screenshot  # noqa: E402


def figure(result: dict):
    from plotly.subplots import make_subplots

    searches = result["searches"]
    fig = make_subplots(rows=1, cols=len(searches), subplot_titles=list(searches))
    for column, (name, found) in enumerate(searches.items(), start=1):
        students = found["students"]
        quantized = found["fp32_front_quantized"]["students"]
        groups = [
            ("INT8 search, trained to the end", [s for s in students if not s["pareto"]], "#bbb"),
            ("INT8 search's front", [s for s in students if s["pareto"]], "#1f77b4"),
        ]
        for label, rows, colour in groups:
            fig.add_scatter(
                x=[s["latency_int8_ms"] for s in rows],
                y=[s["accuracy_int8"] for s in rows],
                mode="markers",
                marker={"color": colour, "size": 9},
                name=label,
                legendgroup=label,
                showlegend=column == 1,
                row=1,
                col=column,
            )
        fig.add_scatter(
            x=[q["latency_ms"] for q in quantized],
            y=[q["accuracy"] for q in quantized],
            mode="markers",
            marker={"color": "#d62728", "size": 10, "symbol": "x"},
            name="float32 search's front, quantized",
            legendgroup="quantized",
            showlegend=column == 1,
            row=1,
            col=column,
        )
        fig.update_xaxes(title_text=f"{name} latency (ms)", row=1, col=column)
        fig.update_yaxes(title_text="deployed accuracy", row=1, col=column)
    fig.update_layout(
        width=1300, height=560, template="plotly_white", legend={"orientation": "h", "y": -0.2}
    )
    return fig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default="int8_fashion_mnist")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "int8_fronts.png")
    args = parser.parse_args()
    result = json.loads((RESULTS / f"{args.results}.json").read_text())
    page = RESULTS / f"{args.results}.html"
    figure(result).write_html(page, include_plotlyjs=True)
    work = Path(tempfile.mkdtemp(prefix="autokd-plot-"))
    screenshot(page, args.output, work / "profile", size="1300,580")
    page.unlink()  # 4 MB of plotly.js; the PNG is what the docs show
    print(f"written to {args.output}")


if __name__ == "__main__":
    main()
