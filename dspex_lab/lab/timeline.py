"""TimelineExplorer: every span of a trace on a time axis, in lanes, with filters and a details pane.

Spans come from the store's span table (`dx.trace.spans()`): one bar per span
from its start to its end, in a lane per component (or per task), coloured
by kind; hovering a bar's start shows what it was. Filters narrow the kinds,
components, run and time window; the details pane shows a selected span's
payloads (a prompt and its reply, usage, a program's inputs and outputs),
decoded only for that span.

Sizes: up to `SVG_LIMIT` spans are drawn one by one as SVG (rich hover
text); beyond that the view is counts per lane and time bin, which draws at
once for any size (WebGL took 4.6-9 s per redraw of 11,000 spans in a
GPU-less browser; see BENCHMARKS.md), until the filters, the text search or
the time window narrow it. Failed, retried and cancelled spans are marked
one by one at every size, so they stand out.

The span tree lists spans under their parents (collapsible); the details
pane links a span to its parent. `filter(text=...)` searches kinds,
components and payloads.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dspex_lab.lab import document as doc
from dspex_lab.lab import render
from dspex_lab.lab.panel import Panel, Widget
from dspex_lab.trace import schema
from dspex_lab.trace.query import get_events, resolve_store
from dspex_lab.trace.query import spans as get_spans
from dspex_lab.trace.schema import Key

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import plotly.graph_objects as go

    from dspex_lab.trace.store import EventStore

SVG_LIMIT = 2_000
LIST_LIMIT = 2_000
TREE_LIMIT = 300
"""Spans the tree view lists (each with its descendants)."""
BINS = 400
FLAG_MARKERS = {
    "error": {"symbol": "x", "color": "#d62728", "size": 11},
    "retried": {"symbol": "triangle-up", "color": "#ff7f0e", "size": 11},
    "cancelled": {"symbol": "square-open", "color": "#555555", "size": 10},
}
LANE_KEYS = ("component", "task")
PALETTE = ("#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2", "#eeca3b", "#9d755d", "#ff9da6", "#bab0ac")


def span_kind(kind: str) -> str:
    """A span's kind as the timeline names it: "program.start" -> "program", "lm.request" stays."""
    return schema.span_name(kind)


@dataclass(slots=True)
class TimelineParts:
    """The widgets of a TimelineExplorer."""

    title: Widget
    kind: Widget
    component: Widget
    run: Widget
    window: Widget
    lanes: Widget
    search: Widget
    chart: Widget
    pick: Widget
    more: Widget
    parent: Widget
    tree: Widget
    details: Widget
    tree_box: Widget = None


