"""ScriptedLM: a deterministic LM for tests of parsing and control flow.

    lm = dx.ScriptedLM([{"answer": "4"}, "[[ ## answer ## ]]\\nfive"])

Replies are given in order: raw strings are returned as they are; dicts of
field -> value are written the way the requesting adapter expects (a JSON
object when the request asks for JSON, `[[ ## field ## ]]` sections otherwise).
A callable `(messages) -> str | dict` computes each reply instead. Every request
is kept in `lm.requests`. It goes through the same client pipeline as the real
LMs (events, history, usage), with the cache off by default.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from dspex_lab.lm.base import BaseLM, LMResponse, Message
from dspex_lab.lm.usage import Usage

Reply = str | Mapping[str, Any]


@dataclass(slots=True, frozen=True)
class ScriptedRequest:
    """One request the scripted LM received."""

    messages: list[Message]
    params: dict[str, Any]


class ScriptedLM(BaseLM):
    """Replies from a script; see the module docstring."""

    provider = "scripted"

    def __init__(
        self,
        replies: Iterable[Reply] | Callable[[list[Message]], Reply],
        *,
        model: str = "scripted/lm",
        latency: float = 0.0,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("cache", False)
        super().__init__(model, **kwargs)
        self._responder = replies if callable(replies) else None
        self._replies = None if callable(replies) else list(replies)
        self._latency = latency
        self._lock = threading.Lock()
        self.requests: list[ScriptedRequest] = []

    def __repr__(self) -> str:
        kind = "callable" if self._responder else f"{len(self._replies or [])} replies"
        return f"ScriptedLM({kind}, model={self.model!r})"

    def _next_reply(self, messages: list[Message], params: dict[str, Any]) -> Reply:
        with self._lock:
            self.requests.append(ScriptedRequest(messages, dict(params)))
            index = len(self.requests) - 1
            if self._responder is not None:
                return self._responder(messages)
            assert self._replies is not None
            if index >= len(self._replies):
                raise IndexError(
                    f"ScriptedLM ran out of replies: request #{index + 1} but only {len(self._replies)} "
                    "were scripted; add replies or pass a callable"
                )
            return self._replies[index]

    async def agenerate(self, messages: list[Message], params: dict[str, Any]) -> LMResponse:
        reply = self._next_reply(messages, params)
        if self._latency:
            await asyncio.sleep(self._latency)
        text = reply if isinstance(reply, str) else _render(reply, messages, params)
        usage = Usage(
            prompt_tokens=sum(len(str(m.get("content", "")).split()) for m in messages),
            completion_tokens=len(text.split()),
            calls=1,
        )
        return LMResponse(text=text, usage=usage, model=self.model, finish_reason="stop")


def _render(fields: Mapping[str, Any], messages: list[Message], params: dict[str, Any]) -> str:
    """Write `fields` as the adapter that built `messages` expects its reply."""
    import json

    from dspex_lab.adapters.chat import COMPLETED
    from dspex_lab.fields import jsonable

    if "response_format" in params:
        return json.dumps({key: jsonable(value) for key, value in fields.items()}, ensure_ascii=False)
    sections = []
    for key, value in fields.items():
        data = jsonable(value)
        text = json.dumps(data, ensure_ascii=False) if isinstance(data, dict | list) else str(data)
        sections.append(f"[[ ## {key} ## ]]\n{text}")
    return "\n\n".join(sections) + f"\n\n{COMPLETED}"
