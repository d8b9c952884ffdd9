"""A panel document (see `document`) as one self-contained HTML fragment: inline CSS and SVG, no script, no network.

This is what an HTML export, nbviewer, GitHub and a JupyterLab without the
extension show. Charts are SVG drawn here, so they have a fixed height and
never depend on a plotly bundle or a CDN. The extension's TypeScript renderer
draws the same sections (extensions/jupyterlab-dspex/src/render.ts).
"""

from __future__ import annotations

import html as _html
from collections.abc import Callable
from typing import Any

from dspex_lab.lab.render import text as _text

STYLE = """<style>
.dspex-doc{font-family:system-ui,sans-serif;font-size:13px;line-height:1.4;max-width:100%}
.dspex-doc h3{font-size:14px;margin:4px 0}
.dspex-doc .dspex-stats{margin:4px 0}
.dspex-doc .dspex-stats span{margin-right:14px;white-space:nowrap}
.dspex-doc table{border-collapse:collapse;font-size:12px;margin:4px 0}
.dspex-doc th{text-align:left;border-bottom:1px solid #999;padding:2px 8px;white-space:nowrap}
.dspex-doc td{text-align:left;vertical-align:top;padding:2px 8px;border-bottom:1px solid #e4e4e4;
 max-width:420px;overflow-wrap:anywhere;white-space:pre-wrap}
.dspex-doc tr.dspex-fail td{background:#fdecea}
.dspex-doc tr.dspex-error td{background:#fff4d6}
.dspex-doc pre{white-space:pre-wrap;font-size:12px;padding:4px;background:#f6f6f6;max-height:360px;overflow:auto}
.dspex-doc .dspex-note{color:#666;font-size:11px}
.dspex-doc details>summary{cursor:pointer;font-weight:bold;color:#444}
.dspex-doc svg{display:block;max-width:100%}
</style>"""

PALETTE = ("#4c78a8", "#f58518", "#54a24b", "#b279a2", "#72b7b2", "#eeca3b", "#9d755d", "#ff9da6", "#bab0ac", "#e45756")
FLAG_COLOURS = {"error": "#d62728", "retried": "#ff7f0e", "cancelled": "#7f7f7f"}
WIDTH = 720
LANE_HEIGHT = 18
LABEL_WIDTH = 150


def esc(value: Any, limit: int | None = None) -> str:
    return _html.escape(_text(value, limit))


def html(document: dict[str, Any]) -> str:
    """The document drawn as HTML."""
    body = "".join(section(part) for part in document.get("sections", []))
    return f"{STYLE}<div class='dspex-doc'><h3>{esc(document.get('title'))}</h3>{body}</div>"


def section(part: dict[str, Any]) -> str:
    draw = _DRAW.get(part.get("kind", ""))
    return draw(part) if draw is not None else ""


def _stats(part: dict[str, Any]) -> str:
    items = "".join(f"<span>{esc(label)} <b>{esc(value)}</b></span>" for label, value in part["items"])
    return f"<div class='dspex-stats'>{items}</div>"


def _title(part: dict[str, Any]) -> str:
    return f"<div><b>{esc(part['title'])}</b></div>" if part.get("title") else ""


def _table(part: dict[str, Any]) -> str:
    head = "".join(f"<th>{esc(column)}</th>" for column in part["columns"])
    rows = []
    for row, mark in zip(part["rows"], part.get("marks") or [""] * len(part["rows"]), strict=False):
        kind = f" class='dspex-{mark}'" if mark in ("fail", "error") else ""
        rows.append(f"<tr{kind}>" + "".join(f"<td>{esc(cell)}</td>" for cell in row) + "</tr>")
    note = f"<div class='dspex-note'>{esc(part['note'])}</div>" if part.get("note") else ""
    return f"{_title(part)}<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>{note}"


def _text_block(part: dict[str, Any]) -> str:
    return f"{_title(part)}<pre>{esc(part['body'])}</pre>"


def _details(part: dict[str, Any]) -> str:
    inner = "".join(section(child) for child in part["sections"])
    return f"<details><summary>{esc(part['title'])}</summary>{inner}</details>"


