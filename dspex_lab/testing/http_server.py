"""A small HTTP/1.1 server on asyncio protocols, fast enough to never be the bottleneck.

It speaks just what the loopback provider server needs: requests with a
`Content-Length` body, keep-alive connections, replies that may be delayed
(timers, not a task per request), cut short, or dropped. One core serves well
over 10,000 small replies a second, so a benchmark at 2,560 req/s measures the
client, not this server.
"""

from __future__ import annotations

import asyncio
import ssl
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
    With `chunks`, the body is sent in chunked encoding, one chunk every
    `interval` seconds (server-sent events arrive this way).
    """

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"
    delay: float = 0.0
    truncate_at: int | None = None
    drop: bool = False
    chunks: list[bytes] | None = None
    interval: float = 0.0


Handler = Callable[[Request], Response]


def encode_head(response: Response) -> bytes:
    reason = _REASONS.get(response.status, "Status")
    lines = [
        f"HTTP/1.1 {response.status} {reason}",
        f"Content-Type: {response.content_type}",
        "Transfer-Encoding: chunked" if response.chunks is not None else f"Content-Length: {len(response.body)}",
    ]
    lines.extend(f"{name}: {value}" for name, value in response.headers.items())
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class _Connection(asyncio.Protocol):
    """One client connection: parses requests in order, answers one at a time."""

    __slots__ = ("buffer", "busy", "closed", "connections", "handler", "loop", "on_cut", "transport")

    def __init__(
        self,
        handler: Handler,
        loop: asyncio.AbstractEventLoop,
        connections: set[_Connection],
        on_cut: Callable[[], None] | None = None,
    ) -> None:
        self.handler = handler
        self.on_cut = on_cut
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
        if target.startswith(("http://", "https://")):
            # The absolute form a client sends through a proxy (RFC 9112 3.2.2: servers accept it).
            slash = target.find("/", target.find("//") + 2)
            target = target[slash:] if slash >= 0 else "/"
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
        if response.chunks is not None:
            transport.write(head)
            self._send_chunk(response, 0, keep_alive)
            return
        if response.truncate_at is not None:
            transport.write(head + response.body[: response.truncate_at])
            transport.close()
            return
        transport.write(head + response.body)
        self._done(keep_alive)

    def _send_chunk(self, response: Response, index: int, keep_alive: bool) -> None:
        """Write chunk `index` of a streamed reply and schedule the next; notice a client that left."""
        transport = self.transport
        chunks = response.chunks or []
        if self.closed or transport is None or transport.is_closing():
            if self.on_cut is not None:
                self.on_cut()
            return
        if index == len(chunks):
            transport.write(b"0\r\n\r\n")
            self._done(keep_alive)
            return
        chunk = chunks[index]
        if chunk:  # an empty chunk would end the body
            transport.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        self.loop.call_later(response.interval, self._send_chunk, response, index + 1, keep_alive)

    def _done(self, keep_alive: bool) -> None:
        if not keep_alive and self.transport is not None:
            self.transport.close()
            return
        self.busy = False
        if self.buffer:
            self._next()


class HTTPServer:
    """Serves `handler` on 127.0.0.1 inside the running event loop."""

    def __init__(self, handler: Handler, on_cut: Callable[[], None] | None = None) -> None:
        self.handler = handler
        self.on_cut = on_cut
        self._server: asyncio.base_events.Server | None = None
        self._connections: set[_Connection] = set()
        self.port: int | None = None

    async def start(self, host: str = "127.0.0.1", port: int = 0, ssl: ssl.SSLContext | None = None) -> int:
        """Listen on `host:port` (0: a free port), over TLS when `ssl` is a server context; returns the port."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Connection(self.handler, loop, self._connections, self.on_cut),
            host,
            port,
            backlog=4096,
            reuse_address=True,
            ssl=ssl,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    def close_connections(self) -> None:
        """Close every open client connection (the server keeps listening)."""
        for connection in list(self._connections):
            connection.close()

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for connection in list(self._connections):
            connection.close()
        await self._server.wait_closed()
        self._server = None
