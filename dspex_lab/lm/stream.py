"""Streamed replies: who listens for text as it arrives, and the server-sent events it comes in.

An LM call streams when a listener is installed for the calling context (as
`dx.streamify` does): `with listen(start):`, where `start()` is called at the
start of each LM call made inside and returns the function that receives that
call's text, piece by piece. The call still returns the complete `LMResponse`,
and the cache stores it; a cache hit gives its whole text as one piece.
Without a listener nothing streams and nothing here costs anything.
"""

from __future__ import annotations

import codecs
import contextlib
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field

TextSink = Callable[[str], None]
"""Receives one call's text, piece by piece. It may raise to stop the call (the connection is closed)."""

StartCall = Callable[[], TextSink]

_listener: ContextVar[StartCall | None] = ContextVar("dspex_stream_listener", default=None)


def current_listener() -> StartCall | None:
    """The listener installed for this context, if any."""
    return _listener.get()


@contextlib.contextmanager
def listen(start: StartCall) -> Iterator[None]:
    """Stream every LM call made in the block (and the tasks it starts) to `start()`'s sink."""
    token = _listener.set(start)
    try:
        yield
    finally:
        _listener.reset(token)


@dataclass(slots=True)
class StreamState:
    """What a provider's stream has said so far: the text pieces, why it stopped, the token counts."""

    texts: list[str] = field(default_factory=list)
    finish: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    blocked: str | None = None

    @property
    def text(self) -> str:
        return "".join(self.texts)


class SSEDecoder:
    """Server-sent events from bytes as they arrive: `feed(chunk)` returns the (event, data) pairs completed."""

    __slots__ = ("_buffer", "_decoder")

    def __init__(self) -> None:
        self._buffer = ""
        # Incremental: a character split between two chunks is decoded whole.
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def feed(self, chunk: bytes) -> list[tuple[str | None, str]]:
        buffer = (self._buffer + self._decoder.decode(chunk)).replace("\r\n", "\n")
        *blocks, self._buffer = buffer.split("\n\n")
        events = []
        for block in blocks:
            event, data = None, []
            for line in block.split("\n"):
                if not line or line.startswith(":"):
                    continue
                name, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                if name == "event":
                    event = value
                elif name == "data":
                    data.append(value)
            if data:
                events.append((event, "\n".join(data)))
        return events
