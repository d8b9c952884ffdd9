"""A small blocking HTTP/1.1 client with one keep-alive pool: the transport of synchronous calls.

A synchronous `lm(messages)` sends its request from the calling thread over a
pooled socket, instead of handing it to an event loop in another thread (that
hand-off, a self-pipe write, a wake-up and a futex wake of the caller, cost more
client CPU than the request itself). It speaks what an LM API needs: a POST with
a body; replies framed by Content-Length, chunked encoding or the end of the
connection; gzip; keep-alive; TLS; and HTTP proxies (CONNECT for https,
absolute-form for http). Every thread shares the pool. A Ctrl-C in the waiting
thread interrupts the read at once; the interrupted connection is closed, never
reused.
"""

from __future__ import annotations

import os
import socket
import ssl
import threading
import time
import urllib.parse
import zlib
from collections.abc import Generator, Iterator, Mapping
from typing import Any

from dspex_lab.lm.http_reply import Headers, HTTPReply, TransportError
from dspex_lab.lm.network import Route, untrusted

IDLE_SECONDS = 30.0
"""Idle connections older than this are closed rather than reused."""
MAX_IDLE_PER_ORIGIN = 256
_RECV = 65_536
_STALE = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError)


class _Closed(Exception):
    """The peer closed the connection before the reply head arrived."""


class _Connection:
    __slots__ = ("buffer", "idle_since", "key", "sock")

    def __init__(self, key: tuple[Any, ...], sock: socket.socket) -> None:
        self.key = key
        self.sock = sock
        self.buffer = b""
        self.idle_since = 0.0

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


