"""OptimizationPanel: a compile as it happens (phase, teacher runs, candidate scores), then its outcome.

Everything shown is folded from the compile's events: the compile span
(`OptimizeStart`: optimizer, student, trainset, settings; `OptimizeEnd`:
status and installed demos), phase spans (`OptimizePhaseStart`),
`OptimizeAttempt` events (one per teacher run: passed or not, score, error),
`OptimizeCandidate` events (random search: each candidate program's score)
and, for the phase under way, the progress of the runs the optimizer drives
(teacher runs and candidate evaluations). `compile(...)` shows
one in a notebook once the workbench is loaded; `OptimizationPanel(run_id)`
(or `OptimizationPanel(optimizer)`) replays a finished compile from the store.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dspex_lab.evaluation.progress import ProgressState
from dspex_lab.lab import document as doc
from dspex_lab.lab import render
from dspex_lab.lab.feed import follow
from dspex_lab.lab.panel import Pacer, Panel, Widget
from dspex_lab.optimize.base import RunningCompile
from dspex_lab.trace import events, schema
from dspex_lab.trace.schema import Event

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from dspex_lab.trace.store import EventStore


class CompileState:
    """A compile's figures, folded from its optimizer events (`schema.Optimize*`)."""

    def __init__(self) -> None:
        self.root: int | None = None
        self.optimizer: str | None = None
        self.start: schema.OptimizeStart | None = None
        self.phase: schema.OptimizePhaseStart | None = None
        self.inner: str | None = None
        self.attempts: list[schema.OptimizeAttempt] = []
        self.candidates: list[schema.OptimizeCandidate] = []
        self.installed: dict[str, schema.OptimizeDemos] = {}
        self.end: schema.OptimizeEnd | None = None

    def update(self, event: Event) -> None:
        """Fold one optimizer event."""
        data = event.data
        if isinstance(data, schema.OptimizeAttempt):
            self.attempts.append(data)
        elif isinstance(data, schema.OptimizeCandidate):
            self.candidates.append(data)
        elif isinstance(data, schema.OptimizePhaseStart):
            self.phase = data
        elif isinstance(data, schema.OptimizeDemos) and (data.role or "student") == "student":
            self.installed[str(data.predictor)] = data
        elif isinstance(data, schema.OptimizeStart):
            if self.root is None or event.span_id == self.root:
                self.root = event.span_id
                self.optimizer = event.component
                self.start = data
            else:
                self.inner = data.optimizer
        elif isinstance(data, schema.OptimizeEnd):
            if event.span_id == self.root:
                self.end = data
                self.phase = None
            else:
                self.inner = None

    @property
    def status(self) -> str | None:
        return None if self.end is None else self.end.status or "completed"

    @property
    def passed(self) -> int:
        return sum(bool(a.passed) for a in self.attempts)

    @property
    def failed(self) -> int:
        return sum(a.error is not None for a in self.attempts)

    @property
    def best(self) -> schema.OptimizeCandidate | None:
        scored = [c for c in self.candidates if isinstance(c.score, int | float)]
        return max(scored, key=lambda c: c.score) if scored else None

    def phase_text(self) -> str:
        phase = self.phase
        if phase is None:
            return "done" if self.end is not None else "starting"
        name = str(phase.phase or "?")
        if phase.index is not None:
            name = f"{name} #{phase.index} ({phase.candidate})"
        return f"{name}: {self.inner}" if self.inner else name

    def demos_text(self) -> str:
        demos = (self.end.demos if self.end is not None else None) or {}
        parts = []
        for name, origins in demos.items():
            found = [schema.DemoOrigin.of(origin) for origin in origins or []]
            booted = sum(o.origin == schema.DemoOrigin.BOOTSTRAPPED for o in found)
            parts.append(f"{name}: {booted} bootstrapped + {len(found) - booted} labeled")
        return "; ".join(parts)


class PhaseProgress:
    """The progress consumer an OptimizationPanel hands the engine for each run it drives."""

    def __init__(self, panel: OptimizationPanel) -> None:
        self.panel = panel

    def on_event(self, event: Event) -> None:
        self.panel._on_progress(event)


@dataclass(slots=True)
class OptimizationParts:
    """The widgets of an OptimizationPanel."""

    title: Widget
    phase: Widget
    bar: Widget
    counts: Widget
    chart: Widget
    summary: Widget