class TimelineExplorer(Panel[TimelineParts]):
    """`TimelineExplorer(store_or_query)`: a trace's spans on a timeline; see the module docstring.

    `source` is an EventStore, a trace file (`dx.trace.save` / `SQLiteSink`),
    a trace frame from `dx.get_events(...)`, or None for the current store.
    `lanes` is "component" or "task". The filter arguments set the first view
    (`kind` and `component`: a name or a list; `run_id`; `window`: (start, end)
    in seconds since the first span).
    """

    def __init__(
        self,
        source: Any = None,
        *,
        lanes: str = "component",
        kind: str | list[str] | None = None,
        component: str | list[str] | None = None,
        run_id: str | None = None,
        window: tuple[float, float] | None = None,
        text: str | None = None,
    ) -> None:
        self.store = _store_of(source)
        spans = get_spans(store=self.store)
        spans["kind"] = spans["kind"].astype(str).map(span_kind)
        self.spans = spans
        self._finish_ns = _finish_ns(spans)
        """Each span's end; an open span ends where it starts."""
        self.t0 = int(spans["start"].min()) if len(spans) else 0
        self.span_s = int(self._finish_ns.max() - self.t0) / 1e9 if len(spans) else 0.0
        self.kinds = sorted(set(spans["kind"].tolist()))
        self.components = [str(c) for c in spans["component"].cat.categories] if len(spans) else []
        self.runs = sorted({str(r) for r in spans["run_id"].tolist() if r == r and r is not None})
        self.lanes = "component"
        self.selected: int | None = None
        self._filters: dict[str, Any] = {"kind": None, "component": None, "run_id": None, "window": None, "text": None}
        self._searchable: Any = None
        self.filter(lanes=lanes, kind=kind, component=component, run_id=run_id, window=window, text=text)

    # --- the view -----------------------------------------------------------------------------------
    def filter(self, **changes: Any) -> pd.DataFrame:
        """Change the view: `kind`, `component` (a name, a list, or None for all), `run_id`, `window`, `lanes`,
        `text` (spans whose kind, component or payloads contain it, ignoring case).

        Returns the spans now shown.
        """
        unknown = sorted(set(changes) - {*self._filters, "lanes"})
        if unknown:
            raise TypeError(f"unknown filter(s) {unknown}; filters are {[*self._filters, 'lanes']}")
        lanes = changes.pop("lanes", self.lanes)
        if lanes not in LANE_KEYS:
            raise ValueError(f"lanes must be one of {list(LANE_KEYS)}, got {lanes!r}")
        self.lanes = lanes
        for name in ("kind", "component"):
            if name in changes:
                changes[name] = _listed(changes[name], self.kinds if name == "kind" else self.components, name)
        if changes.get("run_id") is not None and changes["run_id"] not in self.runs:
            raise ValueError(f"no run {changes['run_id']!r} in this trace; its runs are {self.runs}")
        if changes.get("window") is not None:
            start, end = changes["window"]
            if not end >= start:
                raise ValueError(f"window must be (start, end) seconds with end >= start, got {changes['window']!r}")
        self._filters.update(changes)
        self._redraw()
        return self.visible()

    def visible(self) -> pd.DataFrame:
        """The spans the current filters keep, in start order."""
        import numpy as np

        spans = self.spans
        keep = np.ones(len(spans), dtype=bool)
        filters = self._filters
        if filters["kind"] is not None:
            keep &= spans["kind"].isin(filters["kind"]).to_numpy()
        if filters["component"] is not None:
            keep &= spans["component"].astype(str).isin(filters["component"]).to_numpy()
        if filters["run_id"] is not None:
            keep &= (spans["run_id"].astype(object) == filters["run_id"]).to_numpy()
        if filters["window"] is not None:
            start, end = filters["window"]
            starts = (spans["start"].to_numpy() - self.t0) / 1e9
            finish = (self._finish_ns - self.t0) / 1e9
            keep &= (finish >= start) & (starts <= end)
        if filters["text"]:
            needle = str(filters["text"]).lower()
            keep &= np.array([needle in text for text in self._search_texts()], dtype=bool)
        return spans[keep]

    def _search_texts(self) -> list[str]:
        """Per span, its kind, component and payloads as one lower-case string (decoded on the first search)."""
        if self._searchable is None:
            import json

            full = get_spans(payload=True, store=self.store).reindex(self.spans.index)
            self._searchable = [
                f"{kind} {component} {json.dumps(start, default=str)} {json.dumps(end, default=str)}".lower()
                for kind, component, start, end in zip(
                    self.spans["kind"].tolist(),
                    self.spans["component"].astype(str).tolist(),
                    full["start_payload"].tolist(),
                    full["end_payload"].tolist(),
                    strict=True,
                )
            ]
        return self._searchable

    def figure(self) -> go.Figure:
        """The timeline of the spans shown now (SVG, or binned counts past `SVG_LIMIT` spans)."""
        import numpy as np
        import plotly.graph_objects as go

        shown = self.visible()
        lane_names = list(dict.fromkeys(shown[self.lanes].astype(str).tolist()))
        lane_of = {name: number for number, name in enumerate(lane_names)}
        figure = go.Figure()
        if len(shown) > SVG_LIMIT:
            self._binned(figure, shown, lane_names, lane_of)
        else:
            x0 = (shown["start"].to_numpy() - self.t0) / 1e9
            x1 = (_finish_ns(shown) - self.t0) / 1e9
            lane = np.array([lane_of[name] for name in shown[self.lanes].astype(str).tolist()], dtype="float64")
            kinds = shown["kind"].to_numpy()
            hover = _hover(shown, x0)
            for number, kind in enumerate(sorted(set(kinds.tolist()))):
                mask = kinds == kind
                colour = PALETTE[number % len(PALETTE)]
                marker = {"color": colour, "size": 7, "symbol": "line-ns-open", "line": {"width": 2}}
                figure.add_trace(
                    go.Scatter(
                        x=_segments(x0[mask], x1[mask]),
                        y=_segments(lane[mask], lane[mask]),
                        mode="lines",
                        name=kind,
                        line={"color": colour, "width": 9},
                        hoverinfo="skip",
                        legendgroup=kind,
                    )
                )
                figure.add_trace(
                    go.Scatter(x=x0[mask], y=lane[mask], mode="markers", name=kind, legendgroup=kind, showlegend=False,
                               marker=marker, hovertext=hover[mask], hoverinfo="text", customdata=shown.index[mask])
                )  # fmt: skip
        self._flagged(figure, shown, lane_of)
        figure.update_layout(
            height=min(900, 140 + 34 * max(1, len(lane_names))),
            margin={"l": 10, "r": 10, "t": 30, "b": 40},
            template="plotly_white",
            xaxis={"title": "seconds since the first span", "range": self._x_range(shown)},
            yaxis={
                "tickvals": list(range(len(lane_names))),
                "ticktext": lane_names,
                "autorange": "reversed",
                "automargin": True,
            },
            legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0},
            hovermode="closest",
        )
        return figure

    def _x_range(self, shown: pd.DataFrame) -> list[float] | None:
        """The shown spans' extent with a margin (plotly pads markers, not the ends of lines)."""
        if not len(shown):
            return None
        low = (int(shown["start"].min()) - self.t0) / 1e9
        high = (int(_finish_ns(shown).max()) - self.t0) / 1e9
        margin = max(high - low, 1e-3) * 0.02
        return [low - margin, high + margin]

    def snapshot(self) -> render.StaticFigure:
        """The chart as it is now, as a plain output that HTML exports and notebook viewers draw too."""
        from dspex_lab.lab import static

        return render.StaticFigure(self.figure(), self._heading(self.visible()), static.html(self.document().to_dict()))

    def _flagged(self, figure: go.Figure, shown: pd.DataFrame, lane_of: dict[str, int]) -> None:
        """Failed, retried and cancelled spans as their own markers, at any size."""
        import numpy as np
        import plotly.graph_objects as go

        flags = np.array(self.flags(shown))
        for number, name in enumerate(doc.SPAN_FLAGS):
            mask = flags == number
            if name not in FLAG_MARKERS or not mask.any():
                continue
            mine = shown[mask]
            x0 = (mine["start"].to_numpy() - self.t0) / 1e9
            lanes = [lane_of[lane] for lane in mine[self.lanes].astype(str).tolist()]
            figure.add_trace(
                go.Scatter(x=x0, y=lanes, mode="markers", name=f"{name} ({int(mask.sum())})",
                           marker=FLAG_MARKERS[name], hovertext=_hover(mine, x0), hoverinfo="text",
                           customdata=mine.index)
            )  # fmt: skip

    def _binned(self, figure: go.Figure, shown: pd.DataFrame, lane_names: list[str], lane_of: dict[str, int]) -> None:
        import numpy as np
        import plotly.graph_objects as go

        x0 = (shown["start"].to_numpy() - self.t0) / 1e9
        lo, hi = float(x0.min()), float(x0.max())
        width = (hi - lo) / BINS or 1.0
        column = np.minimum(((x0 - lo) / width).astype(np.int64), BINS - 1)
        lane = np.array([lane_of[name] for name in shown[self.lanes].astype(str).tolist()], dtype=np.int64)
        counts = np.zeros((len(lane_names), BINS), dtype=np.int64)
        np.add.at(counts, (lane, column), 1)
        figure.add_trace(
            go.Heatmap(
                z=np.where(counts > 0, counts, np.nan),
                x=lo + width * (np.arange(BINS) + 0.5),
                y=list(range(len(lane_names))),
                text=[[name] * BINS for name in lane_names],
                colorscale="Blues",
                colorbar={"title": "spans"},
                hovertemplate="%{text}<br>%{z} spans started at %{x:.3f} s<extra></extra>",
            )
        )
        figure.update_layout(
            title=f"{len(shown):,} spans, counted per {width:.3g} s: filter or narrow the window to see single spans"
        )

    # --- details ------------------------------------------------------------------------------------
    def details(self, span_id: int) -> dict[str, Any]:
        """Everything recorded about span `span_id`: its row in the span table and both payloads."""
        if span_id not in self.spans.index:
            raise KeyError(f"no span {span_id} in this trace")
        span = self.spans.loc[span_id]
        start = int(span["start"])
        # Only the spans starting at that very nanosecond have their payloads decoded.
        found = get_spans(since=start, until=start, payload=True, store=self.store).loc[span_id]
        return {
            "span_id": span_id,
            "kind": span["kind"],
            "component": str(span["component"]),
            "run_id": None if span["run_id"] != span["run_id"] else str(span["run_id"]),
            "task": str(span["task"]),
            "parent_id": _optional_int(span["parent_id"]),
            "start_s": (start - self.t0) / 1e9,
            "duration_ms": None if span["duration_ms"] != span["duration_ms"] else float(span["duration_ms"]),
            "status": span["status"],
            "error": span["error"],
            "start_payload": found["start_payload"] or {},
            "end_payload": found["end_payload"] or {},
        }

    def select(self, span_id: int | None) -> dict[str, Any] | None:
        """Show span `span_id` in the details pane (None clears it); returns its details."""
        self.selected = span_id
        found = self.details(span_id) if span_id is not None else None
        if self.parts is not None:
            self.parts.details.value = _details_html(found) if found is not None else ""
            parent = None if found is None else found["parent_id"]
            self.parts.parent.disabled = parent is None or parent not in self.spans.index
            self.parts.parent.description = "no parent span" if parent is None else f"go to parent span {parent}"
            if self.parts.pick.value != span_id and span_id in dict((v, v) for _, v in self.parts.pick.options):
                self.parts.pick.value = span_id
        return found

    def select_parent(self) -> dict[str, Any] | None:
        """Select the parent of the selected span (what the details pane's parent link does)."""
        if self.selected is None:
            return None
        parent = _optional_int(self.spans.at[self.selected, "parent_id"])
        return self.select(parent) if parent is not None and parent in self.spans.index else None

    def tree(self) -> list[tuple[int, int]]:
        """The shown spans as (depth, span id), each under its parent, in start order (the tree view's rows)."""
        shown = self.visible()
        ids = shown.index.tolist()
        present = set(ids)
        children: dict[int | None, list[int]] = {}
        for span_id, parent in zip(ids, shown["parent_id"].tolist(), strict=True):
            parent_id = _optional_int(parent)
            children.setdefault(parent_id if parent_id in present else None, []).append(span_id)
        rows: list[tuple[int, int]] = []
        stack = [(0, span_id) for span_id in reversed(children.get(None, []))]
        while stack and len(rows) < TREE_LIMIT:
            depth, span_id = stack.pop()
            rows.append((depth, span_id))
            stack.extend((depth + 1, child) for child in reversed(children.get(span_id, [])))
        return rows

    def tree_html(self) -> str:
        """The span tree as nested, collapsible HTML: a span's children fold under it."""
        spans = self.spans
        rows = self.tree()
        flagged = set(self.visible().index[[flag > 0 for flag in self.flags(self.visible())]].tolist())
        out: list[str] = []
        depth_open = 0
        for number, (depth, span_id) in enumerate(rows):
            while depth_open > depth:
                out.append("</div></details>")
                depth_open -= 1
            has_children = number + 1 < len(rows) and rows[number + 1][0] > depth
            kind, component = spans.at[span_id, "kind"], spans.at[span_id, "component"]
            mark = " ⚠" if span_id in flagged else ""
            label = (
                f"<span id='dspex-span-{span_id}'>{render.esc(kind)} <b>{render.esc(component)}</b> "
                f"{_ms(spans.at[span_id, 'duration_ms'])} · span {span_id}{mark}</span>"
            )
            if has_children:
                out.append(f"<details><summary>{label}</summary><div style='margin-left:14px'>")
                depth_open += 1
            else:
                out.append(f"<div style='margin-left:14px'>{label}</div>")
        out.extend("</div></details>" for _ in range(depth_open))
        more = len(self.visible()) - len(rows)
        note = render.muted(f" … {more:,} more spans: filter or search to see them") if more > 0 else ""
        return f"<div class='dspex-tree'>{''.join(out)}{note}</div>"

    # --- widgets ------------------------------------------------------------------------------------
    def _build(self) -> Any:
        import ipywidgets as w

        filters = self._filters
        box = w.Layout(width="auto")
        parts = TimelineParts(
            title=w.HTML(),
            kind=w.SelectMultiple(
                options=self.kinds, value=tuple(filters["kind"] or self.kinds), rows=5, description="kind", layout=box
            ),
            component=w.SelectMultiple(
                options=self.components,
                value=tuple(filters["component"] or self.components),
                rows=5,
                description="component",
                layout=box,
            ),
            run=w.Dropdown(
                options=[("all runs", ""), *((r, r) for r in self.runs)],
                value=filters["run_id"] or "",
                description="run",
            ),
            window=w.FloatRangeSlider(
                min=0.0,
                max=max(self.span_s, 1e-3),
                value=filters["window"] or (0.0, max(self.span_s, 1e-3)),
                step=max(self.span_s, 1e-3) / 1000,
                readout_format=".3f",
                continuous_update=False,
                description="seconds",
                layout=w.Layout(width="95%"),
            ),
            lanes=w.ToggleButtons(options=list(LANE_KEYS), value=self.lanes, description="lanes by"),
            search=w.Text(
                value=filters["text"] or "",
                placeholder="kind, component or payload text",
                description="search",
                continuous_update=False,
            ),
            chart=w.Output(layout=w.Layout(width="100%")),
            pick=w.Select(options=[], rows=8, description="span", layout=w.Layout(width="95%")),
            more=w.HTML(),
            parent=w.Button(description="no parent span", disabled=True, icon="level-up"),
            tree=w.HTML(),
            details=w.HTML(),
        )
        parts.tree_box = w.Accordion(children=[parts.tree], titles=("span tree",), selected_index=None)
        self.parts = parts
        parts.kind.observe(lambda c: self.filter(kind=list(c["new"])), names="value")
        parts.component.observe(lambda c: self.filter(component=list(c["new"])), names="value")
        parts.run.observe(lambda c: self.filter(run_id=c["new"] or None), names="value")
        parts.window.observe(lambda c: self.filter(window=tuple(c["new"])), names="value")
        parts.lanes.observe(lambda c: self.filter(lanes=c["new"]), names="value")
        parts.pick.observe(lambda c: self.select(c["new"]), names="value")
        parts.search.observe(lambda c: self.filter(text=c["new"] or None), names="value")
        parts.parent.on_click(lambda _: self.select_parent())
        self._redraw()
        return w.VBox(
            [
                parts.title,
                w.HBox([parts.kind, parts.component, w.VBox([parts.run, parts.lanes, parts.search])]),
                parts.window,
                parts.chart,
                parts.tree_box,
                parts.pick,
                parts.more,
                parts.parent,
                parts.details,
            ],
            layout=w.Layout(width="100%"),
        )

    def _redraw(self) -> None:
        parts = self.parts
        if parts is None:
            return
        shown = self.visible()
        parts.title.value = render.STYLE + f"<b>{render.esc(self._heading(shown))}</b>"
        figure = self.figure()
        # The chart's box holds the figure's height, so a resize of the page never squeezes the plot.
        parts.chart.layout.min_height = f"{figure.layout.height}px"
        parts.chart.outputs = (render.figure_output(figure, self._heading(shown)),)
        parts.tree.value = self.tree_html()
        listed = shown.iloc[:LIST_LIMIT]
        starts = (listed["start"].to_numpy() - self.t0) / 1e9
        parts.pick.options = [
            (f"+{start:.3f}s  {kind}  {component}  {_ms(duration)}", int(span_id))
            for span_id, start, kind, component, duration in zip(
                listed.index.tolist(),
                starts.tolist(),
                listed["kind"].tolist(),
                listed["component"].astype(str).tolist(),
                listed["duration_ms"].tolist(),
                strict=True,
            )
        ]
        parts.more.value = (
            render.muted(f"listing the first {LIST_LIMIT:,} of {len(shown):,} spans; filter to list others")
            if len(shown) > LIST_LIMIT
            else ""
        )
        if self.selected is not None and self.selected in set(listed.index.tolist()):
            parts.pick.value = self.selected

    def _heading(self, shown: pd.DataFrame) -> str:
        lanes = shown[self.lanes].nunique() if len(shown) else 0
        return (
            f"{len(shown):,} of {len(self.spans):,} spans in {lanes} lanes (by {self.lanes}), "
            f"{len(self.store):,} events over {self.span_s:.3g} s"
        )

    # --- the document -------------------------------------------------------------------------------
    def flags(self, shown: pd.DataFrame) -> list[int]:
        """How each shown span ended, numbered as `document.SPAN_FLAGS`: ok, error, retried, cancelled."""
        retried = self.retried()
        number = {name: n for n, name in enumerate(doc.SPAN_FLAGS)}
        return [
            number["error"]
            if status == "error"
            else number["cancelled"]
            if status == "cancelled"
            else number["retried"]
            if span_id in retried
            else number["ok"]
            for span_id, status in zip(shown.index.tolist(), shown["status"].tolist(), strict=True)
        ]

    def retried(self) -> set[int]:
        """The spans inside which an LM request was retried."""
        found = get_events(kind=schema.LMRetry.KIND, payload=False, store=self.store)
        return {int(p) for p in found["parent_id"].tolist() if _optional_int(p) is not None}

    def document(self) -> doc.Document:
        """The spans shown now on a time axis (binned past `document.SPAN_LIMIT`), with counts per lane and kind."""
        shown = self.visible()
        lane_names = list(dict.fromkeys(shown[self.lanes].astype(str).tolist()))
        lane_of = {name: number for number, name in enumerate(lane_names)}
        kind_of = {name: number for number, name in enumerate(self.kinds)}
        x0 = ((shown["start"].to_numpy() - self.t0) / 1e9).tolist()
        x1 = ((_finish_ns(shown) - self.t0) / 1e9).tolist()
        spans = list(
            zip(
                [lane_of[name] for name in shown[self.lanes].astype(str).tolist()],
                x0,
                x1,
                [kind_of[kind] for kind in shown["kind"].tolist()],
                self.flags(shown),
                strict=True,
            )
        )
        per_kind = shown["kind"].value_counts(sort=False).sort_index() if len(shown) else None
        sections = [
            doc.stats([("spans", f"{len(shown):,} of {len(self.spans):,}"), ("lanes", len(lane_names))]),
            doc.lanes(f"spans by {self.lanes}", lane_names, self.kinds, spans),
        ]
        if per_kind is not None:
            sections.append(doc.bars("spans per kind", list(per_kind.index), per_kind.tolist()))
        data = {"filters": self._filters, "lanes_by": self.lanes, "kinds": self.kinds, "runs": self.runs}
        return doc.Document("timeline", f"Timeline · {self._heading(shown)}", sections, data)

    # --- text ---------------------------------------------------------------------------------------
    def text(self) -> str:
        shown = self.visible()
        lines = [f"TimelineExplorer  {self._heading(shown)}"]
        if len(shown):
            per_lane = shown.groupby(shown[self.lanes].astype(str), sort=False, observed=True).size()
            lines.append("  lanes: " + ", ".join(f"{name} ({count})" for name, count in per_lane.items()))
            per_kind = shown["kind"].value_counts(sort=False).sort_index()
            lines.append("  kinds: " + ", ".join(f"{name} ({count})" for name, count in per_kind.items()))
        return "\n".join(lines)


