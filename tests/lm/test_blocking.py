"""The blocking HTTP/1.1 pool that carries synchronous calls: keep-alive, framing, failures by kind."""

from __future__ import annotations

import asyncio
import gzip
import json
import threading

import pytest

from dspex_lab.lm.blocking import BlockingPool
from dspex_lab.lm.http_reply import TransportError
from dspex_lab.testing.http_server import HTTPServer, Request, Response

BODY = json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}]}).encode()
HEADERS = {"Content-Type": "application/json"}


@pytest.fixture
def pool():
    pool = BlockingPool()
    yield pool
    pool.close()


@pytest.fixture
def serve():
    """`url = serve(handler)`: an HTTP server on 127.0.0.1 answering with `handler(request)`."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    servers = []

    def start(handler):
        server = HTTPServer(handler)
        port = asyncio.run_coroutine_threadsafe(server.start(), loop).result(timeout=30)
        servers.append(server)
        return f"http://127.0.0.1:{port}/v1/chat/completions"

    yield start
    for server in servers:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(timeout=30)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=30)
    loop.close()


def test_posts_and_returns_status_case_insensitive_headers_and_body(server, pool):
    reply = pool.post(server.url + "/v1/chat/completions", HEADERS, BODY, 10)
    assert reply.status == 200
    assert reply.headers["content-type"] == reply.headers["Content-Type"] == "application/json"
    assert json.loads(reply.body)["object"] == "chat.completion"


def test_sequential_requests_share_one_kept_alive_connection(server, pool):
    for _ in range(3):
        assert pool.post(server.url + "/v1/chat/completions", HEADERS, BODY, 10).status == 200
    assert pool.idle() == 1
    assert server.open_connections == 1


def test_a_connection_the_server_closed_while_idle_is_replaced_without_an_error(server, pool):
    pool.post(server.url + "/v1/chat/completions", HEADERS, BODY, 10)
    server.close_connections()
    assert pool.post(server.url + "/v1/chat/completions", HEADERS, BODY, 10).status == 200
    assert server.served == 2


def test_threads_share_the_pool(server, pool):
    replies = []

    def call():
        replies.append(pool.post(server.url + "/v1/chat/completions", HEADERS, BODY, 10).status)

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert replies == [200] * 8
    assert 1 <= pool.idle() <= 8


def test_chunked_and_gzip_replies_are_decoded(serve, pool):
    text = json.dumps({"answer": "four " * 200}).encode()
    packed = gzip.compress(text)
    url = serve(lambda request: Response(200, headers={"Content-Encoding": "gzip"}, chunks=[packed[:20], packed[20:]]))
    reply = pool.post(url, HEADERS, BODY, 10)
    assert reply.body == text
    assert pool.post(url, HEADERS, BODY, 10).body == text  # the connection was left at a clean boundary


def test_a_request_reaches_the_server_whole(serve, pool):
    seen: list[Request] = []

    def handler(request):
        seen.append(request)
        return Response(200, b"{}")

    url = serve(handler)
    pool.post(url + "?alt=sse", {"X-Test": "yes"}, BODY, 10)
    assert seen[0].method == "POST"
    assert seen[0].path == "/v1/chat/completions"
    assert seen[0].query == "alt=sse"
    assert seen[0].headers["x-test"] == "yes"
    assert seen[0].headers["host"].startswith("127.0.0.1:")
    assert seen[0].body == BODY


def test_a_slow_reply_is_a_timeout(server, pool):
    server.inject("slow", delay=30)
    with pytest.raises(TransportError, match=r"no complete reply within 0\.2 s") as info:
        pool.post(server.url + "/v1/chat/completions", HEADERS, BODY, 0.2)
    assert info.value.kind == "timeout"
    assert pool.idle() == 0


def test_a_cut_off_reply_says_how_much_arrived(server, pool):
    server.inject("truncated")
    with pytest.raises(TransportError, match=r"closed after \d+ of \d+ bytes") as info:
        pool.post(server.url + "/v1/chat/completions", HEADERS, BODY, 10)
    assert info.value.kind == "truncated"


def test_a_dropped_connection_is_a_connection_error(server, pool):
    server.inject("disconnect")
    with pytest.raises(TransportError) as info:
        pool.post(server.url + "/v1/chat/completions", HEADERS, BODY, 10)
    assert info.value.kind == "connection"


def test_a_closed_port_is_a_connection_error(pool, serve):
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(TransportError, match=r"cannot connect to 127\.0\.0\.1") as info:
        pool.post(f"http://127.0.0.1:{port}/v1/chat/completions", HEADERS, BODY, 10)
    assert info.value.kind == "connection"


def test_a_stream_left_early_closes_its_connection(serve, pool):
    url = serve(lambda request: Response(200, chunks=[b"one ", b"two ", b"three"], interval=0.01))
    status, _, chunks = pool.stream(url, HEADERS, BODY, 10)
    assert status == 200
    assert next(chunks) == b"one "
    chunks.close()
    assert pool.idle() == 0
    status, _, chunks = pool.stream(url, HEADERS, BODY, 10)
    assert b"".join(chunks) == b"one two three"
    assert pool.idle() == 1


def test_a_forked_child_opens_its_own_connections(server):
    import os

    from dspex_lab.lm.blocking import pool as shared

    shared.post(server.url + "/v1/chat/completions", HEADERS, BODY, 10)
    assert shared.idle() >= 1
    child = os.fork()
    if child == 0:
        os._exit(0 if shared.idle() == 0 else 1)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert shared.idle() >= 1
