"""The HTTP transport: one seam between the LM clients and the bytes on the wire.

`Transport` is what an HTTP LM sends through: `await post(...)` from async
code, `post_sync(...)` from a synchronous call, and `stream` / `stream_sync`
for replies read as they arrive (server-sent events). Chosen by measurement
(see BENCHMARKS.md, "LM client"):

- `DefaultTransport`: async requests over aiohttp (about 2,000 req/s at 128 in
  flight where httpx's own pool fell to 68 req/s), synchronous ones over a
  small blocking HTTP/1.1 pool in the calling thread (`dspex_lab.lm.blocking`),
  which costs less client CPU than a bare `http.client` call.
- `HTTPXTransport`: the user's own `httpx.Client` or `httpx.AsyncClient`
  (`dx.LM(..., http_client=...)`) for proxies with custom auth, mTLS, or
  anything else httpx is configured for.

Retry, rate limits, the circuit breaker, the cache and the trace sit around
every transport (`dspex_lab.lm.base`). A subclass of `Transport` may carry the
requests any other way.

An aiohttp session belongs to one event loop, so there is one session per
running loop: the private loop of `dspex_lab.loop` and any loop an async caller
runs (`asyncio.run` in a script, a test's loop). A session is closed when its
loop shuts down its async generators (as `asyncio.run` does), or at interpreter
exit for loops still running.
"""

from __future__ import annotations

import asyncio
import atexit
import re
import threading
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from dspex_lab.lm.blocking import pool
from dspex_lab.lm.http_reply import Headers, HTTPReply, TransportError
from dspex_lab.lm.network import Route, untrusted

if TYPE_CHECKING:
    import aiohttp

__all__ = ["DefaultTransport", "HTTPReply", "Headers", "Transport", "TransportError", "default_transport", "post"]

_RECEIVED = re.compile(r"received (\d+) of (\d+) bytes")

Stream = tuple[int, Mapping[str, str], Iterator[bytes]]
AsyncStream = tuple[int, Mapping[str, str], AsyncIterator[bytes]]


class Transport:
    """How an HTTP LM's requests travel. Subclass it to carry them another way.

    Every method raises `TransportError` when no complete reply arrives (kind
    "timeout", "connection" or "truncated"), or when the body passes
    `max_bytes` (kind "too_large"; the rest is not read into memory). `route`
    is the proxy and TLS context the LM resolved (see `dspex_lab.lm.network`);
    a transport built on a configured client may ignore it.
    """

    sync_in_thread: bool = False
    """True when `post_sync` runs in the calling thread; otherwise sync calls go through the private loop."""

    private_loop_only: bool = False
    """True when requests must run on the private event loop (a client bound to one loop)."""

    blocking_only: bool = False
    """True when only the synchronous methods work (a blocking client): async callers run them in a thread."""

    async def post(
        self,
        url: str,
        headers: Mapping[str, str],
        body: bytes,
        timeout: float,
        route: Route | None = None,
        max_bytes: int | None = None,
    ) -> HTTPReply:
        raise NotImplementedError

    def post_sync(
        self,
        url: str,
        headers: Mapping[str, str],
        body: bytes,
        timeout: float,
        route: Route | None = None,
        max_bytes: int | None = None,
    ) -> HTTPReply:
        raise NotImplementedError

    async def stream(
        self, url: str, headers: Mapping[str, str], body: bytes, timeout: float, route: Route | None = None
    ) -> AsyncStream:
        """Status, headers and the body's chunks as they arrive; closing the iterator early closes the connection."""
        raise NotImplementedError

    def stream_sync(
        self, url: str, headers: Mapping[str, str], body: bytes, timeout: float, route: Route | None = None
    ) -> Stream:
        raise NotImplementedError


