"""Render `RunReportData` as one self-contained HTML file (plotly.js embedded: opens offline)."""

from __future__ import annotations

import html
from typing import Any

import pandas as pd

from autokd.report.data import FrontInfo, RunReportData

FRONT_COLOUR = "#1f6feb"
DOMINATED_COLOUR = "#9aa4b2"
TEACHER_COLOUR = "#d1242f"

_STYLE = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; color: #1f2328;
       background: #f6f8fa; }
main { max-width: 1280px; margin: 0 auto; padding: 24px 32px 48px; }
h1 { font-size: 24px; margin: 0 0 4px; } h2 { font-size: 18px; margin: 28px 0 8px; }
.sub { color: #59636e; margin: 0 0 16px; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin: 16px 0; }
.card { background: #fff; border: 1px solid #d1d9e0; border-radius: 8px; padding: 10px 14px;
        min-width: 150px; }
.card b { display: block; font-size: 20px; } .card span { color: #59636e; font-size: 13px; }
.plots { display: grid; grid-template-columns: repeat(auto-fit, minmax(520px, 1fr)); gap: 16px; }
.plot { background: #fff; border: 1px solid #d1d9e0; border-radius: 8px; padding: 4px; min-width: 0;
        overflow: hidden; }
table { border-collapse: collapse; background: #fff; font-size: 13px; width: 100%; }
th, td { border: 1px solid #d1d9e0; padding: 4px 8px; text-align: right; white-space: nowrap; }
th { background: #eef1f4; } td.l, th.l { text-align: left; }
.scroll { overflow-x: auto; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; font-size: 13px; }
dt { color: #59636e; } dd { margin: 0; }
"""


def _plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def front_figure(data: RunReportData, info: FrontInfo) -> Any:
    """Accuracy against one cost: this view's front drawn and joined, the other Pareto students
    (those that win on the other cost) marked, dominated trials faded."""
    import plotly.graph_objects as go

    frame = data.complete
    on_view_front = frame["number"].isin(info.front)
    front = frame.set_index("number").loc[info.front].reset_index()
    fig = go.Figure()
    for name, rows, marker in (
        ("dominated", frame[~on_view_front & ~frame["is_pareto"]],
         {"color": DOMINATED_COLOUR, "size": 7, "opacity": 0.45}),
        ("Pareto, cheaper on the other cost", frame[~on_view_front & frame["is_pareto"]],
         {"color": FRONT_COLOUR, "size": 8, "symbol": "circle-open", "line": {"width": 2}}),
    ):  # fmt: skip
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
    teacher = data.summary.get("teacher", {})
    if teacher.get("accuracy") is not None:
        fig.add_hline(
            y=teacher["accuracy"],
            line={"color": TEACHER_COLOUR, "dash": "dash"},
            annotation_text=f"teacher {teacher.get('name', '')} {teacher['accuracy']:.3f}",
            annotation_position="bottom right",
        )
    fig.update_layout(
        title={"text": f"accuracy vs {info.label.split(' (')[0]}", "x": 0.02, "y": 0.97},
        autosize=True,
        template="plotly_white",
        margin={"l": 60, "r": 20, "t": 60, "b": 50},
        legend={"orientation": "h", "y": -0.18},
        xaxis_title=info.label,
        yaxis_title="validation accuracy",
    )
    if info.cost == "flops":
        fig.update_xaxes(type="log")
    return fig


def hypervolume_figure(data: RunReportData) -> Any:
    """How the accuracy-latency front grew: its hypervolume after each complete trial."""
    import plotly.graph_objects as go

    numbers = [n for n, _ in data.hypervolume]
    volumes = [v for _, v in data.hypervolume]
    accuracy, latency = data.hypervolume_reference
    fig = go.Figure(
        go.Scatter(x=numbers, y=volumes, mode="lines+markers", line={"color": FRONT_COLOUR},
                   marker={"size": 5}, name="hypervolume")
    )  # fmt: skip
    fig.update_layout(
        title={"text": "hypervolume of the accuracy-latency front", "x": 0.02, "y": 0.97},
        autosize=True,
        template="plotly_white",
        margin={"l": 60, "r": 20, "t": 60, "b": 50},
        xaxis_title="trial number",
        yaxis_title=f"accuracy x ms (reference: accuracy {accuracy:g}, {latency:.3f} ms)",
    )
    return fig


def _cell(value: Any, digits: int = 4) -> str:
    if isinstance(value, float):
        if pd.isna(value):
            return ""
        return f"{value:.{digits}g}" if abs(value) < 1e4 else f"{value:,.0f}"
    if isinstance(value, int) and abs(value) >= 1e4:
        return f"{value:,}"
    return html.escape(str(value))


def pareto_table(data: RunReportData) -> str:
    columns = [
        ("number", "trial"),
        ("accuracy", "accuracy"),
        ("latency_ms", "latency ms"),
        ("latency_iqr_ms", "IQR ms"),
        ("flops", "FLOPs"),
        ("params", "params"),
        ("architecture", "stem | stages (depth x width, kernel, dilation, stride)"),
        ("temperature", "T"),
        ("alpha", "alpha"),
        ("lr", "lr"),
    ]
    head = "".join(
        f'<th class="{"l" if c == "architecture" else ""}">{html.escape(t)}</th>'
        for c, t in columns
    )
    rows = []
    for _, row in data.pareto.iterrows():
        cells = "".join(
            f'<td class="{"l" if c == "architecture" else ""}">{_cell(row[c])}</td>'
            for c, _ in columns
        )
        rows.append(f"<tr>{cells}</tr>")
    return f'<div class="scroll"><table><tr>{head}</tr>{"".join(rows)}</table></div>'


def validation_section(data: RunReportData) -> str:
    """What `autokd validate` found: ranking agreement and the gain of distillation."""
    v = data.validation
    if not v:
        return ""
    tau = "undefined (ties)" if v["kendall_tau"] is None else f"{v['kendall_tau']:.3f}"
    titles = ("trial", "search accuracy", "KD accuracy", "no-KD accuracy", "KD gain", "latency ms")
    head = "".join(f"<th>{t}</th>" for t in titles)
    rows = "".join(
        f"<tr><td>{s['trial']}</td><td>{s['search_accuracy']:.4f}</td>"
        f"<td>{s['kd_accuracy']:.4f}</td><td>{s['no_kd_accuracy']:.4f}</td>"
        f"<td>{s['kd_gain']:+.4f}</td><td>{s['latency_ms']:.3f}</td></tr>"
        for s in v["students"]
    )
    return (
        f"<h2>Validation: {v['students_validated']} students retrained for {v['epochs']} epochs "
        f"(search: {v['search_epochs']}), seed {v['seed']}</h2>"
        f"<p>Kendall tau between search accuracy and longer-training accuracy: <b>{tau}</b>; "
        f"mean KD gain (with KD minus without, same epochs and seed): "
        f"<b>{v['mean_kd_gain']:+.4f}</b>.</p>"
        f'<div class="scroll"><table><tr>{head}</tr>{rows}</table></div>'
    )


def _facts(pairs: list[tuple[str, Any]]) -> str:
    items = "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(str(v))}</dd>" for k, v in pairs)
    return f"<dl>{items}</dl>"


def render_run_report(data: RunReportData) -> str:
    s = data.summary
    teacher, target, env = s.get("teacher", {}), s.get("target", {}), s.get("environment", {})
    best = s.get("best_accuracy")
    cards = [
        (
            f"{data.counts.get('complete', 0)}",
            "complete trials"
            + "".join(f", {n} {state}" for state, n in data.counts.items() if state != "complete"),
        ),
        (f"{len(data.pareto)}", "students on the front"),
        (f"{best:.4f}" if best is not None else "-", "best student accuracy"),
        (f"{teacher.get('accuracy', float('nan')):.4f}", f"teacher {teacher.get('name', '')}"),
        (f"{target.get('name', '')}", f"target, {target.get('threads', '?')} thread(s)"),
    ]
    cards_html = "".join(
        f"<div class=card><b>{html.escape(v)}</b><span>{html.escape(t)}</span></div>"
        for v, t in cards
    )
    figures = [front_figure(data, info) for info in data.fronts] + [hypervolume_figure(data)]
    plots = "".join(
        '<div class="plot">'
        + figure.to_html(
            full_html=False,
            include_plotlyjs=False,
            default_width="100%",
            default_height="440px",
            config={"displaylogo": False, "responsive": True},
        )
        + "</div>"
        for figure in figures
    )
    run_facts = _facts(
        [
            (
                "data",
                f"{s['data']['name']} ({s['data']['train_images']} train / "
                f"{s['data']['val_images']} val, {s['data']['channels']}x"
                f"{s['data']['input_size']}x{s['data']['input_size']}, "
                f"{s['data']['classes']} classes)",
            ),
            ("search space", f"{s['space']['name']} ({s['space']['source']})"),
            ("sampler, seed, budget", f"{s['sampler']}, {s['seed']}, {s['budget']}"),
            (
                "training per trial",
                f"{s['epochs']} epochs, batch {s['batch_size']}, distilled from "
                "cached teacher outputs",
            ),
            (
                "teacher",
                f"{teacher.get('name')} ({teacher.get('source')}), accuracy "
                f"{teacher.get('accuracy', float('nan')):.4f}, weights "
                f"{teacher.get('weights_digest')}",
            ),
            ("latency protocol", s.get("latency_protocol", "")),
            ("FLOPs", s.get("flops_convention", "")),
            (
                "environment",
                f"{env.get('cpu')}, {env.get('physical_cores')} physical cores; torch "
                f"{env.get('torch')}, timm {env.get('timm')}, optuna {env.get('optuna')}",
            ),
            ("updated", s.get("updated", "")),
        ]
    )
    title = f"autokd run {data.name}"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title><style>{_STYLE}</style>
<script type="text/javascript">{_plotly_js()}</script>
</head><body><main>
<h1>{html.escape(title)}</h1>
<p class="sub">Students distilled from {html.escape(str(teacher.get("name")))} on
{html.escape(s["data"]["name"])}; latency measured on target {html.escape(target.get("name", ""))}
({html.escape(target.get("description", ""))}). Hover a point for its architecture and
distillation settings. Filled points joined by a line are the front of that view; open points
are Pareto students that win on the other cost; faded points are dominated.</p>
<div class="cards">{cards_html}</div>
<div class="plots">{plots}</div>
<h2>Pareto students (accuracy, latency, FLOPs), fastest first</h2>
{pareto_table(data)}
{validation_section(data)}
<h2>Run</h2>
{run_facts}
</main>
<script>
// Each plot is drawn while the page is still being parsed, before the grid has all its cells:
// fit every plot to its final cell once the page has loaded.
window.addEventListener("load", () =>
  document.querySelectorAll(".js-plotly-plot").forEach((el) => Plotly.Plots.resize(el)));
</script>
</body></html>
"""