def _store_of(source: Any) -> EventStore:
    from dspex_lab.trace.store import EventStore

    if source is None or isinstance(source, EventStore):
        return resolve_store(source)
    if isinstance(source, str | os.PathLike):
        from dspex_lab.trace.persist import load

        return load(Path(source))
    if hasattr(source, "columns") and {"kind", "component"} <= set(source.columns):
        return _from_frame(source)
    raise TypeError(
        f"TimelineExplorer takes an EventStore, a trace file path, or a frame from dx.get_events(...); "
        f"got {type(source).__name__}"
    )


def _from_frame(frame: pd.DataFrame) -> EventStore:
    """A store holding the events of a trace frame (what `dx.get_events` returns)."""
    from dspex_lab.trace.schema import FIELDS, Event
    from dspex_lab.trace.store import EventStore

    if frame.index.name != "ts":
        raise ValueError("a trace frame is indexed by 'ts' (epoch ns), as dx.get_events(...) returns it")

    def column(name: str) -> list[Any]:
        if name == "ts":
            return [int(ts) for ts in frame.index.tolist()]
        if name not in frame.columns:
            return [None] * len(frame)
        return [None if _missing(value) else value for value in frame[name].astype(object).tolist()]

    store = EventStore()
    store.extend(Event._make(values) for values in zip(*(column(name) for name in FIELDS), strict=True))
    return store


