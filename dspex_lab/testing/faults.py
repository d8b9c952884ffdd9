"""Faults the loopback provider server injects: queued for the next N requests, or standing rules.

Kinds are HTTP statuses ("429", "500", "503", "529", "400", "401", "403",
"404") answered with the provider's own error body, or one of:

- "slow": the reply is held back `delay` seconds (past the client's timeout);
- "malformed": a 200 whose body is not JSON;
- "truncated": the connection closes halfway through the body;
- "disconnect": the connection closes without any reply;
- "content_filter": a reply stopped by the provider's content filter;
- "length": a reply cut off at the token limit (finish reason "length") whose
  partial text is the first half of the full reply;
- "echo": a 200 whose JSON body is not the provider's format but echoes the
  request's headers (Authorization included), as a misconfigured proxy does;
- "echo_html": the same echo as an HTML page;
- "huge": a 200 reply whose text is `size` bytes long.

`ProviderServer.outage(seconds)` answers every request with an error status
for a stretch of time, on the server's clock.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any

SPECIAL_KINDS = (
    "slow",
    "malformed",
    "truncated",
    "disconnect",
    "content_filter",
    "length",
    "echo",
    "echo_html",
    "huge",
)
STATUS_KINDS = ("400", "401", "403", "404", "429", "500", "502", "503", "504", "529")
KINDS = STATUS_KINDS + SPECIAL_KINDS


@dataclass(frozen=True, slots=True)
class Fault:
    """One injected fault. `retry_after` (seconds) is sent as a Retry-After header; `size` is a huge reply's bytes."""

    kind: str
    retry_after: float | None = None
    delay: float = 0.0
    message: str | None = None
    size: int = 0

    @classmethod
    def make(cls, kind: str | int, **options: Any) -> Fault:
        kind = str(kind)
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; known kinds are {list(KINDS)}")
        unknown = sorted(set(options) - {"retry_after", "delay", "message", "size"})
        if unknown:
            raise TypeError(f"unknown fault option(s) {unknown}; use retry_after=, delay=, message= or size=")
        if kind == "slow" and not options.get("delay"):
            raise ValueError("a 'slow' fault needs delay=<seconds>")
        if kind == "huge" and not options.get("size"):
            raise ValueError("a 'huge' fault needs size=<bytes>")
        return cls(kind, **options)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class FaultPlan:
    """Decides, request by request, which fault (if any) to inject. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: deque[Fault] = deque()
        self._rules: list[tuple[int, Fault]] = []
        self._seen = 0

    def inject(self, kind: str | int, count: int = 1, **options: Any) -> None:
        """The next `count` provider requests get this fault."""
        if count < 1:
            raise ValueError(f"count must be at least 1, got {count}")
        fault = Fault.make(kind, **options)
        with self._lock:
            self._queue.extend([fault] * count)

    def every(self, kind: str | int, n: int, **options: Any) -> None:
        """Every `n`-th provider request (counting all of them) gets this fault."""
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        fault = Fault.make(kind, **options)
        with self._lock:
            self._rules.append((n, fault))

    def clear(self) -> None:
        """Drop queued faults and standing rules."""
        with self._lock:
            self._queue.clear()
            self._rules.clear()

    def pending(self) -> int:
        """How many queued faults are still to come."""
        with self._lock:
            return len(self._queue)

    def next_fault(self) -> Fault | None:
        """The fault for the request being handled now (queued ones first)."""
        with self._lock:
            self._seen += 1
            if self._queue:
                return self._queue.popleft()
            for n, fault in self._rules:
                if self._seen % n == 0:
                    return fault
            return None
