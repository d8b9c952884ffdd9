"""The LM calls made inside a module, read back from the trace (what `Module.history` returns)."""

from __future__ import annotations

from typing import Any

from dspex_lab.trace.query import get_events


def lm_calls(path: str) -> list[dict[str, Any]]:
    """Every LM request whose enclosing program span is `path` or below it, with its reply, oldest first."""
    frame = get_events(kind=["program.start", "lm.request", "lm.response"])
    if frame.empty:
        return []
    starts = frame[frame["kind"] == "program.start"]
    component_of = dict(zip(starts["span_id"].tolist(), starts["component"].astype(str).tolist(), strict=True))
    replies = frame[frame["kind"] == "lm.response"]
    reply_of = dict(zip(replies["span_id"].tolist(), replies["payload"].tolist(), strict=True))
    found = []
    requests = frame[frame["kind"] == "lm.request"]
    for span_id, parent, component, payload in zip(
        requests["span_id"].tolist(),
        requests["parent_id"].tolist(),
        requests["component"].astype(str).tolist(),
        requests["payload"].tolist(),
        strict=True,
    ):
        caller = component_of.get(parent)
        if caller is None or not (caller == path or caller.startswith(path + ".")):
            continue
        reply = reply_of.get(span_id) or {}
        found.append(
            {
                "caller": caller,
                "model": component.removeprefix("lm:"),
                "messages": (payload or {}).get("messages"),
                "params": (payload or {}).get("params"),
                "text": reply.get("text"),
                "usage": {
                    "prompt_tokens": reply.get("prompt_tokens"),
                    "completion_tokens": reply.get("completion_tokens"),
                },
                "span_id": span_id,
            }
        )
    return found