def _bars(part: dict[str, Any]) -> str:
    labels, values = part["labels"], part["values"]
    top = max([abs(v) for v in values] + [1e-12])
    height = LANE_HEIGHT * len(labels) + 8
    plot = WIDTH - LABEL_WIDTH - 70
    shapes = []
    for number, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = 4 + number * LANE_HEIGHT
        length = max(0.0, plot * abs(value) / top)
        colour = PALETTE[number % len(PALETTE)]
        shapes.append(
            f"<text x='{LABEL_WIDTH - 6}' y='{y + 13}' text-anchor='end' font-size='11'>{esc(label, 24)}</text>"
            f"<rect x='{LABEL_WIDTH}' y='{y + 2}' width='{length:.1f}' height='{LANE_HEIGHT - 5}' fill='{colour}'/>"
            f"<text x='{LABEL_WIDTH + length + 4:.1f}' y='{y + 13}' font-size='11'>"
            f"{esc(_number(value))}{esc(part.get('unit', ''))}</text>"
        )
    return _title(part) + _svg(height, "".join(shapes), "dspex-bars")


def _lanes(part: dict[str, Any]) -> str:
    names, kinds, flags = part["lanes"], part["kinds"], part["flags"]
    low, high = part["extent"]
    plot = WIDTH - LABEL_WIDTH - 10
    scale = plot / max(high - low, 1e-9)
    height = LANE_HEIGHT * len(names) + 24
    shapes = [
        f"<text x='{LABEL_WIDTH - 6}' y='{n * LANE_HEIGHT + 13}' text-anchor='end' font-size='11'>"
        f"{esc(name, 24)}</text>"
        for n, name in enumerate(names)
    ]
    bins = part.get("bins")
    if bins is not None:
        width = plot / len(bins[0]) if bins and bins[0] else plot
        top = max([max(row) for row in bins if row] + [1])
        for lane, row in enumerate(bins):
            for column, count in enumerate(row):
                if count:
                    shapes.append(
                        f"<rect x='{LABEL_WIDTH + column * width:.1f}' y='{lane * LANE_HEIGHT + 2}' "
                        f"width='{max(width, 1):.1f}' height='{LANE_HEIGHT - 4}' fill='#4c78a8' "
                        f"fill-opacity='{0.2 + 0.8 * count / top:.2f}'><title>{count} spans</title></rect>"
                    )
    for lane, start, end, kind, flag in part.get("spans", []):
        x = LABEL_WIDTH + (start - low) * scale
        width = max((end - start) * scale, 1.5)
        name = flags[flag] if flag < len(flags) else "ok"
        colour = FLAG_COLOURS.get(name, PALETTE[kind % len(PALETTE)])
        outline = " stroke='#000' stroke-width='1'" if name != "ok" else ""
        label = f"{kinds[kind] if kind < len(kinds) else kind} {name} +{start:.3f}s {1000 * (end - start):.1f} ms"
        shapes.append(
            f"<rect x='{x:.1f}' y='{lane * LANE_HEIGHT + 3}' width='{width:.1f}' height='{LANE_HEIGHT - 6}' "
            f"fill='{colour}'{outline}><title>{esc(label)}</title></rect>"
        )
    axis_y = len(names) * LANE_HEIGHT + 14
    shapes.append(
        f"<text x='{LABEL_WIDTH}' y='{axis_y}' font-size='10'>+{low:.3f} s</text>"
        f"<text x='{WIDTH - 10}' y='{axis_y}' font-size='10' text-anchor='end'>+{high:.3f} s</text>"
    )
    legend = " · ".join(
        f"<span style='color:{PALETTE[n % len(PALETTE)]}'>■</span> {esc(kind)}" for n, kind in enumerate(kinds)
    )
    marks = " · ".join(f"<span style='color:{c}'>■</span> {esc(f)}" for f, c in FLAG_COLOURS.items())
    total = part.get("total", 0)
    note = f"{total:,} spans" + (" (counted per lane and time bin; failed spans drawn one by one)" if bins else "")
    return (
        _title(part)
        + _svg(height, "".join(shapes), "dspex-lanes")
        + f"<div class='dspex-note'>{legend} · {marks} · {esc(note)}</div>"
    )


def _svg(height: int, body: str, css: str) -> str:
    # A fixed pixel height: the chart keeps its size whatever the page's width does.
    return (
        f"<svg class='{css}' xmlns='http://www.w3.org/2000/svg' viewBox='0 0 {WIDTH} {height}' "
        f"width='{WIDTH}' height='{height}' preserveAspectRatio='xMinYMin meet'>{body}</svg>"
    )


def _number(value: float) -> str:
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"


_DRAW: dict[str, Callable[[dict[str, Any]], str]] = {
    "stats": _stats,
    "table": _table,
    "text": _text_block,
    "details": _details,
    "bars": _bars,
    "lanes": _lanes,
}
