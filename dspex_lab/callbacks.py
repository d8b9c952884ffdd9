"""Callbacks with DSPy's hook names, fed from the event stream.

    class Log(dx.Callback):
        def on_lm_end(self, call_id, outputs, exception):
            print(call_id, outputs["text"][:60] if outputs else exception)

    dx.configure(callbacks=[Log()])          # or, for a block: with dx.context(callbacks=[...])

Hooks: `on_module_start/end`, `on_lm_start/end`, `on_tool_start/end`,
`on_evaluate_start/end`. Unlike DSPy they are called from the trace events (one
source for every view), so `instance` is the component's name in the trace
(`qa.generate`, `lm:openai/gpt-4o-mini`, `tool:search`) rather than the object,
`call_id` is the span id (the run id for an evaluation), and `exception` is the
error message. A hook that raises is logged and skipped; it never breaks a run.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from dspex_lab import settings
from dspex_lab.trace import events

log = logging.getLogger(__name__)


class Callback:
    """Override the hooks you need; each does nothing by default."""

    def on_module_start(self, call_id: Any, instance: str, inputs: dict[str, Any]) -> None: ...

    def on_module_end(self, call_id: Any, outputs: Any, exception: str | None = None) -> None: ...

    def on_lm_start(self, call_id: Any, instance: str, inputs: dict[str, Any]) -> None: ...

    def on_lm_end(self, call_id: Any, outputs: dict[str, Any] | None, exception: str | None = None) -> None: ...

    def on_tool_start(self, call_id: Any, instance: str, inputs: dict[str, Any]) -> None: ...

    def on_tool_end(self, call_id: Any, outputs: Any, exception: str | None = None) -> None: ...

    def on_evaluate_start(self, call_id: Any, instance: str, inputs: dict[str, Any]) -> None: ...

    def on_evaluate_end(self, call_id: Any, outputs: Any, exception: str | None = None) -> None: ...


def _start(event: events.Event) -> tuple[str, tuple[Any, ...]] | None:
    payload = event.payload or {}
    kind = event.kind
    if kind == "program.start":
        return "on_module_start", (event.span_id, event.component, payload.get("inputs") or {})
    if kind == "lm.request":
        inputs = {"messages": payload.get("messages"), **(payload.get("params") or {})}
        return "on_lm_start", (event.span_id, event.component, inputs)
    if kind == "tool.start":
        return "on_tool_start", (event.span_id, event.component, payload.get("args") or {})
    if kind == "evaluate.start":
        return "on_evaluate_start", (event.run_id, event.component, payload)
    return None


def _end(event: events.Event) -> tuple[str, tuple[Any, ...]] | None:
    payload = event.payload or {}
    kind = event.kind
    error = payload.get("error") if payload.get("status") == "error" else None
    if kind == "program.end":
        return "on_module_end", (event.span_id, None if error else payload.get("outputs"), error)
    if kind == "lm.response":
        return "on_lm_end", (event.span_id, None if error else payload, error)
    if kind == "tool.end":
        return "on_tool_end", (event.span_id, None if error else payload.get("result"), error)
    if kind == "evaluate.end":
        return "on_evaluate_end", (
            event.run_id,
            payload,
            payload.get("reason") if payload.get("status") == "failed" else None,
        )
    return None


def _dispatch(event: events.Event) -> None:
    callbacks = settings.get("callbacks")
    if not callbacks:
        return
    found = _start(event) or _end(event)
    if found is None:
        return
    hook, args = found
    for callback in callbacks:
        method = getattr(callback, hook, None)
        if method is None:
            continue
        try:
            method(*args)
        except Exception:
            log.exception("callback %r failed in %s; the run goes on", callback, hook)


_lock = threading.Lock()


def install() -> None:
    """Listen to the current event sink (once per sink) so configured callbacks are called."""
    with _lock:
        if _dispatch not in events._sink().listeners:
            events.subscribe(_dispatch)


def check(callbacks: Any) -> list[Any]:
    """The callbacks as a list, each having the hooks (a dx.Callback or anything shaped like one)."""
    if callbacks is None:
        return []
    if not isinstance(callbacks, list | tuple):
        raise TypeError(f"callbacks must be a list of dx.Callback, got {type(callbacks).__name__}")
    for callback in callbacks:
        if not any(hasattr(callback, hook) for hook in vars(Callback) if hook.startswith("on_")):
            raise TypeError(f"{callback!r} has none of the callback hooks (on_module_start, on_lm_end, ...)")
    return list(callbacks)
