"""The interface every LM client shares, and the pipeline around each provider call.

A provider implements one coroutine, `_agenerate(messages, params)`, returning an
`LMResponse`. Everything else (parameter merging, the trace events, history and
usage accounting) happens here once for every provider.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from dspex_lab.lm.usage import Usage, record
from dspex_lab.loop import run_sync
from dspex_lab.trace import events

Message = dict[str, Any]

CALL_OPTIONS = ("cache", "rollout_id")
"""Per-call options that steer the client and are never sent to the provider."""


@dataclass(slots=True)
class LMResponse:
    """One completion: its text, usage, and how it was obtained."""

    text: str
    usage: Usage
    model: str
    finish_reason: str | None = None
    cache_hit: bool = False
    latency_ms: float = 0.0


@dataclass(slots=True)
class HistoryEntry:
    """One exchange kept in `lm.history`."""

    messages: list[Message]
    params: dict[str, Any]
    response: LMResponse
    timestamp: float = field(default_factory=time.time)


class BaseLM:
    """Base class of LM clients: `await lm.acall(messages, **kw)` or `lm(messages, **kw)`.

    `model` is the full "provider/model" name; `kwargs` are default sampling
    parameters (temperature, max_tokens, stop, ...), overridable per call.
    """

    provider: str = "base"
    supports_structured_output: bool = False
    history_size: int = 100

    def __init__(self, model: str, **kwargs: Any) -> None:
        self.model = model
        self.kwargs: dict[str, Any] = kwargs
        self.history: deque[HistoryEntry] = deque(maxlen=self.history_size)
        self.usage = Usage()

    @property
    def component(self) -> str:
        """The name this LM has in trace events."""
        return "lm:" + self.model

    def __repr__(self) -> str:
        params = ", ".join(f"{key}={value!r}" for key, value in sorted(self.kwargs.items()))
        return f"{type(self).__name__}({self.model!r}{', ' + params if params else ''})"

    def _params(self, overrides: dict[str, Any]) -> dict[str, Any]:
        params = dict(self.kwargs)
        params.update(overrides)
        return params

    async def acall(self, messages: list[Message], **kwargs: Any) -> LMResponse:
        """Send `messages` (OpenAI-style role/content dicts) and return the completion."""
        params = self._params(kwargs)
        correlation = f"{self.model}#{events.new_id()}"
        with events.span(
            "lm.request",
            self.component,
            {"messages": messages, "params": _public(params)},
            end="lm.response",
            correlation_id=correlation,
        ) as span:
            response = await self._agenerate(messages, params)
            span.set(
                text=response.text,
                prompt_tokens=response.usage.prompt_tokens,
                completion_tokens=response.usage.completion_tokens,
                cost=response.usage.cost,
                cache_hit=response.cache_hit,
                finish_reason=response.finish_reason,
            )
        self._account(messages, params, response)
        return response

    def __call__(self, messages: list[Message], **kwargs: Any) -> LMResponse:
        """The synchronous form of `acall`; works in scripts and in a running Jupyter kernel."""
        return run_sync(self.acall(messages, **kwargs))

    def _account(self, messages: list[Message], params: dict[str, Any], response: LMResponse) -> None:
        self.usage.add(response.usage)
        record(response.usage)
        self.history.append(HistoryEntry(messages, _public(params), response))

    async def _agenerate(self, messages: list[Message], params: dict[str, Any]) -> LMResponse:
        raise NotImplementedError


def _public(params: dict[str, Any]) -> dict[str, Any]:
    """Parameters fit for traces and history (client-only options removed)."""
    return {key: value for key, value in params.items() if key not in CALL_OPTIONS}
