"""A loopback server that speaks the OpenAI, Anthropic and Gemini wire formats, with faults on demand.

In a test or a notebook it serves from a background thread::

    from dspex_lab.testing import ProviderServer

    with ProviderServer() as server:
        lm = dx.LM("openai/loopback", api_base=server.url, api_key="sk-test")
        server.inject(429, count=2, retry_after=1)   # the next two requests get 429
        lm([{"role": "user", "content": "hi"}])      # retried, then answered

For a benchmark, run it as its own process so its CPU does not count as the
client's; it prints its URL on the first line of stdout::

    python -m dspex_lab.testing.provider_server --port 0 --latency 0.05

or from Python, with the same methods over a control endpoint::

    with ProviderServer.spawn(latency=0.05, responder="my_pkg.oracle:answer") as server:
        server.inject("503", count=1)

Every form serves the three APIs on one port, with `api_base=server.url` for any
provider: `POST /v1/chat/completions` (also `/chat/completions`), `POST /v1/messages`,
and `POST /v1beta/models/{model}:generateContent`. Replies come from a responder
(see `dspex_lab.testing.responders`; the default is deterministic), honour
`stop` sequences and max-token limits the way each provider reports them, and
arrive after `latency` seconds. Fault kinds are listed in `dspex_lab.testing.faults`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import re
import signal
import ssl
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

from dspex_lab.testing.faults import Fault, FaultPlan
from dspex_lab.testing.http_server import HTTPServer, Request, Response
from dspex_lab.testing.responders import Responder, default_responder, load_responder
from dspex_lab.testing.wire import ProviderRequest, Reply, ToolUse, WireError, WireFormat, count_tokens, route

CONTROL = "/_loopback"
_WORD_END = re.compile(r"\S+")


def _mask(key: str) -> str:
    return key[:3] + "*" * 8 + key[-4:] if len(key) > 8 else "*" * len(key)


def _json(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def _limit(request: ProviderRequest) -> int | None:
    params = request.params
    for name in ("max_completion_tokens", "max_tokens", "maxOutputTokens"):
        if params.get(name) is not None:
            return int(params[name])
    return None


def _stops(request: ProviderRequest) -> list[str]:
    params = request.params
    stop = params.get("stop", params.get("stop_sequences", params.get("stopSequences")))
    if stop is None:
        return []
    return [stop] if isinstance(stop, str) else [s for s in stop if isinstance(s, str) and s]


def shape_reply(request: ProviderRequest, answer: str | ToolUse) -> Reply:
    """Apply the request's stop sequences and token limit to the answer's text, as a provider would."""
    if isinstance(answer, ToolUse):
        calls = [
            {"id": f"call_{i}_{c['name']}", "name": c["name"], "args": c.get("args") or {}}
            for i, c in enumerate(answer.calls)
        ]
        words = count_tokens(answer.text) + count_tokens(json.dumps(answer.calls))
        return Reply(answer.text, "stop", max(1, count_tokens(request.prompt_text)), words, None, calls)
    text = answer
    finish, stopped_at = "stop", None
    cuts = [(text.find(stop), stop) for stop in _stops(request) if stop in text]
    if cuts:
        index, stopped_at = min(cuts)
        text, finish = text[:index], "stop_sequence"
    limit = _limit(request)
    if limit is not None and count_tokens(text) > limit:
        ends = [m.end() for m in _WORD_END.finditer(text)]
        text, finish, stopped_at = text[: ends[limit - 1]], "length", None
    return Reply(text, finish, max(1, count_tokens(request.prompt_text)), count_tokens(text), stopped_at)


class ProviderServer:
    """The loopback provider server; a context manager serving from a background thread.

    `responder` maps each `ProviderRequest` to the reply text (default:
    `default_responder`); `latency` delays every reply (seconds); a streamed
    reply sends one piece every `stream_interval` seconds; with `api_key`
    set, requests carrying another key get the provider's authentication error.
    The last `record` requests are kept for `requests()`. With `ssl_context` (a
    server-side `ssl.SSLContext`) it serves https, and `url` starts with https://.
    """

    def __init__(
        self,
        *,
        responder: Responder | str | None = None,
        latency: float = 0.0,
        api_key: str | None = None,
        record: int = 1000,
        ssl_context: ssl.SSLContext | None = None,
        stream_interval: float = 0.0,
    ) -> None:
        if isinstance(responder, str):
            responder = load_responder(responder)
        self.responder: Responder = responder or default_responder
        self.latency = latency
        self.api_key = api_key
        self.faults = FaultPlan()
        self.clock: Callable[[], float] = time.monotonic
        self._outage: tuple[float, int] | None = None  # (until, status) on self.clock
        self.served = 0
        self._records: deque[dict[str, Any]] = deque(maxlen=record)
        self.stream_interval = stream_interval
        self.streams_cut = 0
        self._cut = threading.Event()
        self._http = HTTPServer(self.handle, on_cut=self._stream_cut)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self.port: int | None = None
        self.ssl_context = ssl_context

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("the server is not running: use `with ProviderServer() as server:` first")
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    # -- faults and records: the same methods on the in-process and the spawned server

    def inject(self, kind: str | int, count: int = 1, **options: Any) -> None:
        """The next `count` provider requests get fault `kind` (options: retry_after, delay, message)."""
        self.faults.inject(kind, count, **options)

    def every(self, kind: str | int, n: int, **options: Any) -> None:
        """Every `n`-th provider request gets fault `kind`, until `clear_faults()`."""
        self.faults.every(kind, n, **options)

    def clear_faults(self) -> None:
        self.faults.clear()
        self._outage = None

    def outage(self, seconds: float, status: int = 503) -> None:
        """From now on, for `seconds` on `self.clock`, every provider request gets HTTP `status`."""
        Fault.make(str(status))
        self._outage = (self.clock() + seconds, status)

    def requests(self) -> list[dict[str, Any]]:
        """The recorded provider requests, oldest first: at (server clock), tokens (of the reply), provider, path,
        headers, body, fault."""
        return list(self._records)

    @property
    def open_connections(self) -> int:
        """Client connections open right now."""
        return len(self._http._connections)

    def close_connections(self) -> None:
        """Close every client connection, as a server does with idle keep-alive ones."""
        loop = self._loop
        if loop is None:
            return

        async def close() -> None:
            self._http.close_connections()

        asyncio.run_coroutine_threadsafe(close(), loop).result(timeout=30)

    def _stream_cut(self) -> None:
        self.streams_cut += 1
        self._cut.set()

    def wait_for_cut_stream(self, timeout: float = 10.0) -> bool:
        """Wait until a client has closed a connection in the middle of a streamed reply; whether one did."""
        return self._cut.wait(timeout)

    def reset(self) -> None:
        """Forget recorded requests and faults."""
        self.faults.clear()
        self._records.clear()
        self.served = 0

    # -- the request handler

    def handle(self, request: Request) -> Response:
        if request.path.startswith(CONTROL):
            return self._control(request)
        wire = route(request.path)
        if wire is None:
            message = (
                f"no provider API at {request.path}; this server answers POST /v1/chat/completions, "
                "/v1/messages and /v1beta/models/{model}:generateContent"
            )
            return Response(404, _json({"error": {"message": message}}))
        if request.method != "POST":
            return Response(405, _json(wire.error(405, f"{request.method} is not allowed; use POST")))
        self.served += 1
        serial = self.served
        try:
            body = json.loads(request.body)
            if not isinstance(body, dict):
                raise ValueError
        except ValueError:
            return Response(400, _json(wire.error(400, "We could not parse the JSON body of your request.")))
        fault = self.faults.next_fault()
        outage = self._outage
        if outage is not None and fault is None:
            if self.clock() < outage[0]:
                fault = Fault(str(outage[1]))
            else:
                self._outage = None
        self._records.append(
            {
                "at": self.clock(),
                "tokens": 0,
                "provider": wire.name,
                "path": request.path,
                "query": request.query,
                "headers": dict(request.headers),
                "body": body,
                "fault": fault.kind if fault else None,
            }
        )
        entry = self._records[-1]
        parsed: ProviderRequest | None = None
        refusal: WireError | None = None
        try:
            parsed = wire.parse(request.path, request.headers, request.query, body)
            self._check_key(wire, parsed)
        except WireError as exc:
            refusal = exc
        if fault is not None and (fault.kind.isdigit() or fault.kind == "disconnect"):
            return self._fault_reply(wire, parsed, fault)
        delay = self.latency + (fault.delay if fault is not None else 0.0)
        if refusal is not None:
            return Response(refusal.status, _json(wire.error(refusal.status, refusal.message)), delay=delay)
        assert parsed is not None
        if fault is not None and fault.kind == "echo":
            return Response(200, _json({"echo": {"path": request.path, "headers": dict(request.headers)}}), delay=delay)
        if fault is not None and fault.kind == "echo_html":
            lines = "".join(f"<li>{name}: {value}</li>" for name, value in request.headers.items())
            page = f"<html><body><h1>Proxy</h1><ul>{lines}</ul></body></html>".encode()
            return Response(200, page, content_type="text/html", delay=delay)
        if fault is not None and fault.kind == "content_filter":
            reply = Reply("", "content_filter", max(1, count_tokens(parsed.prompt_text)), 0)
        elif fault is not None and fault.kind == "huge":
            reply = Reply("x" * fault.size, "stop", max(1, count_tokens(parsed.prompt_text)), 1)
        elif fault is not None and fault.kind == "length":
            full = shape_reply(parsed, self.responder(parsed))
            words = full.text.split(" ")
            text = " ".join(words[: max(1, len(words) // 2)])
            reply = Reply(text, "length", full.prompt_tokens, count_tokens(text))
        else:
            reply = shape_reply(parsed, self.responder(parsed))
        entry["tokens"] = reply.prompt_tokens + reply.completion_tokens
        if wire.wants_stream(request.path, body):
            return Response(
                200,
                content_type="text/event-stream",
                delay=delay,
                chunks=wire.stream(parsed, reply, serial),
                interval=self.stream_interval,
            )
        payload = _json(wire.reply(parsed, reply, serial))
        if fault is not None and fault.kind == "malformed":
            return Response(200, payload[: len(payload) // 2], delay=delay)
        if fault is not None and fault.kind == "truncated":
            return Response(200, payload, delay=delay, truncate_at=len(payload) // 2)
        return Response(200, payload, delay=delay)

    def _check_key(self, wire: WireFormat, request: ProviderRequest) -> None:
        if self.api_key is None or request.api_key == self.api_key:
            return
        shown = _mask(request.api_key or "")
        if wire.name == "gemini":
            raise WireError(400, "API key not valid. Please pass a valid API key.")
        if wire.name == "anthropic":
            raise WireError(401, "invalid x-api-key")
        raise WireError(401, f"Incorrect API key provided: {shown}. You can find your API key in your account.")

    def _fault_reply(self, wire: WireFormat, request: ProviderRequest | None, fault: Fault) -> Response:
        """The reply to a status fault (the provider's error body) or a dropped connection."""
        if fault.kind == "disconnect":
            return Response(drop=True, delay=self.latency + fault.delay)
        status = int(fault.kind)
        payload = wire.error(status, fault.message or wire.default_error_message(status, request))
        headers = {}
        if fault.retry_after is not None:
            headers["Retry-After"] = f"{fault.retry_after:g}"
            if wire.name == "gemini":
                payload["error"]["details"] = [
                    {
                        "@type": "type.googleapis.com/google.rpc.RetryInfo",
                        "retryDelay": f"{fault.retry_after:g}s",
                    }
                ]
        return Response(status, _json(payload), headers=headers, delay=self.latency + fault.delay)

    def _control(self, request: Request) -> Response:
        """The control endpoint the spawned form is driven through."""
        action = request.path[len(CONTROL) :]
        try:
            args = json.loads(request.body) if request.body else {}
            if action == "/faults" and request.method == "POST":
                args = dict(args)
                kind = args.pop("kind")
                if "every" in args:
                    self.every(kind, args.pop("every"), **args)
                else:
                    self.inject(kind, args.pop("count", 1), **args)
                return Response(200, _json({"pending": self.faults.pending()}))
            if action == "/outage" and request.method == "POST":
                self.outage(float(args["seconds"]), int(args.get("status", 503)))
                return Response(200, _json({"ok": True}))
            if action == "/faults" and request.method == "DELETE":
                self.clear_faults()
                return Response(200, _json({"pending": 0}))
            if action == "/requests":
                return Response(200, _json({"requests": self.requests()}))
            if action == "/reset" and request.method == "POST":
                self.reset()
                return Response(200, _json({"ok": True}))
            if action == "/health":
                return Response(200, _json({"ok": True, "served": self.served}))
        except (KeyError, TypeError, ValueError) as exc:
            return Response(400, _json({"error": {"message": f"bad control request: {exc}"}}))
        return Response(404, _json({"error": {"message": f"no control action {action!r}"}}))

    # -- the in-process (thread) form

    def start(self) -> ProviderServer:
        """Serve from a daemon thread with its own event loop; returns self."""
        if self._loop is not None:
            return self
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="loopback-provider", daemon=True)
        thread.start()
        self._loop, self._thread = loop, thread
        started = self._http.start(ssl=self.ssl_context)
        self.port = asyncio.run_coroutine_threadsafe(started, loop).result(timeout=30)
        return self

    def stop(self) -> None:
        """Close every connection and stop the thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        asyncio.run_coroutine_threadsafe(self._http.stop(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        loop.close()
        self._loop = self._thread = None
        self.port = None

    def __enter__(self) -> ProviderServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- the subprocess form

    @staticmethod
    @contextlib.contextmanager
    def spawn(
        *,
        latency: float = 0.0,
        responder: str | None = None,
        api_key: str | None = None,
    ) -> Iterator[RemoteProviderServer]:
        """Run the server in its own Python process for the block; `responder` is a dotted path."""
        command = [sys.executable, "-m", "dspex_lab.testing.provider_server", "--port", "0"]
        command += ["--latency", str(latency)]
        if responder is not None:
            command += ["--responder", responder]
        if api_key is not None:
            command += ["--api-key", api_key]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        try:
            assert process.stdout is not None
            line = process.stdout.readline().strip()
            if not line.startswith("http://"):
                raise RuntimeError(f"the loopback provider server did not start (exit code {process.wait()})")
            yield RemoteProviderServer(line)
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stdout is not None:
                process.stdout.close()


class RemoteProviderServer:
    """A spawned loopback server, driven through its control endpoint."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.port = int(url.rsplit(":", 1)[1])

    def _call(self, method: str, action: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            body = json.dumps(payload).encode() if payload is not None else None
            connection.request(method, CONTROL + action, body=body, headers={"Content-Type": "application/json"})
            reply = connection.getresponse()
            data = json.loads(reply.read())
        finally:
            connection.close()
        if reply.status != 200:
            raise ValueError(data["error"]["message"])
        return data

    def inject(self, kind: str | int, count: int = 1, **options: Any) -> None:
        Fault.make(kind, **options)
        self._call("POST", "/faults", {"kind": str(kind), "count": count, **options})

    def every(self, kind: str | int, n: int, **options: Any) -> None:
        Fault.make(kind, **options)
        self._call("POST", "/faults", {"kind": str(kind), "every": n, **options})

    def clear_faults(self) -> None:
        self._call("DELETE", "/faults")

    def outage(self, seconds: float, status: int = 503) -> None:
        self._call("POST", "/outage", {"seconds": seconds, "status": status})

    def requests(self) -> list[dict[str, Any]]:
        return self._call("GET", "/requests")["requests"]

    def reset(self) -> None:
        self._call("POST", "/reset", {})

    @property
    def served(self) -> int:
        return self._call("GET", "/health")["served"]


def _parse_rule(text: str) -> tuple[str, int]:
    kind, _, n = text.partition(":")
    if not n.isdigit():
        raise argparse.ArgumentTypeError(f"--every takes KIND:N (for example 503:10), got {text!r}")
    return kind, int(n)


async def _serve(server: ProviderServer, host: str, port: int) -> None:
    http_server = server._http
    bound = await http_server.start(host, port)
    print(f"http://{host}:{bound}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await http_server.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m dspex_lab.testing.provider_server",
        description="Loopback server speaking the OpenAI, Anthropic and Gemini wire formats.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (printed on stdout)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each reply")
    parser.add_argument("--responder", help="dotted path 'package.module:function' of a responder")
    parser.add_argument("--api-key", help="reject requests that carry another key")
    parser.add_argument(
        "--every", type=_parse_rule, action="append", default=[], help="KIND:N, a fault on every N-th request"
    )
    args = parser.parse_args(argv)
    server = ProviderServer(responder=args.responder, latency=args.latency, api_key=args.api_key)
    for kind, n in args.every:
        server.every(kind, n)
    asyncio.run(_serve(server, args.host, args.port))


if __name__ == "__main__":
    main()