class DefaultTransport(Transport):
    """aiohttp for async calls, the blocking keep-alive pool for synchronous ones."""

    sync_in_thread = True

    async def post(
        self,
        url: str,
        headers: Mapping[str, str],
        body: bytes,
        timeout: float,
        route: Route | None = None,
        max_bytes: int | None = None,
    ) -> HTTPReply:
        return await post(url, headers, body, timeout, route, max_bytes)

    def post_sync(
        self,
        url: str,
        headers: Mapping[str, str],
        body: bytes,
        timeout: float,
        route: Route | None = None,
        max_bytes: int | None = None,
    ) -> HTTPReply:
        return pool.post(url, headers, body, timeout, route, max_bytes)

    async def stream(
        self, url: str, headers: Mapping[str, str], body: bytes, timeout: float, route: Route | None = None
    ) -> AsyncStream:
        import aiohttp

        try:
            response = await _sessions.get().post(url, data=body, headers=headers, **_options(timeout, route))
        except Exception as exc:
            raise _aiohttp_error(exc, url, timeout) from None
        return response.status, response.headers, _aiohttp_chunks(response, url, timeout, aiohttp)

    def stream_sync(
        self, url: str, headers: Mapping[str, str], body: bytes, timeout: float, route: Route | None = None
    ) -> Stream:
        return pool.stream(url, headers, body, timeout, route)

    def __repr__(self) -> str:
        return "DefaultTransport()"


async def _aiohttp_chunks(response: Any, url: str, timeout: float, aiohttp: Any) -> AsyncIterator[bytes]:
    complete = False
    try:
        async for chunk in response.content.iter_any():
            yield chunk
        complete = True
    except Exception as exc:
        raise _aiohttp_error(exc, url, timeout) from None
    finally:
        if complete:
            response.release()
        else:
            response.close()  # a stream left early: the connection goes, never back to the pool


_default = DefaultTransport()


def default_transport() -> Transport:
    """The transport LMs use unless given an `http_client=`."""
    return _default


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
atexit.register(pool.close)


def session() -> aiohttp.ClientSession:
    """The running loop's session (opened on first use)."""
    return _sessions.get()


def _options(timeout: float, route: Route | None) -> dict[str, Any]:
    options: dict[str, Any] = {"timeout": _sessions.timeout(timeout)}
    if route is not None:
        if route.proxy is not None:
            options["proxy"] = route.proxy
        if route.ssl_context is not None:
            options["ssl"] = route.ssl_context
    return options


async def post(
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    timeout: float,
    route: Route | None = None,
    max_bytes: int | None = None,
) -> HTTPReply:
    """POST `body` to `url` over the loop's aiohttp session; the complete reply, or TransportError.

    A reply body longer than `max_bytes` is not read on: TransportError "too_large".
    """
    try:
        async with _sessions.get().post(url, data=body, headers=headers, **_options(timeout, route)) as response:
            length = response.content_length
            if max_bytes is None or (length is not None and length <= max_bytes):
                data = await response.read()
            else:
                data = await _read_at_most(response, max_bytes)
            return HTTPReply(response.status, response.headers, data)
    except TransportError:
        raise
    except Exception as exc:
        raise _aiohttp_error(exc, url, timeout) from None


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


def _aiohttp_error(exc: Exception, url: str, timeout: float) -> Exception:
    import aiohttp

    if isinstance(exc, TimeoutError):
        return TransportError("timeout", f"no complete reply within {timeout:g} s")
    if isinstance(exc, aiohttp.ClientPayloadError):
        counts = _RECEIVED.search(str(exc))
        detail = f" after {counts.group(1)} of {counts.group(2)} bytes" if counts else ""
        return TransportError("truncated", f"the connection closed{detail}, before the reply was complete")
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return untrusted(f"{exc.host}:{exc.port}", exc.certificate_error)
    if isinstance(exc, aiohttp.InvalidURL):
        return ValueError(f"{url!r} is not a valid URL ({exc}); check api_base")
    if isinstance(exc, aiohttp.ClientError | OSError):
        return TransportError("connection", f"{type(exc).__name__}: {exc}")
    return exc
