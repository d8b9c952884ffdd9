"""Progress displays, fed only by a run's events."""

from __future__ import annotations

import asyncio
import io
import logging

import pytest

from dspex_lab.evaluation import progress
from dspex_lab.evaluation.engine import run_each
from dspex_lab.evaluation.progress import ProgressState, TerminalProgress, attach, resolve
from dspex_lab.testing.kinds import ev
from dspex_lab.trace import events
from dspex_lab.trace.events import Event

SECOND = 1_000_000_000


def event(kind: str, ts: int, run_id: str = "r", **payload: object) -> Event:
    return Event(ts, kind, run_id, None, None, "evaluate", "task:x", None, payload)


def test_the_state_folds_events_into_score_throughput_errors_and_eta():
    state = ProgressState()
    state.update(event("evaluate.start", 0, total=10, resumed=2, resumed_score_sum=2.0, label="qa"))
    state.update(event("evaluate.example", 1 * SECOND, index=2, score=1.0, error=None))
    state.update(event("evaluate.example", 2 * SECOND, index=3, score=0.0, error="ValueError: x"))

    assert (state.total, state.done, state.errors, state.label) == (10, 4, 1, "qa")
    assert state.score == 3.0 / 4
    assert state.throughput == 1.0
    assert state.eta_s == 6.0
    assert state.summary() == "4/10 score=0.750 errors=1 1.0 ex/s eta 6s"

    state.update(event("evaluate.end", 3 * SECOND, status="cancelled", reason="stop button"))
    assert (state.status, state.reason) == ("cancelled", "stop button")


def test_the_terminal_bar_shows_progress_score_and_errors():
    out = io.StringIO()
    bar = TerminalProgress(file=out, mininterval=0)
    bar.on_event(event("evaluate.start", 0, total=3, label="qa"))
    bar.on_event(event("evaluate.example", SECOND, index=0, score=1.0, error=None))
    bar.on_event(event("evaluate.example", SECOND, index=1, score=0.0, error="boom"))
    bar.on_event(event("evaluate.end", 2 * SECOND, status="stopped", reason="stopped after 1 failed examples"))

    text = out.getvalue()
    assert "qa" in text
    assert "2/3" in text
    assert "score=0.500 errors=1" in text
    assert "qa: stopped after 1 failed examples" in text


def test_progress_true_is_the_terminal_bar_outside_a_kernel_even_with_a_panel_registered():
    class Panel:
        def on_event(self, event: Event) -> None:
            pass

    progress.register_notebook_progress(Panel)
    try:
        assert isinstance(resolve(True), TerminalProgress)
    finally:
        progress.register_notebook_progress(None)


def test_progress_accepts_false_or_a_consumer_and_refuses_anything_else():
    class Mine:
        def on_event(self, event: Event) -> None:
            pass

    mine = Mine()
    assert resolve(False) is None
    assert resolve(mine) is mine
    with pytest.raises(TypeError, match="progress must be True, False or an object with an on_event"):
        resolve("yes")  # type: ignore[arg-type]


def test_a_subscription_sees_only_progress_events_of_its_run():
    seen: list[str] = []

    class Mine:
        def on_event(self, event: Event) -> None:
            seen.append(f"{event.run_id}:{event.kind}")

    unsubscribe = attach(Mine(), "r1")
    events.emit(ev("evaluate.start", {"total": 1}), "evaluate")
    with events.run("r1"):
        events.emit(ev("lm.request", {}), "lm:x")
        events.emit(ev("evaluate.start", {"total": 1}), "evaluate")
    with events.run("r2"):
        events.emit(ev("evaluate.start", {"total": 1}), "evaluate")
    unsubscribe()
    with events.run("r1"):
        events.emit(ev("evaluate.end", {}), "evaluate")

    assert seen == ["r1:evaluate.start"]


def test_a_broken_display_is_dropped_with_a_warning_and_the_run_goes_on(caplog):
    class Broken:
        def on_event(self, event: Event) -> None:
            raise RuntimeError("widget gone")

    async def item(value: int) -> int:
        return value

    with caplog.at_level(logging.WARNING, logger="dspex_lab.evaluation.progress"):
        report = asyncio.run(run_each(item, list(range(5)), progress=Broken()))

    assert report.status == "completed"
    assert len(report.outcomes) == 5
    [warning] = caplog.records
    assert "failed and was turned off" in warning.getMessage()
