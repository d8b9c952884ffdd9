"""The HTTP transport: one seam, `post()`, over aiohttp.

Chosen by measurement (see BENCHMARKS.md, "LM client"): against a loopback
server with 50 ms latency at 128 concurrent requests, aiohttp carried about
2,000 req/s at 0.4 ms client CPU per request, where httpx's own pool fell to
68 req/s and httpx over aiohttp reached about half of aiohttp alone. Swapping
the transport means rewriting this file only.

An aiohttp session belongs to one event loop, so there is one session per
running loop: the private loop of `dspex_lab.loop` (all sync calls) and any loop
an async caller runs (`asyncio.run` in a script, a test's loop). A session is
closed when its loop shuts down its async generators (as `asyncio.run` does),
or at interpreter exit for the private loop.
"""

from __future__ import annotations

import asyncio
import atexit
import re
import threading
import weakref
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import aiohttp


@dataclass(slots=True)
class HTTPReply:
    """A complete HTTP reply; `headers` is a case-insensitive mapping."""

    status: int
    headers: Mapping[str, str]
    body: bytes


_RECEIVED = re.compile(r"received (\d+) of (\d+) bytes")


class TransportError(Exception):
    """The request got no complete reply. `kind` is "timeout", "connection", "truncated" or "too_large"."""

    def __init__(self, kind: str, message: str) -> None:
        self.kind = kind
        super().__init__(message)


class _LoopSessions:
    """One aiohttp session per event loop, closed with its loop."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sessions: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, tuple[Any, Any]] = (
            weakref.WeakKeyDictionary()
        )
        self._timeouts: dict[float, Any] = {}

    def get(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        entry = self._sessions.get(loop)
        if entry is not None and not entry[0].closed:
            return entry[0]
        return self._open(loop)

    def _open(self, loop: asyncio.AbstractEventLoop) -> aiohttp.ClientSession:
        import aiohttp

        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, ttl_dns_cache=300, keepalive_timeout=30),
            cookie_jar=aiohttp.DummyCookieJar(),
            # Many providers answer gzip; aiohttp inflates it. No default timeout: each post sets one.
            timeout=aiohttp.ClientTimeout(total=None),
        )
        keeper = _close_with_loop(session)
        # Starting the generator registers it with the loop, whose shutdown_asyncgens() closes it.
        loop.create_task(keeper.__anext__())
        with self._lock:
            self._sessions[loop] = (session, keeper)
        return session

    def timeout(self, seconds: float) -> aiohttp.ClientTimeout:
        timeout = self._timeouts.get(seconds)
        if timeout is None:
            import aiohttp

            timeout = self._timeouts[seconds] = aiohttp.ClientTimeout(total=seconds)
        return timeout

    def close_all(self) -> None:
        """Close sessions whose loops still run in other threads (at interpreter exit)."""
        with self._lock:
            entries = list(self._sessions.items())
        for loop, (session, _keeper) in entries:
            if session.closed or loop.is_closed() or not loop.is_running():
                continue
            try:
                asyncio.run_coroutine_threadsafe(session.close(), loop).result(timeout=2)
            except Exception:  # exit must go on even when a loop no longer answers
                pass


async def _close_with_loop(session: aiohttp.ClientSession) -> AsyncGenerator[None, None]:
    try:
        yield
    finally:
        await session.close()


_sessions = _LoopSessions()
atexit.register(_sessions.close_all)


def session() -> aiohttp.ClientSession:
    """The running loop's session (opened on first use)."""
    return _sessions.get()


async def post(
    url: str, headers: Mapping[str, str], body: bytes, timeout: float, max_bytes: int | None = None
) -> HTTPReply:
    """POST `body` to `url` and return the complete reply, or raise TransportError.

    A reply body longer than `max_bytes` is not read on: TransportError "too_large".
    """
    import aiohttp

    try:
        async with _sessions.get().post(
            url, data=body, headers=headers, timeout=_sessions.timeout(timeout)
        ) as response:
            length = response.content_length
            if max_bytes is None or (length is not None and length <= max_bytes):
                data = await response.read()
            else:
                data = await _read_at_most(response, max_bytes)
            return HTTPReply(response.status, response.headers, data)
    except TimeoutError:
        raise TransportError("timeout", f"no complete reply within {timeout:g} s") from None
    except aiohttp.ClientPayloadError as exc:
        counts = _RECEIVED.search(str(exc))
        detail = f" after {counts.group(1)} of {counts.group(2)} bytes" if counts else ""
        raise TransportError("truncated", f"the connection closed{detail}, before the reply was complete") from None
    except aiohttp.InvalidURL as exc:
        raise ValueError(f"{url!r} is not a valid URL ({exc}); check api_base") from None
    except (aiohttp.ClientError, OSError) as exc:
        raise TransportError("connection", f"{type(exc).__name__}: {exc}") from None


async def _read_at_most(response: aiohttp.ClientResponse, max_bytes: int) -> bytes:
    """The body, or TransportError once it passes `max_bytes` (the rest is never read into memory)."""
    declared = response.content_length
    if declared is not None and declared > max_bytes:
        raise TransportError("too_large", f"the reply announced {declared:,} bytes")
    chunks, size = [], 0
    async for chunk in response.content.iter_chunked(65_536):
        size += len(chunk)
        if size > max_bytes:
            raise TransportError("too_large", f"the reply passed {max_bytes:,} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