def _missing(value: Any) -> bool:
    """None, pandas.NA or NaN: how a frame marks "no value"."""
    import pandas as pd

    return value is None or value is pd.NA or (isinstance(value, float) and value != value)


def _listed(value: str | list[str] | tuple[str, ...] | None, known: list[str], what: str) -> list[str] | None:
    if value is None:
        return None
    chosen = [value] if isinstance(value, str) else list(value)
    missing = [item for item in chosen if item not in known]
    if missing:
        raise ValueError(f"no {what} {missing} in this trace; it has {known}")
    return chosen


def _finish_ns(spans: pd.DataFrame) -> np.ndarray:
    """Each span's end in epoch ns, as int64 (exact); an open span ends where it starts."""
    import numpy as np

    ends = spans["end"]
    return np.where(ends.isna().to_numpy(), spans["start"].to_numpy(), ends.to_numpy(dtype="int64", na_value=0))


def _segments(start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """start0, end0, gap, start1, end1, gap, ...: one line segment per span, drawn as one trace."""
    import numpy as np

    out = np.full(len(start) * 3, np.nan)
    out[0::3] = start
    out[1::3] = end
    return out


def _hover(shown: pd.DataFrame, x0: np.ndarray) -> np.ndarray:
    import numpy as np

    texts = [
        f"<b>{kind}</b> {component}<br>+{start:.3f} s, {_ms(duration)}, {status}<br>run {run}, {task}"
        + (f"<br>{render.esc(error, 120)}" if error else "")
        for kind, component, start, duration, status, run, task, error in zip(
            shown["kind"].tolist(),
            shown["component"].astype(str).tolist(),
            x0.tolist(),
            shown["duration_ms"].tolist(),
            shown["status"].tolist(),
            shown["run_id"].astype(str).tolist(),
            shown["task"].astype(str).tolist(),
            shown["error"].tolist(),
            strict=True,
        )
    ]
    out = np.empty(len(texts), dtype=object)
    out[:] = texts
    return out


def _optional_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _ms(duration: Any) -> str:
    return "open" if duration is None or duration != duration else f"{duration:.1f} ms"


def _details_html(found: dict[str, Any]) -> str:
    start, end = found["start_payload"], found["end_payload"]
    head = render.pairs(
        [
            ("span", f"{found['span_id']} ({found['kind']})"),
            ("component", found["component"]),
            ("run", found["run_id"]),
            ("task", found["task"]),
            ("parent span", found["parent_id"]),
            ("start", f"+{found['start_s']:.3f} s"),
            ("duration", _ms(found["duration_ms"])),
            ("status", found["status"]),
            ("error", found["error"]),
        ]
    )
    if found["kind"] == schema.LMRequest.KIND:
        reply = schema.LMResponse.of(end)
        usage = render.pairs(
            [
                (name, getattr(reply, name))
                for name in (
                    Key.prompt_tokens,
                    Key.completion_tokens,
                    Key.cost,
                    Key.cache_hit,
                    Key.finish_reason,
                    Key.attempts,
                )
            ]
        )
        body = (
            render.folded("prompt", render.messages(schema.LMRequest.of(start).messages))
            + render.section("reply", render.block(reply.text))
            + render.section("usage", usage)
        )
    elif found["kind"] == schema.PROGRAM_SPAN:
        body = render.section(
            "inputs", render.pairs((schema.ProgramStart.of(start).inputs or {}).items())
        ) + render.section("outputs", render.pairs((schema.ProgramEnd.of(end).outputs or {}).items()))
    else:
        body = render.section("at the start", render.pairs(start.items())) + render.section(
            "at the end", render.pairs(end.items())
        )
    return head + body
