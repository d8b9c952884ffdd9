"""DemoInspector: a program's demonstrations, where each came from, and how they changed over time.

Everything comes from the event store. A predictor's demos at any moment are
`get_state_at(program, t)` (its `StateChange` events folded, through the
predictors it was copied from); the time slider walks the moments those
changes were recorded. The compile that installed the demos is found by its
`OptimizeDemos` events (one per predictor, naming the origin of each demo:
"bootstrapped" from a teacher run that passed the metric, or "labeled" as
given); a bootstrapped demo's teacher run is its `OptimizeAttempt` event in
that compile, and the LM calls of that run are the spans under it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dspex_lab.lab import document as doc
from dspex_lab.lab import render
from dspex_lab.lab.examples import LMCall, descendants, lm_calls
from dspex_lab.lab.panel import Panel, Widget
from dspex_lab.trace import events, schema
from dspex_lab.trace.query import get_events, to_ns
from dspex_lab.trace.query import spans as get_spans
from dspex_lab.trace.schema import Key
from dspex_lab.trace.timetravel import get_state_at, get_state_history

if TYPE_CHECKING:
    import pandas as pd

    from dspex_lab.trace.store import EventStore

HIDDEN_FIELDS = ("_inputs", "augmented")
LATEST = -1
"""The time slider's value for "the latest recorded state"."""


@dataclass(slots=True)
class DemoSource:
    """Where demo `position` of `predictor` came from, as recorded by the compile that installed it."""

    predictor: str
    position: int
    origin: str
    train_index: int | None
    attempt: schema.OptimizeAttempt | None = None
    calls: list[LMCall] = field(default_factory=list)

    def label(self) -> str:
        where = "" if self.train_index is None else f", train #{self.train_index}"
        return f"{self.origin}{where}"


@dataclass(slots=True)
class CompileInfo:
    """The compile that installed the program's demos."""

    run_id: str
    optimizer: str
    start_ns: int
    end_ns: int | None
    origins: dict[str, list[schema.DemoOrigin]]
    installed_under: dict[str, int | None]
    """Per predictor, the span its `OptimizeDemos` event was emitted in (to find the teacher runs of that compile)."""


@dataclass(slots=True)
class DemoDiff:
    """One predictor's demos before and after the compile."""

    before: list[dict[str, Any]]
    after: list[dict[str, Any]]

    @property
    def added(self) -> list[dict[str, Any]]:
        return [demo for demo in self.after if demo not in self.before]

    @property
    def removed(self) -> list[dict[str, Any]]:
        return [demo for demo in self.before if demo not in self.after]


@dataclass(slots=True)
class DemoParts:
    """The widgets of a DemoInspector."""

    title: Widget
    slider: Widget
    moment: Widget
    table: Widget
    diff: Widget
    source: Widget
    origin: Widget


