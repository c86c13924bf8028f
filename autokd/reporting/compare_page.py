"""Render `CompareData`: several runs' fronts overlaid on the same axes."""

from __future__ import annotations

import html
from typing import Any

import pandas as pd

from autokd.reporting.compare import CompareData
from autokd.reporting.data import COST_AXES
from autokd.reporting.page import RUN_COLOURS, cards, figures, layout, page, table
from autokd.reporting.run_page import accuracy_range, latency_axis_end
from autokd.study.tables import LATENCY_DOUBTS


def _run_label(data: CompareData, index: int) -> str:
    run = data.runs[index]
    return f"{run.name} [{run.measured_on}]" if data.mixed_targets else run.name


def overlay_figure(data: CompareData, cost: str, label: str) -> Any:
    """Every run's trials in its own colour, faded, with its accuracy-`cost` front on top."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for index, run in enumerate(data.runs):
        colour, name = RUN_COLOURS[index % len(RUN_COLOURS)], _run_label(data, index)
        front = run.complete.set_index("number").loc[run.fronts[cost]].reset_index()
        hover = [
            f"{run.name}, trial {int(n)}<br>accuracy {a:.4f}<br>{label}: {c:.4g}<br>{arch}"
            + (f"<br><b>latency doubtful</b>: {LATENCY_DOUBTS[doubt]}" if doubt else "")
            for n, a, c, arch, doubt in zip(
                run.complete["number"],
                run.complete["accuracy"],
                run.complete[cost],
                run.complete["architecture"],
                run.complete["latency_doubt"],
                strict=True,
            )
        ]
        fig.add_trace(
            go.Scatter(
                x=run.complete[cost],
                y=run.complete["accuracy"],
                mode="markers",
                legendgroup=name,
                name=f"{name}: trials",
                marker={"color": colour, "size": 6, "opacity": 0.3},
                hovertext=hover,
                hoverinfo="text",
            )
        )
        fig.add_trace(
            go.Scatter(
                x=front[cost],
                y=front["accuracy"],
                mode="lines+markers",
                legendgroup=name,
                name=f"{name}: front",
                line={"color": colour, "shape": "hv", "width": 2},
                marker={"color": colour, "size": 9, "line": {"color": "white", "width": 1}},
                hoverinfo="skip",
            )
        )
    short = label.split(" (")[0]
    fig = layout(
        fig,
        f"accuracy vs {short}, all runs",
        x=label,
        y="validation accuracy",
        log_x=cost == "flops",
    )
    complete = pd.concat([run.complete for run in data.runs])
    if complete.empty:
        return fig
    fig.update_yaxes(range=list(accuracy_range(complete, None)))
    if cost == "latency_ms":
        fronts = [run.complete[run.complete["number"].isin(run.fronts[cost])] for run in data.runs]
        end = latency_axis_end(complete, pd.concat(fronts))
        if end is not None:
            fig.update_xaxes(range=[0, end])
    return fig


def render_compare(data: CompareData) -> str:
    summary = table(
        [
            "run",
            "measured on",
            "complete trials",
            "front (accuracy-latency)",
            "best accuracy",
            "hypervolume",
        ],
        [
            [
                f'<span style="color:{RUN_COLOURS[i % len(RUN_COLOURS)]}">&#9632;</span> '
                f"{html.escape(run.name)}",
                html.escape(run.measured_on),
                str(len(run.complete)),
                str(len(run.fronts["latency_ms"])),
                f"{run.complete['accuracy'].max():.4f}" if len(run.complete) else "-",
                f"{run.hypervolume:.4f}",
            ]
            for i, run in enumerate(data.runs)
        ],
        left={0, 1},
    )
    differences = table(
        ["setting", *[run.name for run in data.runs]],
        [
            [html.escape(setting), *[html.escape(v) for v in values]]
            for setting, values, _ in data.differences
        ],
        left=set(range(len(data.runs) + 1)),
        row_classes=["differs" if differ else "" for _, _, differ in data.differences],
    )
    warning = (
        '<p class="warn"><b>Mixed targets.</b> These runs measured latency on different targets '
        "or machines (see each run's label): their latencies are drawn on one axis but are not "
        "comparable, and neither are their hypervolumes.</p>"
        if data.mixed_targets
        else ""
    )
    best = max(data.runs, key=lambda run: run.hypervolume)
    left_out = (
        f"; {data.left_out} doubtful latencies (contended, noisy or timed in too few blocks) "
        "left out of it: re-time them with <code>autokd remeasure RUN</code>"
        if data.left_out
        else ""
    )
    reference = (
        f"accuracy {data.reference[0]:.4f}, latency {data.reference[1]:.3f} ms: a tenth of each "
        f"range beyond the worst values among all the runs' trials{left_out}"
        if data.reference
        else "none: no run has a complete trial"
    )
    hypervolumes = cards(
        [(f"{run.hypervolume:.4f}", f"hypervolume, {run.name}") for run in data.runs]
        + [(best.name if best.hypervolume > 0 else "-", "largest hypervolume")]
    )
    body = f"""<p class="sub">{len(data.runs)} runs overlaid: each run's trials faded, its front
joined by a line. Hypervolume is the area the accuracy-latency front dominates, up to one
reference point shared by every run ({reference}); larger is better.</p>
{warning}
{hypervolumes}
{figures([overlay_figure(data, cost, label) for cost, label in COST_AXES.items()])}
<h2>Runs</h2>
{summary}
<h2>What differs between the runs</h2>
{differences}"""
    return page(f"autokd compare: {', '.join(run.name for run in data.runs)}", body)
