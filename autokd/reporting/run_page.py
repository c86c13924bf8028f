"""Render `RunReportData` as one self-contained HTML page."""

from __future__ import annotations

import html
import shlex
from typing import Any

from autokd.records.summary import RunSummary, TargetRecord, TeacherRecord, TrainingRecord
from autokd.reporting.data import FrontInfo, RunReportData
from autokd.reporting.page import (
    DOMINATED_COLOUR,
    FRONT_COLOUR,
    TEACHER_COLOUR,
    cards,
    cell,
    copy_button,
    facts,
    figures,
    layout,
    page,
    table,
)
from autokd.study.latency_plan import prediction_text
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
            "stopped early",
            data.stopped,
            {"color": DOMINATED_COLOUR, "size": 6, "opacity": 0.3, "symbol": "x"},
        ),
        (
            "dominated",
            frame[~on_view_front & ~frame["is_pareto"]],
            {"color": DOMINATED_COLOUR, "size": 7, "opacity": 0.45},
        ),
        (
            "Pareto on the other cost",
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
            name=f"front ({info.cost.split('_')[0]})",
            line={"color": FRONT_COLOUR, "shape": "hv", "width": 2},
            marker={"color": FRONT_COLOUR, "size": 10, "line": {"color": "white", "width": 1}},
            hovertext=front["hover"],
            hoverinfo="text",
        )
    )
    if info.cost == "latency_ms":
        _mark_doubtful(fig, frame)
        _mark_picks(fig, data)
        _zoom_latency(fig, frame, front)
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
    low, high = accuracy_range(frame, data.summary.teacher.accuracy)
    _teacher_line(fig, data.summary.teacher, low, high)
    short = info.label.split(" (")[0]
    fig = layout(
        fig,
        f"accuracy vs {short}",
        x=info.label,
        y="validation accuracy",
        log_x=info.cost == "flops",
    )
    return fig.update_yaxes(range=[low, high])


def accuracy_range(complete: Any, teacher: float | None) -> tuple[float, float]:
    """The accuracy axis: the range the complete students cover, padded by a tenth, and the
    teacher's accuracy when it lies within one such range of them (a teacher far off would
    flatten the front into a line: it is named at the edge instead)."""
    if complete.empty:
        return (0.0, 1.0)
    low, high = float(complete["accuracy"].min()), float(complete["accuracy"].max())
    span = max(high - low, 0.01)
    if teacher is not None and low - span <= teacher <= high + span:
        low, high = min(low, teacher), max(high, teacher)
        span = max(high - low, 0.01)
    return (max(0.0, low - 0.1 * span), high + 0.1 * span)


def _teacher_line(fig: Any, teacher: TeacherRecord, low: float, high: float) -> None:
    """The teacher's accuracy as a dashed line, or, off the axis, a note at the edge it is past."""
    if teacher.accuracy is None:
        return
    text = f"teacher {teacher.name} {teacher.accuracy:.3f}"
    if low <= teacher.accuracy <= high:
        fig.add_hline(
            y=teacher.accuracy,
            line={"color": TEACHER_COLOUR, "dash": "dash"},
            annotation_text=text,
            annotation_position="bottom right",
        )
        return
    below = teacher.accuracy < low
    fig.add_annotation(
        text=f"{text} ({'below' if below else 'above'} this axis)",
        xref="paper", x=1, xanchor="right", yref="paper", y=0 if below else 1,
        yanchor="bottom" if below else "top", showarrow=False,
        font={"color": TEACHER_COLOUR},
    )  # fmt: skip


def latency_axis_end(complete: Any, front: Any) -> float | None:
    """Where the latency axis ends: past the front's slowest student and nine in ten of all,
    so that one student timed at 100x its peers (a busy machine) does not squeeze the rest into a
    corner; None when every student fits anyway."""
    if complete.empty:
        return None
    end = 1.15 * max(float(front["latency_ms"].max()), float(complete["latency_ms"].quantile(0.9)))
    return end if (complete["latency_ms"] > end).any() else None


def _zoom_latency(fig: Any, complete: Any, front: Any) -> None:
    end = latency_axis_end(complete, front)
    if end is None:
        return
    beyond = int((complete["latency_ms"] > end).sum())
    fig.update_xaxes(range=[0, end])
    fig.add_annotation(
        text=f"{beyond} slower student(s) beyond this axis: double-click to see all",
        xref="paper", x=1, xanchor="right", yref="paper", y=0, yanchor="bottom",
        showarrow=False, font={"size": 11, "color": "#59636e"},
    )  # fmt: skip


DOUBT_MARKER = {"color": "#bf8700", "size": 17, "symbol": "circle-open", "line": {"width": 2}}


def _mark_doubtful(fig: Any, complete: Any) -> None:
    """A ring around each student whose latency is doubtful (contended, noisy, few blocks)."""
    doubtful = complete[complete["latency_doubt"] != ""]
    if doubtful.empty:
        return
    import plotly.graph_objects as go

    fig.add_trace(
        go.Scatter(
            x=doubtful["latency_ms"],
            y=doubtful["accuracy"],
            mode="markers",
            name="latency doubtful",
            marker=DOUBT_MARKER,
            hovertext=doubtful["hover"],
            hoverinfo="text",
        )
    )


