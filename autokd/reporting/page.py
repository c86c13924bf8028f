"""What every autokd HTML page shares: the shell with plotly.js embedded (so a page opens offline
from file://), the style, and small pieces (cards, fact lists, figures, tables)."""

from __future__ import annotations

import html
from typing import Any

FRONT_COLOUR = "#1f6feb"
DOMINATED_COLOUR = "#9aa4b2"
TEACHER_COLOUR = "#d1242f"
# One colour per run in comparisons (colour-blind safe, from the Okabe-Ito palette).
RUN_COLOURS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"]

STYLE = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; color: #1f2328;
       background: #f6f8fa; }
main { max-width: 1280px; margin: 0 auto; padding: 24px 32px 48px; }
h1 { font-size: 24px; margin: 0 0 4px; } h2 { font-size: 18px; margin: 28px 0 8px; }
.sub { color: #59636e; margin: 0 0 16px; }
.warn { background: #fff8c5; border: 1px solid #d4a72c; border-radius: 8px; padding: 8px 12px; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin: 16px 0; }
.card { background: #fff; border: 1px solid #d1d9e0; border-radius: 8px; padding: 10px 14px;
        min-width: 150px; }
.card b { display: block; font-size: 20px; } .card span { color: #59636e; font-size: 13px; }
.plots { display: grid; grid-template-columns: repeat(auto-fit, minmax(520px, 1fr)); gap: 16px; }
.plot { background: #fff; border: 1px solid #d1d9e0; border-radius: 8px; padding: 4px; min-width: 0;
        overflow: hidden; }
table { border-collapse: collapse; background: #fff; font-size: 13px; width: 100%; }
th, td { border: 1px solid #d1d9e0; padding: 4px 8px; text-align: right; white-space: nowrap; }
th { background: #eef1f4; } td.l, th.l { text-align: left; } tr.differs td { background: #fff8c5; }
td.w, th.w { white-space: normal; overflow-wrap: anywhere; } tr.doubtful td { background: #fff1d6; }
button.copy { font: 12px system-ui, sans-serif; padding: 1px 8px; border: 1px solid #d1d9e0;
              border-radius: 6px; background: #f6f8fa; cursor: pointer; }
code { font-size: 12px; }
.scroll { overflow-x: auto; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; font-size: 13px; }
dt { color: #59636e; } dd { margin: 0; }
"""

# Each plot is drawn while the page is still being parsed, before the grid has all its cells:
# fit every plot to its final cell once the page has loaded.
_FIT_PLOTS = """
window.addEventListener("load", () =>
  document.querySelectorAll(".js-plotly-plot").forEach((el) => Plotly.Plots.resize(el)));
"""

# A copy button puts its command on the clipboard (the Clipboard API where the page may use it,
# else a selected text area: file:// pages are not always a secure context) and says so.
_COPY = """
document.addEventListener("click", (event) => {
  const button = event.target.closest("button.copy");
  if (!button) return;
  const text = button.dataset.command, label = button.textContent;
  const done = () => {
    button.textContent = "copied";
    setTimeout(() => (button.textContent = label), 1500);
  };
  const fallback = () => {
    const area = document.createElement("textarea");
    area.value = text; document.body.appendChild(area); area.select();
    document.execCommand("copy"); area.remove(); done();
  };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(done, fallback);
  } else { fallback(); }
});
"""


def plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def page(title: str, body: str) -> str:
    """A whole HTML document: `body` inside the shared shell, plotly.js inline."""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title><style>{STYLE}</style>
<script type="text/javascript">{plotly_js()}</script>
</head><body><main>
<h1>{html.escape(title)}</h1>
{body}
</main>
<script>{_FIT_PLOTS}{_COPY}</script>
</body></html>
"""


def figures(figs: list[Any], *, height: int = 440) -> str:
    """Plotly figures in the responsive grid, without a second copy of plotly.js."""
    cells = (
        '<div class="plot">'
        + fig.to_html(
            full_html=False,
            include_plotlyjs=False,
            default_width="100%",
            default_height=f"{height}px",
            config={"displaylogo": False, "responsive": True},
        )
        + "</div>"
        for fig in figs
    )
    return f'<div class="plots">{"".join(cells)}</div>'


def layout(fig: Any, title: str, *, x: str, y: str, log_x: bool = False) -> Any:
    fig.update_layout(
        title={"text": title, "x": 0.02, "y": 0.97},
        autosize=True,
        template="plotly_white",
        margin={"l": 60, "r": 20, "t": 60, "b": 50},
        legend={"orientation": "h", "y": -0.18},
        xaxis_title=x,
        yaxis_title=y,
    )
    if log_x:
        fig.update_xaxes(type="log")
    return fig


def copy_button(command: str, *, label: str = "copy command") -> str:
    """A button that copies `command` (shown as its tooltip): a long command in a table cell
    would widen the table past the page."""
    quoted = html.escape(command, quote=True)
    return (
        f'<button class="copy" type="button" title="{quoted}" data-command="{quoted}">'
        f"{html.escape(label)}</button>"
    )


def cards(items: list[tuple[str, str]]) -> str:
    cells = "".join(
        f"<div class=card><b>{html.escape(value)}</b><span>{html.escape(text)}</span></div>"
        for value, text in items
    )
    return f'<div class="cards">{cells}</div>'


def facts(pairs: list[tuple[str, Any]]) -> str:
    items = "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(str(v))}</dd>" for k, v in pairs)
    return f"<dl>{items}</dl>"


def cell(value: Any, digits: int = 4) -> str:
    if isinstance(value, float):
        if value != value:  # NaN
            return ""
        return f"{value:.{digits}g}" if abs(value) < 1e4 else f"{value:,.0f}"
    if isinstance(value, int) and abs(value) >= 1e4:
        return f"{value:,}"
    return html.escape(str(value))


def table(
    head: list[str],
    rows: list[list[str]],
    *,
    left: set[int] = frozenset(),
    wrap: set[int] = frozenset(),
    row_classes: list[str] | None = None,
) -> str:
    """A table of already-formatted (escaped) cells; columns in `left` are left-aligned, those
    in `wrap` may break their lines (the others keep each cell on one line)."""

    def align(i: int) -> str:
        classes = " ".join(c for c, on in (("l", i in left), ("w", i in wrap)) if on)
        return f' class="{classes}"' if classes else ""

    header = "".join(f"<th{align(i)}>{html.escape(h)}</th>" for i, h in enumerate(head))
    body = "".join(
        f'<tr class="{(row_classes or [""] * len(rows))[r]}">'
        + "".join(f"<td{align(i)}>{c}</td>" for i, c in enumerate(row))
        + "</tr>"
        for r, row in enumerate(rows)
    )
    return f'<div class="scroll"><table><tr>{header}</tr>{body}</table></div>'