class _Target:
    """A parsed URL: what the request line, Host header and pool key need."""

    __slots__ = ("host", "host_header", "path", "port", "tls", "url")

    def __init__(self, url: str) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{url!r} is not a valid URL (http:// or https:// and a host); check api_base")
        self.url = url
        self.tls = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port or (443 if self.tls else 80)
        self.host_header = parts.netloc.rpartition("@")[2]
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


_targets: dict[str, _Target] = {}


def _target(url: str) -> _Target:
    target = _targets.get(url)
    if target is None:
        if len(_targets) > 1024:
            _targets.clear()
        target = _targets[url] = _Target(url)
    return target


class BlockingPool:
    """Keep-alive connections by origin (and proxy), shared by every thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: dict[tuple[Any, ...], list[_Connection]] = {}

    def post(
        self,
        url: str,
        headers: Mapping[str, str],
        body: bytes,
        timeout: float,
        route: Route | None = None,
        max_bytes: int | None = None,
    ) -> HTTPReply:
        """POST `body` and return the complete reply, or raise TransportError.

        A body longer than `max_bytes` is not read on: TransportError "too_large".
        """
        deadline = time.monotonic() + timeout
        connection, status, reply_headers = self._send(url, headers, body, timeout, deadline, route)
        try:
            data, reusable = _read_body(connection, reply_headers, deadline, timeout, max_bytes)
        except BaseException:
            connection.close()
            raise
        if reusable:
            self._checkin(connection)
        else:
            connection.close()
        return HTTPReply(status, reply_headers, data)

    def stream(
        self, url: str, headers: Mapping[str, str], body: bytes, timeout: float, route: Route | None = None
    ) -> tuple[int, Headers, Iterator[bytes]]:
        """POST `body`; the status, headers and an iterator over body chunks as they arrive.

        Closing the iterator before its end (or an error while reading) closes the connection.
        """
        deadline = time.monotonic() + timeout
        connection, status, reply_headers = self._send(url, headers, body, timeout, deadline, route)
        return status, reply_headers, self._chunks(connection, reply_headers, deadline, timeout)

    def _send(
        self, url: str, headers: Mapping[str, str], body: bytes, timeout: float, deadline: float, route: Route | None
    ) -> tuple[_Connection, int, Headers]:
        """Send the request and read the reply's head: (the connection, status, headers)."""
        target = _target(url)
        request = _request_bytes(target, headers, body, route)
        for fresh in (False, True):
            connection = self._checkout(target, route, deadline, timeout, fresh)
            try:
                connection.sock.sendall(request)
                status, reply_headers = _read_head(connection, deadline, timeout)
            except (_Closed, *_STALE) as exc:
                connection.close()
                if not fresh and connection.idle_since:
                    continue  # a kept-alive connection the server had closed: once more on a new one
                if isinstance(exc, _Closed):
                    raise TransportError("connection", "the server closed the connection without a reply") from None
                raise TransportError("connection", f"{type(exc).__name__}: {exc}") from None
            except BaseException:
                connection.close()
                raise
            return connection, status, reply_headers
        raise AssertionError("unreachable")

    def _chunks(self, connection: _Connection, headers: Headers, deadline: float, timeout: float) -> Iterator[bytes]:
        return _Chunks(self, connection, _iter_body(connection, headers, deadline, timeout))

    def idle(self) -> int:
        """How many kept-alive connections wait for their next request."""
        with self._lock:
            return sum(len(connections) for connections in self._idle.values())

    def close(self) -> None:
        """Close every idle connection."""
        with self._lock:
            idle, self._idle = self._idle, {}
        for connections in idle.values():
            for connection in connections:
                connection.close()

    def _checkout(
        self, target: _Target, route: Route | None, deadline: float, timeout: float, fresh: bool
    ) -> _Connection:
        proxy = route.proxy if route is not None else None
        context = route.ssl_context if route is not None else None
        key = (target.tls, target.host, target.port, proxy, id(context))
        if not fresh:
            now = time.monotonic()
            with self._lock:
                idle = self._idle.get(key)
                while idle:
                    connection = idle.pop()
                    if now - connection.idle_since < IDLE_SECONDS:
                        return connection
                    connection.close()
        return _open(key, target, proxy, context, deadline, timeout)

    def _checkin(self, connection: _Connection) -> None:
        connection.idle_since = time.monotonic()
        with self._lock:
            idle = self._idle.setdefault(connection.key, [])
            if len(idle) < MAX_IDLE_PER_ORIGIN:
                idle.append(connection)
                return
        connection.close()


class _Chunks:
    """A streamed body: its chunks as they arrive; the connection goes back to the pool only after the last."""

    __slots__ = ("_body", "_connection", "_pool")

    def __init__(self, pool: BlockingPool, connection: _Connection, body: Generator[bytes, None, bool]) -> None:
        self._pool = pool
        self._connection: _Connection | None = connection
        self._body = body

    def __iter__(self) -> _Chunks:
        return self

    def __next__(self) -> bytes:
        connection = self._connection
        if connection is None:
            raise StopIteration
        try:
            return next(self._body)
        except StopIteration as end:
            self._connection = None
            if end.value:
                self._pool._checkin(connection)
            else:
                connection.close()
            raise StopIteration from None
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Stop reading: the connection is closed, never reused."""
        connection, self._connection = self._connection, None
        if connection is not None:
            self._body.close()
            connection.close()


def _open(
    key: tuple[Any, ...], target: _Target, proxy: str | None, context: Any, deadline: float, timeout: float
) -> _Connection:
    where = f"{target.host}:{target.port}"
    try:
        if proxy is None:
            sock = socket.create_connection((target.host, target.port), timeout=timeout)
        else:
            sock = _through_proxy(proxy, target, deadline, timeout)
            where = f"{where} through the proxy {_public(proxy)}"
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if target.tls:
            sock = (context or ssl.create_default_context()).wrap_socket(sock, server_hostname=target.host)
    except TimeoutError:
        raise TransportError("timeout", f"could not connect to {where} within {timeout:g} s") from None
    except TransportError:
        raise
    except ssl.SSLCertVerificationError as exc:
        raise untrusted(where, exc) from None
    except OSError as exc:
        raise TransportError("connection", f"cannot connect to {where}: {type(exc).__name__}: {exc}") from None
    return _Connection(key, sock)


def _through_proxy(proxy: str, target: _Target, deadline: float, timeout: float) -> socket.socket:
    """A socket to the proxy; for https, tunnelled to the target with CONNECT."""
    parts = urllib.parse.urlsplit(proxy)
    sock = socket.create_connection((parts.hostname or "", parts.port or 8080), timeout=timeout)
    if not target.tls:
        return sock  # plain http goes to the proxy in absolute form
    lines = [f"CONNECT {target.host}:{target.port} HTTP/1.1", f"Host: {target.host}:{target.port}"]
    auth = _proxy_auth(proxy)
    if auth:
        lines.append(f"Proxy-Authorization: {auth}")
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    tunnel = _Connection((), sock)
    try:
        status, _ = _read_head(tunnel, deadline, timeout)
    except _Closed:
        sock.close()
        raise TransportError("connection", f"the proxy {_public(proxy)} closed the connection on CONNECT") from None
    if status != 200:
        sock.close()
        raise TransportError(
            "connection",
            f"the proxy {_public(proxy)} refused to CONNECT to {target.host}:{target.port} (HTTP {status})",
        )
    return sock


def _proxy_auth(proxy: str) -> str | None:
    parts = urllib.parse.urlsplit(proxy)
    if parts.username is None:
        return None
    import base64

    user = urllib.parse.unquote(parts.username)
    password = urllib.parse.unquote(parts.password or "")
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


def _public(proxy: str) -> str:
    """The proxy URL without its credentials (for messages)."""
    parts = urllib.parse.urlsplit(proxy)
    return f"{parts.scheme}://{parts.hostname}:{parts.port or 8080}"


def _request_bytes(target: _Target, headers: Mapping[str, str], body: bytes, route: Route | None) -> bytes:
    proxy = route.proxy if route is not None else None
    if proxy is not None and not target.tls:
        line = f"POST {target.url} HTTP/1.1\r\nHost: {target.host_header}\r\n"
        auth = _proxy_auth(proxy)
        if auth:
            line += f"Proxy-Authorization: {auth}\r\n"
    else:
        line = f"POST {target.path} HTTP/1.1\r\nHost: {target.host_header}\r\n"
    head = line
    for name, value in headers.items():
        head += f"{name}: {value}\r\n"
    head += f"Content-Length: {len(body)}\r\nAccept-Encoding: gzip, deflate\r\n\r\n"
    return head.encode("latin-1") + body


def _recv(connection: _Connection, deadline: float, timeout: float) -> bytes:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TransportError("timeout", f"no complete reply within {timeout:g} s")
    sock = connection.sock
    sock.settimeout(remaining)
    try:
        return sock.recv(_RECV)
    except TimeoutError:
        raise TransportError("timeout", f"no complete reply within {timeout:g} s") from None


def _read_head(connection: _Connection, deadline: float, timeout: float) -> tuple[int, Headers]:
    buffer = connection.buffer
    while True:
        end = buffer.find(b"\r\n\r\n")
        while end < 0:
            data = _recv(connection, deadline, timeout)
            if not data:
                if buffer:
                    raise TransportError("truncated", "the connection closed in the middle of the reply head")
                raise _Closed
            buffer += data
            end = buffer.find(b"\r\n\r\n")
        lines = buffer[:end].decode("latin-1").split("\r\n")
        buffer = buffer[end + 4 :]
        try:
            status = int(lines[0].split(" ", 2)[1])
        except (IndexError, ValueError):
            raise TransportError("connection", f"the server sent no HTTP reply: {lines[0][:80]!r}") from None
        if 100 <= status < 200:
            continue  # 100 Continue and other interim replies
        headers = Headers()
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            value = value.strip()
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        connection.buffer = buffer
        return status, headers


def _read_body(
    connection: _Connection, headers: Headers, deadline: float, timeout: float, max_bytes: int | None = None
) -> tuple[bytes, bool]:
    """The whole body, and whether the connection can be reused."""
    length = headers.get("content-length")
    if length is not None and "transfer-encoding" not in headers:
        size = int(length)
        if max_bytes is not None and size > max_bytes:
            raise TransportError("too_large", f"the reply announced {size:,} bytes")
        buffer = connection.buffer
        while len(buffer) < size:
            data = _recv(connection, deadline, timeout)
            if not data:
                raise TransportError(
                    "truncated",
                    f"the connection closed after {len(buffer)} of {size} bytes, before the reply was complete",
                )
            buffer += data
        connection.buffer = buffer[size:]
        body = buffer[:size]
        reusable = headers.get("connection", "").lower() != "close"
        return _decode(body, headers), reusable
    parts: list[bytes] = []
    received = 0
    iterator = _iter_body(connection, headers, deadline, timeout, decode=False)
    while True:
        try:
            part = next(iterator)
        except StopIteration as done:
            return _decode(b"".join(parts), headers), bool(done.value)
        received += len(part)
        if max_bytes is not None and received > max_bytes:
            raise TransportError("too_large", f"the reply passed {max_bytes:,} bytes")
        parts.append(part)


def _iter_body(
    connection: _Connection, headers: Headers, deadline: float, timeout: float, decode: bool = True
) -> Generator[bytes, None, bool]:
    """Body chunks as they arrive; returns whether the connection can be reused."""
    decoder = _decoder(headers) if decode else None
    if "chunked" in headers.get("transfer-encoding", "").lower():
        source = _chunked(connection, deadline, timeout)
        reusable = headers.get("connection", "").lower() != "close"
    elif "content-length" in headers:
        source = _sized(connection, int(headers["content-length"]), deadline, timeout)
        reusable = headers.get("connection", "").lower() != "close"
    else:
        source = _until_closed(connection, deadline, timeout)
        reusable = False
    for chunk in source:
        if decoder is not None:
            chunk = decoder.decompress(chunk)
        if chunk:
            yield chunk
    return reusable


def _sized(connection: _Connection, size: int, deadline: float, timeout: float) -> Iterator[bytes]:
    received = 0
    buffer, connection.buffer = connection.buffer, b""
    while True:
        if buffer:
            take = buffer[: size - received]
            connection.buffer = buffer[len(take) :]
            received += len(take)
            yield take
        if received >= size:
            return
        buffer = _recv(connection, deadline, timeout)
        if not buffer:
            raise TransportError(
                "truncated", f"the connection closed after {received} of {size} bytes, before the reply was complete"
            )


def _until_closed(connection: _Connection, deadline: float, timeout: float) -> Iterator[bytes]:
    buffer, connection.buffer = connection.buffer, b""
    while True:
        if buffer:
            yield buffer
        buffer = _recv(connection, deadline, timeout)
        if not buffer:
            return


def _chunked(connection: _Connection, deadline: float, timeout: float) -> Iterator[bytes]:
    buffer = connection.buffer
    received = 0

    def fill(need: int) -> bytes:
        nonlocal buffer
        while len(buffer) < need:
            data = _recv(connection, deadline, timeout)
            if not data:
                raise TransportError(
                    "truncated", f"the connection closed after {received} bytes, before the chunked reply was complete"
                )
            buffer += data
        return buffer

    while True:
        end = buffer.find(b"\r\n")
        while end < 0:
            fill(len(buffer) + 1)
            end = buffer.find(b"\r\n")
        try:
            size = int(buffer[:end].split(b";", 1)[0], 16)
        except ValueError:
            raise TransportError("truncated", "the server sent a malformed chunked reply") from None
        start = end + 2
        if size == 0:
            # Trailers (rare) end with an empty line.
            while True:
                fill(start + 2)
                end = buffer.find(b"\r\n", start)
                if end < 0:
                    fill(len(buffer) + 1)
                    continue
                line, start = buffer[start:end], end + 2
                if not line:
                    break
            connection.buffer = buffer[start:]
            return
        fill(start + size + 2)
        chunk = buffer[start : start + size]
        buffer = buffer[start + size + 2 :]
        received += size
        yield chunk


def _decoder(headers: Headers) -> Any:
    encoding = headers.get("content-encoding", "").lower()
    if encoding == "gzip":
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        return zlib.decompressobj()
    return None


def _decode(body: bytes, headers: Headers) -> bytes:
    decoder = _decoder(headers)
    return body if decoder is None else decoder.decompress(body) + decoder.flush()


pool = BlockingPool()
"""The process's pool, shared by every synchronous call."""


def _forget_inherited() -> None:
    # A forked child must not talk over its parent's sockets: it starts with an empty pool.
    pool._lock = threading.Lock()
    pool._idle = {}


os.register_at_fork(after_in_child=_forget_inherited)