class DemoInspector(Panel[DemoParts]):
    """`DemoInspector(program)`: each predictor's demos as a table, their origins, the compile's diff, a time slider.

    `store` defaults to the current store. `at(t)` moves to time `t` (any
    moment `dx.get_state_at` takes; None for the latest).
    """

    def __init__(self, program: Any, *, store: EventStore | None = None) -> None:
        named = getattr(program, "named_predictors", None)
        if not callable(named):
            raise TypeError(f"DemoInspector needs a program (a dx.Module), got {type(program).__name__}")
        self.program = program
        store = store if store is not None else events.get_store()
        if store is None:
            raise RuntimeError("tracing is off, so demo history is not kept; turn it on with dx.trace.enable()")
        self.store = store
        self.predictors = [(name, predictor.uid) for name, predictor in named()]
        self.history: pd.DataFrame = get_state_history(program, store=store)
        self.moments: list[int] = sorted({int(ts) for ts in self.history.index.tolist()})
        self.compile = _find_compile(store, dict((uid, name) for name, uid in self.predictors))
        self._sources: dict[str, list[DemoSource]] | None = None
        self.time: int | None = None

    # --- queries ------------------------------------------------------------------------------------
    def demos_at(self, t: Any = None) -> dict[str, list[dict[str, Any]]]:
        """Each predictor's demos (as dicts) at time `t`; None means the latest recorded state."""
        moment = to_ns(t) if t is not None else (self.moments[-1] if self.moments else None)
        if moment is None:
            return {
                name: [_plain(demo) for demo in predictor.demos] for name, predictor in self.program.named_predictors()
            }
        states = get_state_at(self.program, moment, store=self.store)
        assert isinstance(states, dict)  # a program's state: one entry per predictor
        return {name: [dict(demo) for demo in (state or {}).get(Key.demos) or []] for name, state in states.items()}

    def diff(self) -> dict[str, DemoDiff] | None:
        """Per predictor, the demos just before the compile started and when it ended (None without a compile)."""
        info = self.compile
        if info is None:
            return None
        before = self.demos_at(info.start_ns - 1)
        after = self.demos_at(info.end_ns if info.end_ns is not None else None)
        return {name: DemoDiff(before.get(name, []), after.get(name, [])) for name, _ in self.predictors}

    def sources(self) -> dict[str, list[DemoSource]]:
        """Per predictor, where each demo the compile installed came from (empty without a compile)."""
        if self._sources is None:
            self._sources = _sources(self.store, self.compile) if self.compile is not None else {}
        return self._sources

    def at(self, t: Any = None) -> dict[str, list[dict[str, Any]]]:
        """Show the demos at time `t` (None: the latest); returns them."""
        from dspex_lab.trace.query import to_ns

        self.time = to_ns(t) if t is not None else None
        if self.parts is not None:
            wanted = self._nearest_moment(self.time)
            wanted = LATEST if wanted is None else wanted
            if self.parts.slider.value != wanted:
                self.parts.slider.value = wanted
            self._redraw()
        return self.demos_at(self.time)

    def _nearest_moment(self, t: int | None) -> int | None:
        if t is None or not self.moments:
            return None
        earlier = [m for m in self.moments if m <= t]
        return earlier[-1] if earlier else self.moments[0]

    # --- widgets ------------------------------------------------------------------------------------
    def _build(self) -> Any:
        import ipywidgets as w

        options = [(_moment_label(self.history, m, n, len(self.moments)), m) for n, m in enumerate(self.moments)]
        options.append(("latest", LATEST))
        slider = w.SelectionSlider(
            options=options, value=LATEST, description="time", continuous_update=False, layout=w.Layout(width="90%")
        )
        slider.observe(lambda change: self._on_slide(change["new"]), names="value")
        choices = [
            (f"{s.predictor} #{s.position + 1}: {s.label()}", (s.predictor, s.position))
            for found in self.sources().values()
            for s in found
        ]
        source = w.Dropdown(options=choices, value=None, description="demo", layout=w.Layout(width="60%"))
        source.observe(lambda change: self.explain(*change["new"]) if change["new"] else None, names="value")
        self.parts = DemoParts(
            title=w.HTML(),
            slider=slider,
            moment=w.HTML(),
            table=w.HTML(),
            diff=w.HTML(),
            source=source,
            origin=w.HTML(),
        )
        self._redraw()
        parts = self.parts
        children = [parts.title, parts.slider, parts.moment, parts.table, parts.diff]
        if choices:
            source.value = choices[0][1]  # the first demo's origin is shown until another is chosen
            children += [w.HTML("<b>where each demo came from</b>"), parts.source, parts.origin]
        return w.VBox(children, layout=w.Layout(width="100%"))

    def _on_slide(self, moment: int) -> None:
        self.time = None if moment == LATEST else moment
        self._redraw()

    def _redraw(self) -> None:
        parts = self.parts
        if parts is None:
            return
        parts.title.value = render.STYLE + f"<b>{render.esc(self._heading())}</b>"
        current = self.time
        parts.moment.value = (
            render.muted("the latest recorded state")
            if current is None
            else render.muted(_change_text(self.history, self._nearest_moment(current)))
        )
        sources = self.sources() if self._after_compile(current) else {}
        demos = self.demos_at(current)
        parts.table.value = "".join(
            render.section(f"{name}: {len(items)} demos", _demo_table(items, sources.get(name, [])))
            for name, items in demos.items()
        )
        parts.diff.value = self._diff_html()

    def explain(self, predictor: str, position: int) -> DemoSource | None:
        """Show where demo `position` (0-based) of `predictor` came from; returns it."""
        found = next((s for s in self.sources().get(predictor, []) if s.position == position), None)
        if self.parts is not None:
            self.parts.origin.value = _source_html(found) if found is not None else ""
        return found

    def _after_compile(self, t: int | None) -> bool:
        info = self.compile
        return info is not None and (t is None or (info.end_ns is not None and t >= info.end_ns))

    def _heading(self) -> str:
        info = self.compile
        made = f"compiled by {info.optimizer} (run {info.run_id})" if info is not None else "no compile recorded"
        return f"{type(self.program).__name__}: demos, {made}"

    def _diff_html(self) -> str:
        diff = self.diff()
        if diff is None:
            return render.muted("No compile installed these demos in this trace, so there is no before/after.")
        rows = [(name, len(d.before), len(d.after), len(d.added), len(d.removed)) for name, d in diff.items()]
        return render.section(
            "before and after the compile",
            render.table(["predictor", "before", "after", "added", "removed"], rows),
        )

    # --- the document -------------------------------------------------------------------------------
    def document(self) -> doc.Document:
        """The latest demos per predictor, where each came from, and the compile's before/after."""
        sources = self.sources()
        demos = self.demos_at(None)
        sections: list[dict[str, Any]] = []
        for name, items in demos.items():
            found = sources.get(name, [])
            columns: list[str] = []
            for demo in items:
                columns.extend(k for k in demo if k not in HIDDEN_FIELDS and k not in columns)
            rows = [
                [
                    position + 1,
                    *(demo.get(c, "") for c in columns),
                    found[position].label() if position < len(found) else "",
                ]
                for position, demo in enumerate(items)
            ]
            sections.append(doc.table(f"{name}: {len(items)} demos", ["#", *columns, "from"], rows))
        diff = self.diff()
        if diff is not None:
            rows = [[name, len(d.before), len(d.after), len(d.added), len(d.removed)] for name, d in diff.items()]
            sections.append(
                doc.table("before and after the compile", ["predictor", "before", "after", "added", "removed"], rows)
            )
            sections.append(
                doc.bars("demos per predictor after the compile", list(diff), [len(d.after) for d in diff.values()])
            )
        sections.append(doc.stats([("recorded changes", len(self.moments))]))
        data = {
            "program": type(self.program).__name__,
            "compile_run_id": None if self.compile is None else self.compile.run_id,
            "demos": demos,
            "sources": {name: [s.label() for s in found] for name, found in sources.items()},
        }
        return doc.Document("demos", self._heading(), sections, data)

    # --- text ---------------------------------------------------------------------------------------
    def text(self) -> str:
        lines = [f"DemoInspector  {self._heading()}"]
        diff = self.diff() or {}
        sources = self.sources()
        for name, items in self.demos_at(None).items():
            change = diff.get(name)
            extra = (
                f" (before the compile {len(change.before)}; added {len(change.added)}, removed {len(change.removed)})"
                if change
                else ""
            )
            lines.append(f"  {name}: {len(items)} demos{extra}")
            found = sources.get(name, [])
            for position, demo in enumerate(items):
                origin = f"  [{found[position].label()}]" if position < len(found) else ""
                lines.append(f"    {position + 1}. {render.text(_fields_text(demo), 100)}{origin}")
        lines.append(f"  {len(self.moments)} recorded changes")
        return "\n".join(lines)


