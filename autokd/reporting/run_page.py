"""Render `RunReportData` as one self-contained HTML page."""

from __future__ import annotations

import html
import shlex
from typing import Any

from autokd.records.summary import RunSummary, TargetRecord, TrainingRecord
from autokd.reporting.data import FrontInfo, RunReportData
from autokd.reporting.page import (
    DOMINATED_COLOUR,
    FRONT_COLOUR,
    TEACHER_COLOUR,
    cards,
    cell,
    facts,
    figures,
    layout,
    page,
    table,
)
from autokd.study.pruners.mo_asha import rungs_for


def front_figure(data: RunReportData, info: FrontInfo) -> Any:
    """Accuracy against one cost: this view's front drawn and joined, the other Pareto students
    (those that win on the other cost) marked, dominated trials faded."""
    import plotly.graph_objects as go

    frame = data.complete
    on_view_front = frame["number"].isin(info.front)
    front = frame.set_index("number").loc[info.front].reset_index()
    fig = go.Figure()
    for name, rows, marker in (
        (
            "stopped early (accuracy when stopped)",
            data.stopped,
            {"color": DOMINATED_COLOUR, "size": 6, "opacity": 0.3, "symbol": "x"},
        ),
        (
            "dominated",
            frame[~on_view_front & ~frame["is_pareto"]],
            {"color": DOMINATED_COLOUR, "size": 7, "opacity": 0.45},
        ),
        (
            "Pareto, cheaper on the other cost",
            frame[~on_view_front & frame["is_pareto"]],
            {"color": FRONT_COLOUR, "size": 8, "symbol": "circle-open", "line": {"width": 2}},
        ),
    ):
        fig.add_trace(
            go.Scatter(
                x=rows[info.cost],
                y=rows["accuracy"],
                mode="markers",
                name=name,
                marker=marker,
                hovertext=rows["hover"],
                hoverinfo="text",
            )
        )
    fig.add_trace(
        go.Scatter(
            x=front[info.cost],
            y=front["accuracy"],
            mode="lines+markers",
            name=f"front of accuracy vs {info.cost.split('_')[0]}",
            line={"color": FRONT_COLOUR, "shape": "hv", "width": 2},
            marker={"color": FRONT_COLOUR, "size": 10, "line": {"color": "white", "width": 1}},
            hovertext=front["hover"],
            hoverinfo="text",
        )
    )
    limit = data.summary.constraints.get(
        {"latency_ms": "max_latency_ms", "flops": "max_flops"}[info.cost]
    )
    if limit is not None:
        fig.add_vline(
            x=limit,
            line={"color": TEACHER_COLOUR, "dash": "dot"},
            annotation_text="limit",
            annotation_position="top left",
        )
    teacher = data.summary.teacher
    if teacher.accuracy is not None:
        fig.add_hline(
            y=teacher.accuracy,
            line={"color": TEACHER_COLOUR, "dash": "dash"},
            annotation_text=f"teacher {teacher.name} {teacher.accuracy:.3f}",
            annotation_position="bottom right",
        )
    short = info.label.split(" (")[0]
    return layout(
        fig,
        f"accuracy vs {short}",
        x=info.label,
        y="validation accuracy",
        log_x=info.cost == "flops",
    )


def hypervolume_figure(data: RunReportData) -> Any:
    """How the accuracy-latency front grew with the search's wall time: its hypervolume after
    each complete trial (by trial number for runs that did not record times)."""
    import plotly.graph_objects as go

    reference = data.hypervolume_reference
    where = f"reference {reference[0]:.3f}, {reference[1]:.3f} ms" if reference else "no trials"
    steps = data.hypervolume
    timed = bool(steps) and all(step.minutes is not None for step in steps)
    fig = go.Figure(
        go.Scatter(
            x=[step.minutes if timed else step.number for step in steps],
            y=[step.volume for step in steps],
            mode="lines+markers",
            line={"color": FRONT_COLOUR, "shape": "hv"},
            marker={"size": 5},
            name="hypervolume",
            hovertext=[f"trial {step.number}: {step.volume:.4g}" for step in steps],
            hoverinfo="text",
        )
    )
    return layout(
        fig,
        "hypervolume of the accuracy-latency front",
        x="minutes of search (time some trial was running)" if timed else "trial number",
        y=f"accuracy x ms ({where})",
    )