class OptimizationPanel(Panel[OptimizationParts]):
    """A live or finished compile; see the module docstring.

    `source` is a compile's run id, an optimizer that has compiled (its
    `report.run_id` is used), or the `RunningCompile` of a compile under way.
    `store` defaults to the current store (a running compile is followed live
    also with tracing off); `interval` is the least time between two redraws;
    `display` shows the panel in the current cell at once.
    """

    def __init__(
        self,
        source: Any,
        *,
        store: EventStore | None = None,
        interval: float = 0.25,
        display: bool = False,
    ) -> None:
        run_id = _run_id(source)
        self.store = store if store is not None else events.get_store()
        running = source if isinstance(source, RunningCompile) else None
        if self.store is None and running is None:
            raise RuntimeError(
                "tracing is off, so the compile's events are not kept; turn it on with dx.trace.enable()"
            )
        self.run_id = run_id
        self.state = CompileState()
        if running is not None:
            self.state.root, self.state.optimizer, self.state.start = running.span_id, running.optimizer, running.start
        self.progress = ProgressState()
        self._charted = (-1, -1)
        self._pacer = Pacer(self._redraw, interval)
        self._unsubscribe: Any = None
        unsubscribe = follow(self.store, self._on_event, run_id=run_id, kinds=(schema.OPTIMIZE_PREFIX,))
        if self.finished or (self.state.root is None and running is None):
            unsubscribe()
        else:
            self._unsubscribe = unsubscribe
        if self.state.start is None:
            raise ValueError(f"no compile with run id {run_id!r} in the store (its OptimizeStart event is missing)")
        if display:
            self.show()

    @property
    def finished(self) -> bool:
        return self.state.end is not None

    def phase_progress(self) -> PhaseProgress:
        """A progress consumer for a run this compile drives (teacher runs, candidate evaluations)."""
        return PhaseProgress(self)

    def _on_event(self, event: Event) -> None:
        self.state.update(event)
        if self.finished:
            if self._unsubscribe is not None:
                self._unsubscribe()
                self._unsubscribe = None
            self._pacer.close()
            self._pacer.request(now=True)
            self.publish()
        else:
            self._pacer.request()

    def _on_progress(self, event: Event) -> None:
        if event.kind in schema.RUN_STARTS:
            self.progress = ProgressState()
        self.progress.update(event)
        self._pacer.request(now=event.kind not in schema.RUN_EXAMPLES)

    # --- widgets ------------------------------------------------------------------------------------
    def _build(self) -> Any:
        import ipywidgets as w

        self.parts = OptimizationParts(
            title=w.HTML(),
            phase=w.HTML(),
            bar=w.IntProgress(min=0, max=1, layout=w.Layout(width="60%")),
            counts=w.HTML(),
            chart=w.Output(layout=w.Layout(width="100%")),
            summary=w.HTML(),
        )
        self._redraw()
        parts = self.parts
        return w.VBox([parts.title, parts.phase, parts.bar, parts.counts, parts.chart, parts.summary])

    def _redraw(self) -> None:
        parts = self.parts
        if parts is None:
            return
        state, progress = self.state, self.progress
        start = state.start
        parts.title.value = (
            f"{render.STYLE}<b>{render.esc(state.optimizer)}</b> compiling "
            f"<b>{render.esc(start and start.student)}</b> on {render.esc(start and start.trainset)} training examples "
            f"<span class='dspex-muted'>run {render.esc(self.run_id)}</span>"
        )
        parts.phase.value = f"phase <b>{render.esc(state.phase_text() or '-')}</b>"
        if progress.total:
            parts.bar.max = progress.total
            parts.bar.value = min(progress.done, progress.total)
            parts.bar.description = f"{progress.done}/{progress.total}"
        status = state.status
        parts.bar.bar_style = {"completed": "success", None: "info"}.get(status, "warning")
        parts.counts.value = _counts_html(state, progress)
        if (len(state.attempts), len(state.candidates)) != self._charted:
            self._charted = (len(state.attempts), len(state.candidates))
            if state.attempts or state.candidates:
                parts.chart.outputs = (render.figure_output(self.figure(), self._chart_text()),)
        if self.finished:
            parts.summary.value = _summary_html(state)

    def figure(self) -> go.Figure:
        """The chart: candidate scores (random search), else each teacher run's score by training example."""
        import plotly.graph_objects as go

        state = self.state
        if state.candidates:
            best = state.best
            labels = [f"#{c.index} {c.candidate}" for c in state.candidates]
            figure = go.Figure(
                go.Bar(
                    x=labels,
                    y=[c.score for c in state.candidates],
                    marker_color=["#2a9d8f" if c is best else "#8ab6d6" for c in state.candidates],
                    hovertext=[f"seed {c.seed}, demos {c.demos}" for c in state.candidates],
                )
            )
            figure.update_layout(title="candidate programs: score on the validation set", yaxis_title="score")
        else:
            passed = [a for a in state.attempts if a.passed]
            missed = [a for a in state.attempts if not a.passed]
            figure = go.Figure()
            for name, group, colour in (("passed", passed, "#2a9d8f"), ("did not pass", missed, "#e76f51")):
                figure.add_trace(
                    go.Scatter(
                        x=[a.index for a in group],
                        y=[a.score if a.score is not None else 0 for a in group],
                        mode="markers",
                        name=name,
                        marker={"color": colour, "size": 9},
                        hovertext=[render.text(a.error or a.outputs, 200) for a in group],
                    )
                )
            size = state.start.trainset if state.start is not None else None
            figure.update_layout(
                title="teacher runs: metric score by training example",
                xaxis={"title": "trainset index", "dtick": 1, "range": [-0.5, size - 0.5] if size else None},
                yaxis={"title": "score", "rangemode": "tozero"},
            )
        figure.update_layout(height=300, margin={"l": 50, "r": 20, "t": 40, "b": 40}, template="plotly_white")
        return figure

    def snapshot(self) -> render.StaticFigure:
        """The chart as it is now, as a plain output that HTML exports and notebook viewers draw too."""
        from dspex_lab.lab import static

        return render.StaticFigure(self.figure(), self._chart_text(), static.html(self.document().to_dict()))

    def _chart_text(self) -> str:
        state = self.state
        if state.candidates:
            return "candidate scores: " + ", ".join(f"#{c.index} {render.text(c.score)}" for c in state.candidates)
        return f"teacher runs: {state.passed} of {len(state.attempts)} passed"

    # --- the document -------------------------------------------------------------------------------
    def document(self) -> doc.Document:
        """The compile as a self-contained document: its figures, the chart's data and the teacher runs."""
        state = self.state
        start = state.start
        best = state.best
        end = state.end
        sections = [
            doc.stats(
                [
                    ("phase", state.phase_text()),
                    ("teacher runs", len(state.attempts)),
                    ("passed", state.passed),
                    ("errors", state.failed),
                    ("candidates", len(state.candidates) or None),
                    ("best", None if best is None else f"#{best.index} score {best.score:.3f}"),
                    ("status", state.status or "running"),
                    ("time", None if end is None else f"{end.duration_ms / 1000:.1f} s"),
                    ("demos", state.demos_text()),
                    ("reason", None if end is None else end.reason),
                ]
            )
        ]
        if state.candidates:
            labels = [f"#{c.index} {c.candidate}" for c in state.candidates]
            scores = [c.score if isinstance(c.score, int | float) else 0.0 for c in state.candidates]
            sections.append(doc.bars("candidate programs: score on the validation set", labels, scores))
        if state.attempts:
            sections.append(
                doc.bars(
                    "teacher runs by outcome",
                    ["passed", "did not pass", "errors"],
                    [state.passed, len(state.attempts) - state.passed - state.failed, state.failed],
                )
            )
            rows = [[a.index, a.round, "✓" if a.passed else "✗", a.score, a.error or ""] for a in state.attempts]
            marks = ["pass" if a.passed else ("error" if a.error else "fail") for a in state.attempts]
            sections.append(
                doc.details(
                    f"teacher runs ({len(rows)})",
                    [doc.table("", ["train #", "round", "", "score", "error"], rows, marks=marks)],
                )
            )
        title = f"{state.optimizer} compiling {start and start.student} · run {self.run_id}"
        data = {
            "run_id": self.run_id,
            "optimizer": state.optimizer,
            "start": None if start is None else start.to_dict(),
            "status": state.status,
            "end": None if end is None else end.to_dict(),
            "attempts": [a.to_dict() for a in state.attempts],
            "candidates": [c.to_dict() for c in state.candidates],
        }
        return doc.Document("optimization", title, sections, data)

    # --- text ---------------------------------------------------------------------------------------
    def text(self) -> str:
        state = self.state
        start = state.start
        lines = [
            f"OptimizationPanel  {state.optimizer} compiling {start and start.student} "
            f"on {start and start.trainset} examples  run {self.run_id}"
        ]
        lines.append(
            f"  {state.status or 'running'}  attempts {len(state.attempts)} ({state.passed} passed, "
            f"{state.failed} errors)"
        )
        if state.candidates:
            lines.append("  " + self._chart_text())
        if state.demos_text():
            lines.append(f"  demos {state.demos_text()}")
        reason = state.end.reason if state.end is not None else None
        if reason:
            lines.append(f"  reason: {reason}")
        return "\n".join(lines)