def _plain(demo: Any) -> dict[str, Any]:
    from dspex_lab.modules.state import demo_to_dict

    return demo_to_dict(demo)


def _fields_text(demo: dict[str, Any]) -> str:
    return "; ".join(f"{k}={render.text(v)}" for k, v in demo.items() if k not in HIDDEN_FIELDS)


def _demo_table(items: list[dict[str, Any]], sources: list[DemoSource]) -> str:
    if not items:
        return render.muted(" (none)")
    columns: list[str] = []
    for demo in items:
        columns.extend(k for k in demo if k not in HIDDEN_FIELDS and k not in columns)
    inputs = set(items[0].get("_inputs") or [])
    header = ["#", *(f"{c} (input)" if c in inputs else c for c in columns)]
    if sources:
        header.append("from")
    rows = []
    for position, demo in enumerate(items):
        row = [position + 1, *(demo.get(c, "") for c in columns)]
        if sources:
            row.append(sources[position].label() if position < len(sources) else "")
        rows.append(row)
    return render.table(header, rows)


def _moment_label(history: pd.DataFrame, moment: int, number: int, total: int) -> str:
    import datetime as dt

    clock = dt.datetime.fromtimestamp(moment / 1e9).strftime("%H:%M:%S.%f")[:-3]
    return f"{number + 1}/{total} {clock}"


def _change_text(history: pd.DataFrame, moment: int | None) -> str:
    if moment is None:
        return ""
    rows = history[history.index == moment]
    parts = [
        f"{op} {fld} of {pred}"
        for op, fld, pred in zip(rows[Key.op], rows[Key.field], rows[Key.predictor], strict=True)
    ]
    return "at this moment: " + "; ".join(parts)