def importance_figure(data: RunReportData) -> Any:
    """fANOVA importance of each parameter, for accuracy and for latency, side by side."""
    import plotly.graph_objects as go

    accuracy = data.importances.get("accuracy", {})
    latency = data.importances.get("latency_ms", {})
    names = sorted(set(accuracy) | set(latency), key=lambda p: accuracy.get(p, 0.0))
    fig = go.Figure()
    for label, values, colour in (
        ("accuracy", accuracy, FRONT_COLOUR),
        ("latency", latency, TEACHER_COLOUR),
    ):
        fig.add_trace(
            go.Bar(
                y=names,
                x=[values.get(p, 0.0) for p in names],
                name=label,
                orientation="h",
                marker={"color": colour},
            )
        )
    fig.update_layout(barmode="group")
    return layout(fig, "parameter importance (fANOVA)", x="share of the objective's variance", y="")


def export_command(data: RunReportData, trial: int) -> str:
    output = f"students/{data.name}-trial-{trial}"
    return f"autokd export {shlex.quote(data.run_path)} --trial {trial} -o {output}"


def pareto_table(data: RunReportData) -> str:
    deployed = [("accuracy_fp32", "float32 accuracy"), ("accuracy_drop", "drop")]
    columns = [
        ("number", "trial"),
        ("accuracy", "accuracy"),
        *[column for column in deployed if column[0] in data.pareto.columns],
        ("latency_ms", "latency ms"),
        ("latency_iqr_ms", "IQR ms"),
        ("flops", "FLOPs"),
        ("params", "params"),
        ("architecture", "stem | stages (depth x width, kernel, dilation, stride)"),
        ("temperature", "T"),
        ("alpha", "alpha"),
        ("lr", "lr"),
    ]
    rows = [
        [cell(row[c]) for c, _ in columns]
        + [f"<code>{html.escape(export_command(data, int(row['number'])))}</code>"]
        for _, row in data.pareto.iterrows()
    ]
    architecture = [c for c, _ in columns].index("architecture")
    return table([t for _, t in columns] + ["export it"], rows, left={architecture, len(columns)})


def validation_section(data: RunReportData) -> str:
    """What `autokd validate` found: ranking agreement and the gain of distillation."""
    v = data.validation
    if not v:
        return ""
    tau = (
        "undefined (fewer than two students, or all tied)"
        if v.kendall_tau is None
        else f"{v.kendall_tau:.3f}"
    )
    rows = [
        [
            str(s.trial),
            f"{s.latency_ms:.3f}",
            f"{s.search_accuracy:.4f}",
            f"{s.kd_accuracy:.4f}",
            f"{s.no_kd_accuracy:.4f}",
            f"{s.kd_gain:+.4f}",
        ]
        for s in v.students
    ]
    head = ["trial", "latency ms", "search accuracy", "KD accuracy", "no-KD accuracy", "KD gain"]
    return (
        f"<h2>Validation: {v.students_validated} students retrained for {v.epochs} epochs "
        f"(search: {v.search_epochs}), seed {v.seed}</h2>"
        f"<p>Kendall tau between search accuracy and longer-training accuracy: <b>{tau}</b>; "
        f"mean KD gain (with KD minus without, same epochs and seed): "
        f"<b>{v.mean_kd_gain:+.4f}</b>.</p>" + table(head, rows)
    )


def rejected_section(data: RunReportData) -> str:
    """The students the constraints turned away: measured, so the user sees how far over."""
    if data.rejected.empty:
        return ""
    limits = ", ".join(
        f"{k.replace('max_', '').replace('_', ' ')} at most {v:g}"
        for k, v in data.summary.constraints.items()
        if v is not None
    )
    saved = data.summary.timings.get("training_saved_s")
    rows = [
        [
            str(int(r["number"])),
            cell(r["latency_ms"]),
            cell(r["flops"]),
            cell(r["params"]),
            html.escape(str(r["rejected_by"])),
            html.escape(str(r["architecture"])),
        ]
        for _, r in data.rejected.iterrows()
    ]
    return (
        f"<h2>Rejected by the constraints ({limits}): {len(rows)} students, measured and never "
        f"trained{f', about {saved:.0f} s of training saved' if saved else ''}</h2>"
        + table(
            ["trial", "latency ms", "FLOPs", "params", "over", "architecture"], rows, left={4, 5}
        )
    )


