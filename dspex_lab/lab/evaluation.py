"""EvaluationPanel: an evaluation run as it happens (progress, score, errors, ETA, a Stop button), then its examples.

`dx.evaluate(...)` shows one in a notebook once the workbench is loaded
(`%load_ext dspex_lab`). The live figures are folded from the run's
run events (`ProgressState`, as the terminal bar does); when the run
ends, the results table and each example's prompt, reply and error are read
from the event store. `EvaluationPanel(run_id)` opens the same view on a run
that already finished.

The Stop button stops the run cleanly (finished examples are kept, the result
has status "cancelled") while the cell is still running, in JupyterLab >= 4.4
and Notebook >= 7.4 with ipykernel >= 7 (see `kernel.deliver_while_busy`); in
any frontend it also works when the cell awaits (`await dx.aevaluate(...)`),
and interrupting the kernel (the square button) stops a run the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dspex_lab.evaluation.cancel import cancel_run
from dspex_lab.evaluation.progress import PROGRESS_KINDS, ProgressState
from dspex_lab.lab import document as doc
from dspex_lab.lab import render
from dspex_lab.lab.examples import SORTS, ExampleDetail, ExampleRow, RunExamples
from dspex_lab.lab.feed import recorded
from dspex_lab.lab.kernel import deliver_while_busy
from dspex_lab.lab.panel import Pacer, Panel, Widget
from dspex_lab.trace import events, schema
from dspex_lab.trace.query import get_events
from dspex_lab.trace.schema import Event

if TYPE_CHECKING:
    from dspex_lab.trace.store import EventStore

STOP_REASON = "stopped with the Stop button of the notebook panel"
BAR_STYLES = {"completed": "success", "cancelled": "warning", "stopped": "warning", "failed": "danger"}


@dataclass(slots=True)
class EvaluationParts:
    """The widgets of an EvaluationPanel."""

    title: Widget
    bar: Widget
    stop: Widget
    controls: Widget
    stats: Widget
    order: Widget
    page: Widget
    pages: Widget
    table: Widget
    example: Widget
    details: Widget
    results: Widget


class EvaluationPanel(Panel[EvaluationParts]):
    """A live or finished evaluation run; see the module docstring.

    - `run_id`: open a finished (or running) run from the store; None for a
      panel that follows the run it is handed to as a progress consumer
      (`dx.evaluate(..., progress=EvaluationPanel())`).
    - `store`: where the run's events are (default: the current store).
    - `interval`: the least time between two redraws while the run goes on.
    - `display`: show the panel in the current cell when its run starts.
    - `threshold`: an example passes (✓) when its score is at least this;
      an example that raised is an error, marked apart from a low score.
    """

    PAGE_SIZE = 20
    DOCUMENT_ROWS = 200
    """Rows the saved document keeps (failures first); the run store and the result keep them all."""

    def __init__(
        self,
        run_id: str | None = None,
        *,
        store: EventStore | None = None,
        interval: float = 0.25,
        display: bool = False,
        threshold: float = 0.5,
    ) -> None:
        self.threshold = float(threshold)
        self.result: Any = None
        self.store = store if store is not None else events.get_store()
        self.state = ProgressState()
        self.run_id = run_id
        self.examples: RunExamples | None = None
        self.order = next(iter(SORTS))
        self.page = 0
        self.selected: int | None = None
        self._display = display
        self._pacer = Pacer(self._redraw, interval)
        if run_id is not None:
            if self.store is None:
                raise RuntimeError("tracing is off, so no run can be read back; turn it on with dx.trace.enable()")
            found = recorded(self.store, run_id=run_id, kind=sorted(PROGRESS_KINDS))
            if not found:
                raise ValueError(
                    f"no evaluation run {run_id!r} in the store; runs it holds: {_runs(self.store)} "
                    "(a saved trace opens with dx.trace.load(path), then pass store=)"
                )
            for event in found:
                self.on_event(event)

    # --- following the run ------------------------------------------------------------------------
    def on_event(self, event: Event) -> None:
        """Fold one progress event (the engine calls this for a run's start, each example and its end)."""
        self.state.update(event)
        if event.kind in schema.RUN_EXAMPLES or event.kind in schema.RUN_WAITS:
            self._pacer.request()
        elif event.kind in schema.RUN_STARTS:
            self.run_id = event.run_id
            if self._display:
                self.show()
            self._pacer.request(now=True)
        elif event.kind in schema.RUN_ENDS:
            self._pacer.close()
            if self.store is not None and self.run_id is not None:
                self.examples = RunExamples(self.store, self.run_id)
            self._pacer.request(now=True)
            self.publish()

    def on_result(self, result: Any) -> None:
        """Take the run's `EvaluationResult` (every metric, feedback, labels, tracebacks) and refresh the output."""
        self.result = result
        if self.examples is not None:
            self.examples.add_result(result)
        self._draw_results()
        self.publish()

    @property
    def finished(self) -> bool:
        return self.state.status is not None

    def stop(self) -> bool:
        """Stop the run, keeping what finished (what the Stop button does). Returns whether it was running."""
        if self.parts is not None:
            self.parts.stop.disabled = True
            self.parts.stop.description = "Stopping…"
        return self.run_id is not None and not self.finished and cancel_run(self.run_id, STOP_REASON)

    # --- the results --------------------------------------------------------------------------------
    def rows(self) -> list[ExampleRow]:
        """The examples in the current order (empty until the run ends, or with tracing off)."""
        return self.examples.sorted(self.order) if self.examples is not None else []

    def sort(self, order: str) -> None:
        """Order the results table: one of `examples.SORTS` ("failures first", "score (low to high)", ...)."""
        if order not in SORTS:
            raise ValueError(f"unknown order {order!r}; choose one of {list(SORTS)}")
        self.order = order
        self.page = 0
        self._draw_results()

    def show_page(self, page: int) -> None:
        """Show page `page` of the results table (0-based, PAGE_SIZE rows a page)."""
        self.page = max(0, min(page, self.pages - 1))
        self._draw_results()

    @property
    def pages(self) -> int:
        return max(1, -(-len(self.rows()) // self.PAGE_SIZE))

    def select(self, index: int | None) -> ExampleDetail | None:
        """Show example `index` in the details pane (None clears it); returns what is shown."""
        self.selected = index
        found = self.examples.detail(index) if index is not None and self.examples is not None else None
        if self.parts is not None:
            self.parts.details.value = _detail_html(found, self.threshold) if found is not None else ""
            if index is not None and self.parts.example.value != index:
                self.parts.example.value = index
        return found

    # --- widgets ------------------------------------------------------------------------------------
    def _build(self) -> Any:
        import ipywidgets as w

        stop = w.Button(
            description="Stop",
            button_style="danger",
            icon="stop",
            tooltip="Stop the run; finished examples are kept. If nothing happens, interrupt the kernel.",
        )
        deliver_while_busy(stop)
        stop.on_click(lambda _: self.stop())
        bar = w.IntProgress(min=0, max=1, layout=w.Layout(width="60%"), style={"description_width": "initial"})
        parts = EvaluationParts(
            title=w.HTML(),
            bar=bar,
            stop=stop,
            controls=w.HBox([bar, stop]),
            stats=w.HTML(),
            order=w.Dropdown(options=list(SORTS), value=self.order, description="sort"),
            page=w.BoundedIntText(value=1, min=1, max=1, description="page", layout=w.Layout(width="140px")),
            pages=w.Label(),
            table=w.HTML(),
            example=w.Dropdown(options=[("", None)], description="example", layout=w.Layout(width="80%")),
            details=w.HTML(),
            results=w.VBox([]),
        )
        parts.table.add_class("dspex-results")
        parts.details.add_class("dspex-details")
        parts.order.observe(lambda change: self.sort(change["new"]), names="value")
        parts.page.observe(lambda change: self.show_page(change["new"] - 1), names="value")
        parts.example.observe(lambda change: self.select(change["new"]), names="value")
        self.parts = parts
        self._redraw()
        return w.VBox([parts.title, parts.controls, parts.stats, parts.results], layout=w.Layout(width="100%"))

    def _redraw(self) -> None:
        parts = self.parts
        if parts is None:
            return
        state = self.state
        parts.title.value = (
            f"{render.STYLE}<b>{render.esc(state.label or 'evaluate')}</b> "
            f"<span class='dspex-muted'>run {render.esc(self.run_id or '…')}</span>"
        )
        parts.bar.max = max(1, state.total)
        parts.bar.value = min(state.done, parts.bar.max)
        parts.bar.description = f"{state.done}/{state.total}"
        parts.bar.bar_style = BAR_STYLES.get(state.status or "", "info")
        parts.stats.value = _stats_html(state)
        if self.finished:
            if parts.stop in parts.controls.children:
                parts.controls.children = (parts.bar,)
            self._draw_results()

    def _draw_results(self) -> None:
        parts = self.parts
        if parts is None or not self.finished:
            return
        import ipywidgets as w

        if self.examples is None:
            parts.results.children = (
                w.HTML(
                    render.muted(
                        "tracing is off: turn it on with dx.trace.enable() to keep each example's prompt and reply"
                    )
                ),
            )
            return
        rows = self.rows()
        shown = rows[self.page * self.PAGE_SIZE : (self.page + 1) * self.PAGE_SIZE]
        parts.page.max = self.pages
        parts.page.value = self.page + 1
        parts.pages.value = f"of {self.pages} ({len(rows)} examples)"
        parts.table.value = _table_html(shown, self.threshold, self._metric_names())
        # Every example of the run, in the table's order; details stay closed until one is picked.
        parts.example.options = [("(pick an example to see its details)", None)] + [
            (_row_label(row, self.threshold), row.index) for row in rows
        ]
        parts.example.value = self.selected
        parts.results.children = (
            w.HBox([parts.order, parts.page, parts.pages]),
            parts.table,
            parts.example,
            parts.details,
        )

    def _metric_names(self) -> list[str]:
        names = getattr(self.result, "metrics", None)
        return list(names) if names else []

    # --- the document -------------------------------------------------------------------------------
    def document(self) -> doc.Document:
        """The run as a self-contained document: score line, outcome chart, examples table, tracebacks."""
        state = self.state
        rows = self.rows()
        counts = outcome_counts(rows, self.threshold)
        tokens = sum(row.tokens for row in rows)
        costs = [row.cost for row in rows if row.cost is not None]
        sections = [
            doc.stats(
                [
                    ("score", None if state.score is None else f"{state.score:.3f}"),
                    ("examples", f"{state.done}/{state.total}"),
                    ("passed ✓", counts["pass"] if rows else None),
                    ("failed ✗", counts["fail"] if rows else None),
                    ("errors", state.errors),
                    ("status", state.status or "running"),
                    ("elapsed", f"{state.elapsed_s:.1f} s"),
                    ("tokens", f"{tokens:,}" if rows else None),
                    ("cost", f"${sum(costs):.4f}" if costs else None),
                    ("reason", state.reason),
                ]
            )
        ]
        sections += example_sections(rows, self.threshold, self._metric_names(), self.order, self.DOCUMENT_ROWS)
        data = {
            "run_id": self.run_id,
            "label": state.label,
            "status": state.status,
            "score": state.score,
            "done": state.done,
            "total": state.total,
            "errors": state.errors,
            "threshold": self.threshold,
            "metrics": self._metric_names(),
            "examples": [row_data(row, self.threshold) for row in rows[: self.DOCUMENT_ROWS]],
        }
        title = f"{state.label or 'evaluate'} · run {self.run_id or '(not started)'}"
        return doc.Document("evaluation", title, sections, data)

    # --- text ---------------------------------------------------------------------------------------
    def text(self) -> str:
        state = self.state
        lines = [f"EvaluationPanel  {state.label or 'evaluate'}  run {self.run_id or '(not started)'}"]
        score = "" if state.score is None else f"  score {state.score:.3f}"
        status = state.status or "running"
        lines.append(f"  {state.done}/{state.total} examples{score}  errors {state.errors}  {status}")
        if state.reason:
            lines.append(f"  reason: {state.reason}")
        failed = [row for row in self.rows() if row.failed]
        lines.extend(f"  #{row.index}  {render.text((row.error or '').splitlines()[0], 160)}" for row in failed[:3])
        if len(failed) > 3:
            lines.append(f"  ... {len(failed) - 3} more failed examples")
        return "\n".join(lines)


def _runs(store: EventStore) -> list[str]:
    frame = get_events(kind=schema.EvaluateStart.KIND, store=store, payload=False)
    return sorted({str(run) for run in frame["run_id"].tolist() if run == run and run is not None})


def _stats_html(state: ProgressState) -> str:
    score = "-" if state.score is None else f"{state.score:.3f}"
    parts = [f"score <b>{score}</b>", f"errors <b>{state.errors}</b>"]
    if state.throughput is not None:
        parts.append(f"{state.throughput:.1f} examples/s")
    parts.append(f"elapsed {state.elapsed_s:.1f} s")
    if state.status is None and state.eta_s is not None:
        parts.append(f"ETA {state.eta_s:.0f} s")
    parts.append(f"<b>{render.esc(state.status or 'running')}</b>")
    if state.waiting:
        parts.append(f"waiting: {render.esc(state.waiting)}")
    if state.resumed:
        parts.append(f"{state.resumed} resumed from an earlier session")
    reason = f"<div class='dspex-muted'>{render.esc(state.reason)}</div>" if state.reason else ""
    return " · ".join(parts) + reason


def _fields(values: dict[str, Any]) -> str:
    return "; ".join(f"{name}={render.text(value)}" for name, value in values.items())


MARKS = {"pass": "✓", "fail": "✗", "error": "error"}


def _metric_means(rows: list[ExampleRow], metrics: list[str]) -> dict[str, float]:
    means = {}
    for name in metrics:
        values = [row.scores[name] for row in rows if name in row.scores]
        if values:
            means[name] = sum(values) / len(values)
    return means


def _table_cells(rows: list[ExampleRow], threshold: float, metrics: list[str]) -> tuple[list[str], list[list[Any]]]:
    """The examples table's columns and cells: outcome, every metric and its feedback, expected vs predicted."""
    extra = metrics[1:] if metrics else []
    feedback = [name for name in metrics if any(row.feedback.get(name) for row in rows)]
    columns = ["#", "", "score", *extra, *(f"{name} feedback" for name in feedback)]
    columns += ["expected", "predicted", "inputs", "error", "ms", "LM ms", "wait ms", "tokens", "cost $"]
    cells = []
    for row in rows:
        cells.append(
            [
                row.index,
                MARKS[row.outcome(threshold)],
                "" if row.score is None else f"{row.score:.3g}",
                *(_score(row.scores.get(name)) for name in extra),
                *(row.feedback.get(name, "") for name in feedback),
                _fields(row.expected),
                _fields(row.outputs),
                _fields(row.inputs),
                (row.error or "").splitlines()[0] if row.error else "",
                "" if row.latency_ms is None else f"{row.latency_ms:.0f}",
                f"{row.lm_ms:.0f}",
                "" if row.wait_ms is None else f"{row.wait_ms:.0f}",
                row.tokens,
                "" if row.cost is None else f"{row.cost:.5f}",
            ]
        )
    return columns, cells


def _score(value: float | None) -> str:
    return "" if value is None else f"{value:.3g}"


def example_sections(
    rows: list[ExampleRow], threshold: float, metrics: list[str], order: str, limit: int
) -> list[dict[str, Any]]:
    """A run's examples as document sections: outcome chart, per-metric means, the table, folded tracebacks."""
    if not rows:
        return []
    counts = outcome_counts(rows, threshold)
    sections = [doc.bars("examples by outcome", ["passed ✓", "failed ✗", "errors"], list(counts.values()))]
    means = _metric_means(rows, metrics)
    if len(means) > 1:
        sections.append(doc.bars("mean score per metric", list(means), list(means.values())))
    kept = rows[:limit]
    columns, cells = _table_cells(kept, threshold, metrics)
    note = f"✓ = score ≥ {threshold:g}; errors are examples that raised."
    if len(rows) > len(kept):
        note += f" {len(kept)} of {len(rows)} examples kept here ({order}); the result holds all."
    marks = [row.outcome(threshold) for row in kept]
    sections.append(doc.table(f"examples ({order})", columns, cells, marks=marks, note=note))
    raised = [row for row in kept if row.failed]
    if raised:
        sections.append(
            doc.details(
                f"errors ({len(raised)})",
                [doc.text(f"#{row.index}", row.traceback or row.error or "") for row in raised[:20]],
            )
        )
    return sections


def outcome_counts(rows: list[ExampleRow], threshold: float) -> dict[str, int]:
    counts = {"pass": 0, "fail": 0, "error": 0}
    for row in rows:
        counts[row.outcome(threshold)] += 1
    return counts


def row_data(row: ExampleRow, threshold: float) -> dict[str, Any]:
    """One example as plain data (the document's `data.examples`)."""
    return {
        "index": row.index,
        "outcome": row.outcome(threshold),
        "score": row.score,
        "scores": row.scores,
        "feedback": row.feedback,
        "expected": row.expected,
        "outputs": row.outputs,
        "inputs": row.inputs,
        "error": row.error,
        "traceback": row.traceback,
        "latency_ms": row.latency_ms,
        "lm_ms": row.lm_ms,
        "tokens": row.tokens,
        "cost": row.cost,
    }


def _table_html(rows: list[ExampleRow], threshold: float = 0.5, metrics: list[str] | None = None) -> str:
    columns, cells = _table_cells(rows, threshold, metrics or [])
    return render.table(columns, cells, limit=90, failed=[row.outcome(threshold) != "pass" for row in rows])


def _count(items: Any, noun: str) -> str:
    number = len(items) if isinstance(items, list) else 1
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _row_label(row: ExampleRow, threshold: float) -> str:
    mark = MARKS[row.outcome(threshold)]
    score = "" if row.score is None else f" score {row.score:.3g}"
    return f"#{row.index} {mark}{score}  {render.text(_fields(row.inputs), 70)}"


def _detail_html(detail: ExampleDetail, threshold: float = 0.5) -> str:
    row = detail.row
    head = render.pairs(
        [
            ("example", f"#{row.index} {MARKS[row.outcome(threshold)]} (✓ = score ≥ {threshold:g})"),
            ("score", row.score),
            *((f"metric {name}", value) for name, value in row.scores.items()),
            *((f"feedback {name}", value) for name, value in row.feedback.items()),
            ("error", row.error),
            ("latency", None if row.latency_ms is None else f"{row.latency_ms:.0f} ms"),
            ("in LM calls", f"{row.lm_ms:.0f} ms"),
            ("waiting, parsing, scoring", None if row.wait_ms is None else f"{row.wait_ms:.0f} ms"),
            ("LM calls", row.lm_calls),
            ("tokens", row.tokens),
            ("cost", None if row.cost is None else f"${row.cost:.5f}"),
        ]
    )
    parts = [
        head,
        render.section("inputs", render.pairs(row.inputs.items())),
        render.section("expected", render.pairs(row.expected.items()) or render.muted(" (no labels)")),
        render.section("predicted", render.pairs(row.outputs.items())),
    ]
    if row.traceback:
        parts.append(render.section("traceback", render.block(row.traceback)))
    for number, call in enumerate(detail.calls, start=1):
        tokens = f"{call.prompt_tokens or 0} + {call.completion_tokens or 0} tokens"
        how = "cache hit" if call.cache_hit else ("" if call.duration_ms is None else f"{call.duration_ms:.0f} ms")
        title = f"LM call {number}: {call.component}, {call.status}, {how}, {tokens}"
        prompt = render.folded(f"prompt ({_count(call.messages, 'message')})", render.messages(call.messages))
        body = prompt + "<div class='dspex-role'>reply</div>" + render.block(call.reply)
        if call.error:
            body += render.block(call.error)
        parts.append(render.section(title, body))
    for error in detail.parse_errors:
        parts.append(render.section("parse error", render.block(error.error)))
    if detail.program_error and detail.program_error != row.error:
        parts.append(render.section("program error", render.block(detail.program_error)))
    return "".join(parts)