def _find_compile(store: EventStore, names: dict[str, str]) -> CompileInfo | None:
    """The latest compile whose `OptimizeDemos` events installed demos into these predictors (uid -> name)."""
    uids = set(names)

    def installed_here(payload: dict[str, Any] | None) -> bool:
        demos = schema.OptimizeDemos.of(payload)
        return demos.uid in uids and demos.role == "student"

    found = get_events(kind=schema.OptimizeDemos.KIND, where=installed_here, store=store)
    if found.empty:
        return None
    run_id = str(found["run_id"].iloc[-1])
    mine = found[found["run_id"] == run_id]
    installed = [schema.OptimizeDemos.of(p) for p in mine["payload"].tolist()]
    origins = {names[d.uid]: [schema.DemoOrigin.of(o) for o in d.demos or []] for d in installed}
    under = {names[d.uid]: _int(parent) for d, parent in zip(installed, mine["parent_id"], strict=True)}
    root = get_spans(kind=schema.OptimizeStart.KIND, run_id=run_id, store=store)
    top = root[root["parent_id"].isna()] if not root.empty else root
    if top.empty:
        return None
    first = top.iloc[0]
    end = first["end"]
    return CompileInfo(
        run_id=run_id,
        optimizer=str(first["component"]),
        start_ns=int(first["start"]),
        end_ns=None if end is None or end != end else int(end),
        origins=origins,
        installed_under=under,
    )


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _sources(store: EventStore, info: CompileInfo) -> dict[str, list[DemoSource]]:
    """Each installed demo's origin, with the teacher run (attempt and LM calls) of the bootstrapped ones."""
    spans = get_spans(run_id=info.run_id, store=store, payload=True)
    parents = {sid: _int(p) for sid, p in zip(spans.index.tolist(), spans["parent_id"].tolist(), strict=True)}
    kinds = dict(zip(spans.index.tolist(), spans["kind"].tolist(), strict=True))

    def compile_span(span_id: int | None) -> int | None:
        # The innermost optimize span around `span_id`: random search runs several compiles in one run.
        while span_id is not None:
            if kinds.get(span_id) == schema.OptimizeStart.KIND:
                return span_id
            span_id = parents.get(span_id)
        return None

    attempts = get_events(kind=schema.OptimizeAttempt.KIND, run_id=info.run_id, store=store)
    passed: dict[tuple[int | None, int], tuple[schema.OptimizeAttempt, int | None]] = {}
    for payload, parent in zip(attempts["payload"].tolist(), attempts["parent_id"].tolist(), strict=True):
        attempt = schema.OptimizeAttempt.of(payload)
        if attempt.passed:
            item = _int(parent)
            passed.setdefault((compile_span(item), attempt.index), (attempt, item))
    found: dict[str, list[DemoSource]] = {}
    for name, origins in info.origins.items():
        owner = compile_span(info.installed_under.get(name))
        listed = []
        for position, origin in enumerate(origins):
            source = DemoSource(name, position, str(origin.origin), origin.train_index)
            if source.origin == schema.DemoOrigin.BOOTSTRAPPED and source.train_index is not None:
                hit = passed.get((owner, source.train_index))
                if hit is not None:
                    source.attempt, item = hit
                    source.calls = lm_calls(spans, descendants(spans, item)) if item is not None else []
            listed.append(source)
        found[name] = listed
    return found


def _source_html(source: DemoSource) -> str:
    head = render.pairs([("predictor", source.predictor), ("demo", source.position + 1), ("origin", source.label())])
    if source.attempt is None:
        note = (
            "a training example installed as it is (no LM call made it)"
            if source.origin == schema.DemoOrigin.LABELED
            else "its teacher run is not in this trace"
        )
        return head + render.muted(note)
    attempt = source.attempt
    body = render.section(
        "teacher run",
        render.pairs(
            [
                ("round", attempt.round),
                ("score", attempt.score),
                ("inputs", attempt.inputs),
                ("outputs", attempt.outputs),
            ]
        ),
    )
    for number, call in enumerate(source.calls, start=1):
        body += render.section(
            f"LM call {number}: {call.component}",
            render.folded("prompt", render.messages(call.messages))
            + "<div class='dspex-role'>reply</div>"
            + render.block(call.reply),
        )
    return head + body
