"""The user's own httpx client as the transport: `dx.LM(..., http_client=httpx.AsyncClient(...))`.

For people whose network needs what httpx is configured for (a proxy with its
own auth, client certificates, event hooks, a custom httpx transport). The
client's own settings apply; the LM's `proxy=`/`verify=` do not. Retry, rate
limits, the circuit breaker, the cache and the trace still sit around it.

- `httpx.AsyncClient`: its requests always run on the private event loop of
  `dspex_lab.loop`, because an AsyncClient's connections belong to the loop that
  opened them; so one client (one pool) serves synchronous calls and async
  callers in any loop. Give dspex_lab a client of its own.
- `httpx.Client`: synchronous calls run on it in the calling thread; async calls
  run it in a worker thread.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

from dspex_lab.lm.http_reply import HTTPReply, TransportError
from dspex_lab.lm.network import Route, untrusted
from dspex_lab.lm.transport import AsyncStream, Stream, Transport
from dspex_lab.loop import on_private_loop, run_in_worker

_RECEIVED = re.compile(r"received (\d+) bytes, expected (\d+)")


def _check_declared(response: Any, max_bytes: int | None) -> None:
    declared = response.headers.get("content-length")
    if max_bytes is not None and declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise TransportError("too_large", f"the reply announced {int(declared):,} bytes")


def _check_size(size: int, max_bytes: int | None) -> None:
    if max_bytes is not None and size > max_bytes:
        raise TransportError("too_large", f"the reply passed {max_bytes:,} bytes")


class HTTPXTransport(Transport):
    """Requests through an `httpx.Client` or `httpx.AsyncClient`."""

    def __init__(self, client: Any) -> None:
        import httpx

        if not isinstance(client, httpx.Client | httpx.AsyncClient):
            raise TypeError(
                f"http_client must be an httpx.Client or httpx.AsyncClient, got {type(client).__name__}; "
                "leave it out for the default transport"
            )
        self.client: Any = client
        self.is_async = isinstance(client, httpx.AsyncClient)
        self.sync_in_thread = not self.is_async
        self.private_loop_only = self.is_async
        self.blocking_only = not self.is_async
        self._httpx = httpx

    def __repr__(self) -> str:
        return f"HTTPXTransport({type(self.client).__name__})"

    async def post(
        self,
        url: str,
        headers: Mapping[str, str],
        body: bytes,
        timeout: float,
        route: Route | None = None,
        max_bytes: int | None = None,
    ) -> HTTPReply:
        if not self.is_async:
            return await run_in_worker(self.post_sync, url, headers, body, timeout, None, max_bytes)
        return await on_private_loop(self._post(url, headers, body, timeout, max_bytes))

    async def _post(
        self, url: str, headers: Mapping[str, str], body: bytes, timeout: float, max_bytes: int | None
    ) -> HTTPReply:
        request = self.client.build_request("POST", url, content=body, headers=headers, timeout=timeout)
        try:
            response = await self.client.send(request, stream=True)
            try:
                _check_declared(response, max_bytes)
                parts, size = [], 0
                async for part in response.aiter_bytes():
                    size += len(part)
                    _check_size(size, max_bytes)
                    parts.append(part)
            finally:
                await response.aclose()
        except self._httpx.HTTPError as exc:
            raise self._error(exc, timeout) from None
        return HTTPReply(response.status_code, response.headers, b"".join(parts))

    def post_sync(
        self,
        url: str,
        headers: Mapping[str, str],
        body: bytes,
        timeout: float,
        route: Route | None = None,
        max_bytes: int | None = None,
    ) -> HTTPReply:
        if self.is_async:
            raise RuntimeError("an httpx.AsyncClient has no synchronous path; sync calls use the private loop")
        request = self.client.build_request("POST", url, content=body, headers=headers, timeout=timeout)
        try:
            response = self.client.send(request, stream=True)
            try:
                _check_declared(response, max_bytes)
                parts, size = [], 0
                for part in response.iter_bytes():
                    size += len(part)
                    _check_size(size, max_bytes)
                    parts.append(part)
            finally:
                response.close()
        except self._httpx.HTTPError as exc:
            raise self._error(exc, timeout) from None
        return HTTPReply(response.status_code, response.headers, b"".join(parts))

    async def stream(
        self, url: str, headers: Mapping[str, str], body: bytes, timeout: float, route: Route | None = None
    ) -> AsyncStream:
        if not self.is_async:
            raise RuntimeError("an httpx.Client streams from the calling thread (stream_sync)")
        request = self.client.build_request("POST", url, content=body, headers=headers, timeout=timeout)
        try:
            response = await self.client.send(request, stream=True)
        except self._httpx.HTTPError as exc:
            raise self._error(exc, timeout) from None
        return response.status_code, response.headers, self._achunks(response, timeout)

    async def _achunks(self, response: Any, timeout: float) -> AsyncIterator[bytes]:
        try:
            async for chunk in response.aiter_bytes():
                yield chunk
        except self._httpx.HTTPError as exc:
            raise self._error(exc, timeout) from None
        finally:
            await response.aclose()

    def stream_sync(
        self, url: str, headers: Mapping[str, str], body: bytes, timeout: float, route: Route | None = None
    ) -> Stream:
        if self.is_async:
            raise RuntimeError("an httpx.AsyncClient has no synchronous path; sync calls use the private loop")
        request = self.client.build_request("POST", url, content=body, headers=headers, timeout=timeout)
        try:
            response = self.client.send(request, stream=True)
        except self._httpx.HTTPError as exc:
            raise self._error(exc, timeout) from None
        return response.status_code, response.headers, self._chunks(response, timeout)

    def _chunks(self, response: Any, timeout: float) -> Iterator[bytes]:
        try:
            yield from response.iter_bytes()
        except self._httpx.HTTPError as exc:
            raise self._error(exc, timeout) from None
        finally:
            response.close()

    def _error(self, exc: Exception, timeout: float) -> Exception:
        httpx = self._httpx
        if isinstance(exc, httpx.TimeoutException):
            return TransportError("timeout", f"no complete reply within {timeout:g} s")
        counts = _RECEIVED.search(str(exc)) if isinstance(exc, httpx.RemoteProtocolError) else None
        if counts is not None:
            received, expected = counts.groups()
            return TransportError(
                "truncated",
                f"the connection closed after {received} of {expected} bytes, before the reply was complete",
            )
        if isinstance(exc, httpx.ConnectError) and "CERTIFICATE_VERIFY_FAILED" in str(exc):
            return untrusted(str(exc.request.url.netloc.decode()), exc)
        if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
            return ValueError(f"{exc}; check api_base")
        return TransportError("connection", f"{type(exc).__name__}: {exc}")