PICK_LABELS = {"knee": "knee", "best-accuracy": "most accurate", "fastest": "fastest"}


def _mark_picks(fig: Any, data: RunReportData) -> None:
    """An arrow to each student `autokd export --pick` would take, named by its picks."""
    by_trial: dict[int, list[Any]] = {}
    for pick in data.picks:
        by_trial.setdefault(pick.number, []).append(pick)
    for number, picks in by_trial.items():
        fig.add_annotation(
            x=picks[0].latency_ms,
            y=picks[0].accuracy,
            text=f"{', '.join(PICK_LABELS[p.name] for p in picks)}: trial {number}",
            showarrow=True, arrowhead=2, ax=0, ay=-36 if picks[0].name != "fastest" else 36,
            font={"size": 12, "color": "#1f2328"}, bgcolor="rgba(255,255,255,0.85)",
        )  # fmt: skip


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


def export_command(data: RunReportData, trial: int, pick: str | None = None) -> str:
    """The command that exports `trial` (by its pick's name, when it is one of the picks)."""
    run = shlex.quote(data.run_path)
    if pick:
        return f"autokd export {run} --pick {pick} -o students/{data.name}-{pick}"
    return f"autokd export {run} --trial {trial} -o students/{data.name}-trial-{trial}"


def picks_section(data: RunReportData) -> str:
    """The students `autokd export --pick` takes, why each, and the command for each."""
    if not data.picks:
        return ""
    rows = [
        [
            f"<b>{html.escape(PICK_LABELS[p.name])}</b>",
            str(p.number),
            f"{p.accuracy:.4f}",
            f"{p.latency_ms:.4g}",
            html.escape(p.why),
            copy_button(export_command(data, p.number, p.name)),
        ]
        for p in data.picks
    ]
    head = ["pick", "trial", "accuracy", "latency ms", "why", "export it"]
    return "<h2>What to pick</h2>" + table(head, rows, left={0, 4}, wrap={4})


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
        [cell(row[c]) for c, _ in columns] + [copy_button(export_command(data, int(row["number"])))]
        for _, row in data.pareto.iterrows()
    ]
    doubtful = ["doubtful" if row["latency_doubt"] else "" for _, row in data.pareto.iterrows()]
    architecture = [c for c, _ in columns].index("architecture")
    return table(
        [t for _, t in columns] + ["export it"],
        rows,
        left={architecture},
        wrap={architecture},
        row_classes=doubtful,
    )


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
    timings = data.summary.timings
    saved = timings.get("rejected_saved_s", timings.get("training_saved_s"))  # (older runs)
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
        f"{summary.epochs_saved} epochs (about "
        f"{summary.timings.get('stopped_saved_s', 0):.0f} s) of training saved; the front holds "
        "students that "
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


def warnings(data: RunReportData) -> str:
    """What should temper trust in the page: doubtful latencies on the front, a weak teacher."""
    notes = []
    doubts = data.front_doubts
    if doubts:
        front = next(f.front for f in data.fronts if f.cost == "latency_ms")
        reasons = ", ".join(f"{n} {reason}" for reason, n in doubts.items())
        command = f"autokd remeasure {shlex.quote(data.run_path)}"
        notes.append(
            f"<b>{sum(doubts.values())} of {len(front)} front latencies are doubtful</b> "
            f"({html.escape(reasons)}: timed while other programs took the cores, with a wide "
            "spread, or in too few blocks); they are ringed in the latency plot and shaded in "
            f"the table. Time them again on a quiet machine: "
            f"<code>{html.escape(command)}</code> {copy_button(command, label='copy')}"
        )
    if data.teacher_note:
        notes.append(html.escape(data.teacher_note))
    if data.summary.latency_prediction:
        text = prediction_text(data.summary.latency_prediction)
        notes.append(html.escape(text[0].upper() + text[1:]))
    return "".join(f'<p class="warn">{note}</p>' for note in notes)


def render_run_report(data: RunReportData) -> str:
    s = data.summary
    teacher, target, env = s.teacher, s.target, s.environment
    best = s.best_accuracy
    knee = [
        (f"trial {p.number}", f"the knee: {p.accuracy:.4f} at {p.latency_ms:.3g} ms")
        for p in data.picks
        if p.name == "knee"
    ]
    summary_cards = cards(
        [
            (f"{data.counts.get('complete', 0)}", f"trials: {_counts_text(data.counts)}"),
            (f"{len(data.pareto)}", "students on the front"),
            *knee,
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
                f"weights {teacher.weights_digest}"
                + (f"; random views: {d.augment_policy}" if d.augment_policy else ""),
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
are Pareto students that win on the other cost; faded points are dominated; a ring marks a
doubtful latency. The knee is where more latency stops buying much accuracy: what
<code>autokd export</code> takes by default.</p>
{summary_cards}
{warnings(data)}
{figures(plots)}
{picks_section(data)}
<h2>Pareto students (accuracy, latency, FLOPs), fastest first</h2>
{pareto_table(data)}
{validation_section(data)}
{rejected_section(data)}
<h2>Run</h2>
{run_facts}"""
    return page(f"autokd run {data.name}", body)