def _run_id(source: Any) -> str:
    if isinstance(source, str):
        return source
    if isinstance(source, RunningCompile):
        return source.run_id
    report = getattr(source, "report", None)
    run_id = getattr(report, "run_id", None)
    if isinstance(run_id, str):
        return run_id
    raise TypeError(
        f"OptimizationPanel needs a compile's run id or an optimizer that has compiled, got {type(source).__name__}"
        + (" (it has not compiled yet)" if report is None and hasattr(source, "compile") else "")
    )


def _counts_html(state: CompileState, progress: ProgressState) -> str:
    parts = [
        f"teacher runs <b>{len(state.attempts)}</b>",
        f"passed <b>{state.passed}</b>",
        f"errors <b>{state.failed}</b>",
    ]
    if state.candidates:
        best = state.best
        parts.append(f"candidates <b>{len(state.candidates)}</b>")
        if best is not None:
            parts.append(f"best #{best.index} ({render.esc(best.candidate)}) score <b>{best.score:.3f}</b>")
    if progress.total and state.status is None:
        parts.append(f"current run: {render.esc(progress.summary())}")
    parts.append(f"<b>{render.esc(state.status or 'running')}</b>")
    return " · ".join(parts)


def _summary_html(state: CompileState) -> str:
    end = state.end or schema.OptimizeEnd()
    rows = [
        ("status", end.status),
        ("reason", end.reason),
        ("time", None if state.end is None else f"{end.duration_ms / 1000:.1f} s"),
        ("demos", state.demos_text()),
    ]
    return render.pairs(rows)
