"""HTML and text pieces the panels share: tables, chat messages, key/value lists, and figure outputs.

Every value is escaped here, once; callers pass plain data.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import plotly.graph_objects as go

STYLE = """<style>
.dspex-table{border-collapse:collapse;font-size:12px;margin:4px 0}
.dspex-table th{text-align:left;border-bottom:1px solid #999;padding:2px 8px;white-space:nowrap}
.dspex-table td{text-align:left;vertical-align:top;padding:2px 8px;border-bottom:1px solid #e4e4e4;
 max-width:360px;overflow-wrap:break-word;white-space:pre-wrap}
.dspex-table tr.dspex-fail td{background:#fdecea}
.dspex-pre{white-space:pre-wrap;font-size:12px;margin:2px 0 6px 0;padding:4px;background:#f6f6f6;
 max-height:320px;overflow:auto}
.dspex-role{font-weight:bold;font-size:11px;color:#555;margin-top:4px}
.dspex-muted{color:#777}
.dspex-fold>summary{cursor:pointer;font-size:11px;font-weight:bold;color:#555}
</style>"""


def text(value: Any, limit: int | None = None) -> str:
    """`value` as one readable string, cut to `limit` characters."""
    if value is None:
        shown = ""
    elif isinstance(value, str):
        shown = value
    elif isinstance(value, Mapping | list | tuple):
        shown = json.dumps(value, ensure_ascii=False, default=str)
    elif isinstance(value, float):
        shown = f"{value:.3g}"
    else:
        shown = str(value)
    if limit is not None and len(shown) > limit:
        shown = shown[: max(0, limit - 1)] + "…"
    return shown


def esc(value: Any, limit: int | None = None) -> str:
    return html.escape(text(value, limit))


def table(
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    limit: int = 120,
    failed: Iterable[bool] | None = None,
) -> str:
    """An HTML table (class `dspex-table`); rows whose `failed` flag is true are shaded."""
    flags = iter(failed) if failed is not None else None
    head = "".join(f"<th>{esc(column)}</th>" for column in columns)
    body = []
    for row in rows:
        mark = " class='dspex-fail'" if flags is not None and next(flags) else ""
        body.append(f"<tr{mark}>" + "".join(f"<td>{esc(cell, limit)}</td>" for cell in row) + "</tr>")
    return f"<table class='dspex-table'><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def pairs(items: Iterable[tuple[str, Any]], *, limit: int = 400) -> str:
    """A two-column table of name/value pairs, skipping empty values."""
    rows = [(name, value) for name, value in items if value not in (None, "", [], {})]
    return table(["", ""], rows, limit=limit).replace("<thead><tr><th></th><th></th></tr></thead>", "")


def block(value: Any, limit: int = 8_000) -> str:
    """Preformatted text (a prompt, a reply, a traceback)."""
    return f"<pre class='dspex-pre'>{esc(value, limit)}</pre>"


def messages(items: Any) -> str:
    """Chat messages (role/content dicts) one after another, or the value as text when it is not a list of them."""
    if not isinstance(items, list):
        return block(items)
    parts = []
    for message in items:
        if isinstance(message, Mapping):
            parts.append(
                f"<div class='dspex-role'>{esc(message.get('role', '?'))}</div>{block(message.get('content'))}"
            )
        else:
            parts.append(block(message))
    return "".join(parts)


def folded(title: str, body: str) -> str:
    """`body` behind a one-line summary that opens on click (long prompts stay out of the way)."""
    return f"<details class='dspex-fold'><summary>{esc(title)}</summary>{body}</details>"


def section(title: str, body: str) -> str:
    return f"<div><b>{esc(title)}</b>{body}</div>"


def muted(message: str) -> str:
    return f"<span class='dspex-muted'>{esc(message)}</span>"


CONFIG = {"displaylogo": False, "responsive": True}


def figure_output(figure: go.Figure, summary: str) -> dict[str, Any]:
    """A display output for an `ipywidgets.Output`: the figure as plotly JSON, and `summary` as its text."""
    spec = json.loads(figure.to_json())
    spec["config"] = dict(CONFIG)
    return {
        "output_type": "display_data",
        "data": {"application/vnd.plotly.v1+json": spec, "text/plain": summary},
        "metadata": {},
    }


class StaticFigure:
    """A plotly figure as a plain cell output, for where widgets are not drawn (an HTML export, a viewer).

    JupyterLab draws its plotly JSON; a plain HTML page draws `html`, the
    panel's document as offline HTML with SVG charts (`static.html`): no
    plotly.js, no CDN, nothing fetched.
    """

    def __init__(self, figure: go.Figure, summary: str, html: str) -> None:
        self.figure = figure
        self.summary = summary
        self.html = html

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        bundle = figure_output(self.figure, self.summary)["data"]
        bundle["text/html"] = self.html
        return bundle

    def __repr__(self) -> str:
        return self.summary
