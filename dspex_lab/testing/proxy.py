"""A loopback HTTP proxy: CONNECT tunnels (https) and absolute-form requests (http), with a log.

For testing that clients honour HTTPS_PROXY/HTTP_PROXY/NO_PROXY::

    with ProxyServer() as proxy, ProviderServer() as server:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        dx.LM("openai/m", api_base=server.url, api_key="k")("hi")
        assert proxy.requests()[0]["target"].startswith(server.url)

Each connection's first request decides what it is: `CONNECT host:port` opens
a tunnel (the bytes in it, TLS included, pass through untouched); a request in
absolute form (`POST http://host:port/path`) is passed to that origin with the
rest of the connection. With `auth="user:password"` set, requests without that
`Proxy-Authorization` get 407.
"""

from __future__ import annotations

import asyncio
import base64
import threading
import urllib.parse
from typing import Any


class ProxyServer:
    """The loopback proxy; a context manager serving from a background thread."""

    def __init__(self, *, auth: str | None = None) -> None:
        self.auth = auth
        self._log: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.base_events.Server | None = None
        self.port: int | None = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("the proxy is not running: use `with ProxyServer() as proxy:` first")
        return f"http://127.0.0.1:{self.port}"

    def requests(self) -> list[dict[str, Any]]:
        """What came through, oldest first: `method` ("CONNECT" or the HTTP method), `target`, `status`."""
        with self._lock:
            return list(self._log)

    def _record(self, method: str, target: str, status: int) -> None:
        with self._lock:
            self._log.append({"method": method, "target": target, "status": status})

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            writer.close()
            return
        lines = head.decode("latin-1").split("\r\n")
        try:
            method, target, _version = lines[0].split(" ", 2)
        except ValueError:
            writer.close()
            return
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if self.auth is not None:
            expected = "Basic " + base64.b64encode(self.auth.encode()).decode("ascii")
            if headers.get("proxy-authorization") != expected:
                self._record(method, target, 407)
                writer.write(b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
                writer.close()
                return
        if method == "CONNECT":
            host, _, port = target.rpartition(":")
            first = b""
        else:
            parts = urllib.parse.urlsplit(target)
            host, port = parts.hostname or "", str(parts.port or 80)
            first = head
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(host, int(port))
        except (OSError, ValueError):
            self._record(method, target, 502)
            writer.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
            writer.close()
            return
        self._record(method, target, 200)
        if method == "CONNECT":
            writer.write(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        else:
            upstream_writer.write(first)
        try:
            await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))
        except asyncio.CancelledError:  # the proxy is stopping: end quietly
            upstream_writer.close()
            writer.close()

    def start(self) -> ProxyServer:
        """Serve from a daemon thread with its own event loop; returns self."""
        if self._loop is not None:
            return self
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="loopback-proxy", daemon=True)
        thread.start()
        self._loop, self._thread = loop, thread

        async def serve() -> int:
            self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
            return self._server.sockets[0].getsockname()[1]

        self.port = asyncio.run_coroutine_threadsafe(serve(), loop).result(timeout=30)
        return self

    def stop(self) -> None:
        """Stop listening, drop every tunnel and stop the thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return

        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(shutdown(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        loop.close()
        self._loop = self._thread = None
        self.port = None

    def __enter__(self) -> ProxyServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            data = await reader.read(65_536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()
