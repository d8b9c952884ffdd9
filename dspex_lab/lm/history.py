"""The last LM exchanges, per LM (`lm.history`) and across the process (`dx.inspect_history`)."""

from __future__ import annotations

import sys
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dspex_lab.lm.base import BaseLM, LMResponse

RECENT_SIZE = 200
MAX_TEXT = 20_000
"""Longest reply text a history entry keeps; longer replies keep their start and a note."""


@dataclass(slots=True)
class HistoryEntry:
    """One exchange: the messages sent, the public parameters, and the response."""

    messages: list[dict[str, Any]]
    params: dict[str, Any]
    response: LMResponse
    timestamp: float = field(default_factory=time.time)


_recent: deque[HistoryEntry] = deque(maxlen=RECENT_SIZE)


def excerpt(response: LMResponse) -> LMResponse:
    """`response` as a history keeps it: itself, or a copy with its text cut to `MAX_TEXT` characters."""
    text = response.text
    if len(text) <= MAX_TEXT:
        return response
    return replace(response, text=text[:MAX_TEXT] + f"\n...[history keeps {MAX_TEXT:,} of {len(text):,} characters]")


def remember(entry: HistoryEntry) -> None:
    """Keep `entry` among the process's recent exchanges."""
    _recent.append(entry)


def format_entry(entry: HistoryEntry) -> str:
    """One exchange as readable text: when, which model, how, each message, and the reply."""
    response = entry.response
    usage = response.usage
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(entry.timestamp))
    how = "cache hit" if response.cache_hit else f"{response.latency_ms:.0f} ms"
    tokens = f"{usage.prompt_tokens} + {usage.completion_tokens} tokens"
    cost = f", ${usage.cost:.6f}" if usage.cost else ""
    params = ", ".join(f"{k}={v!r}" for k, v in entry.params.items() if k != "response_format")
    if "response_format" in entry.params:
        params = ", ".join(filter(None, [params, "response_format=..."]))
    lines = [f"[{when}] {response.model}  ({how}, {tokens}{cost}, finish={response.finish_reason})"]
    if params:
        lines.append(f"params: {params}")
    for message in entry.messages:
        lines += ["", f"{str(message.get('role', '?')).capitalize()} message:", "", str(message.get("content", ""))]
    lines += ["", "Response:", "", response.text, ""]
    return "\n".join(lines)


def format_history(entries: Iterable[HistoryEntry]) -> str:
    return "\n\n".join(format_entry(entry) for entry in entries)


def inspect_history(n: int = 1, *, lm: BaseLM | None = None, file: IO[str] | None = None) -> None:
    """Print the last `n` exchanges, of `lm` or of every LM in this process, oldest first."""
    source = lm.history if lm is not None else _recent
    entries = list(source)[-n:] if n > 0 else []
    text = format_history(entries) if entries else "No LM calls yet."
    print(text, file=file or sys.stdout)