def _training_text(training: TrainingRecord | None, target: TargetRecord) -> str:
    """Where the students trained (independent of where their latency was measured)."""
    if not training:
        return "cpu (runs before --device record none)"
    text = f"{training.device}, {training.precision}; {training.workers_plan}"
    return f"{text}; latency measured on target {target.name}, separately"


def _stopping_text(summary: RunSummary) -> str:
    if summary.pruner == "none":
        return f"off: every trial trained {summary.epochs} epochs"
    rungs = ", ".join(str(epoch) for epoch in rungs_for(summary.epochs))
    return (
        f"{summary.pruner}: rungs at epochs {rungs}; {summary.stopped} students stopped early, "
        f"{summary.epochs_saved} epochs of training saved; the front holds students that "
        f"trained {summary.epochs} epochs"
    )


def _counts_text(counts: dict[str, int]) -> str:
    names = {
        "complete": "complete",
        "pruned": "stopped early or over a limit",
        "fail": "failed",
        "running": "running",
    }
    return ", ".join(
        f"{counts.get(state, 0)} {name}"
        for state, name in names.items()
        if state == "complete" or counts.get(state)
    )


def render_run_report(data: RunReportData) -> str:
    s = data.summary
    teacher, target, env = s.teacher, s.target, s.environment
    best = s.best_accuracy
    summary_cards = cards(
        [
            (f"{data.counts.get('complete', 0)}", f"trials: {_counts_text(data.counts)}"),
            (f"{len(data.pareto)}", "students on the front"),
            (f"{best:.4f}" if best is not None else "-", "best student accuracy"),
            (f"{teacher.accuracy:.4f}", f"teacher {teacher.name}"),
            (f"{target.name}", f"target, {target.threads} thread(s)"),
        ]
    )
    plots = [front_figure(data, info) for info in data.fronts] + [hypervolume_figure(data)]
    if data.importances:
        plots.append(importance_figure(data))
    d = s.data
    run_facts = facts(
        [
            (
                "data",
                f"{d.name} ({d.train_images} train / {d.val_images} val, "
                f"{d.channels}x{d.input_size}x{d.input_size}, {d.classes} classes"
                + (f"; {d.storage})" if d.storage else ")"),
            ),
            ("search space", f"{s.space.name} ({s.space.source})"),
            ("sampler, seed, budget", f"{s.sampler}, {s.seed}, {s.budget}"),
            (
                "training per trial",
                f"{s.epochs} epochs, batch {s.batch_size}, distilled from cached teacher outputs",
            ),
            ("training device", _training_text(s.training, target)),
            ("early stopping", _stopping_text(s)),
            (
                "teacher",
                f"{teacher.name} ({teacher.source}), accuracy {teacher.accuracy:.4f}, "
                f"weights {teacher.weights_digest}",
            ),
            ("latency protocol", s.latency_protocol),
            ("FLOPs", s.flops_convention),
            (
                "parameter importance",
                "fANOVA (Optuna, seeded) over the parameters every complete "
                "trial has; for latency, the architecture's only",
            ),
            (
                "environment",
                f"{env.get('cpu')}, {env.get('physical_cores')} physical cores; torch "
                f"{env.get('torch')}, timm {env.get('timm')}, optuna {env.get('optuna')}",
            ),
            ("updated", s.updated),
        ]
    )
    body = f"""<p class="sub">Students distilled from {html.escape(teacher.name)} on
{html.escape(d.name)}; latency measured on target {html.escape(target.name)}
({html.escape(target.description)}). Hover a point for its architecture and
distillation settings. Filled points joined by a line are the front of that view; open points
are Pareto students that win on the other cost; faded points are dominated.</p>
{summary_cards}
{figures(plots)}
<h2>Pareto students (accuracy, latency, FLOPs), fastest first</h2>
{pareto_table(data)}
{validation_section(data)}
{rejected_section(data)}
<h2>Run</h2>
{run_facts}"""
    return page(f"autokd run {data.name}", body)
