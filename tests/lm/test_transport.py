"""The transport seam: one session per event loop, failures named by kind."""

from __future__ import annotations

import asyncio
import json
import socket

import pytest

from dspex_lab.lm import transport
from dspex_lab.loop import run_sync

BODY = json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}]}).encode()
HEADERS = {"Content-Type": "application/json"}


def test_posts_and_returns_status_case_insensitive_headers_and_body(server):
    async def go():
        return await transport.post(server.url + "/v1/chat/completions", HEADERS, BODY, 10)

    reply = asyncio.run(go())
    assert reply.status == 200
    assert reply.headers["content-type"] == reply.headers["Content-Type"] == "application/json"
    assert json.loads(reply.body)["object"] == "chat.completion"


def test_each_event_loop_gets_its_own_session_closed_with_the_loop(server):
    async def use():
        await transport.post(server.url + "/v1/chat/completions", HEADERS, BODY, 10)
        return transport.session()

    first = asyncio.run(use())
    second = asyncio.run(use())
    assert first is not second
    assert first.closed
    assert second.closed


def test_the_private_loop_keeps_one_session_across_sync_calls(server):
    async def use():
        await transport.post(server.url + "/v1/chat/completions", HEADERS, BODY, 10)
        return transport.session()

    first = run_sync(use())
    assert run_sync(use()) is first
    assert not first.closed


def test_a_slow_reply_is_a_timeout(server):
    server.inject("slow", delay=30)

    async def go():
        await transport.post(server.url + "/v1/chat/completions", HEADERS, BODY, 0.2)

    with pytest.raises(transport.TransportError, match=r"no complete reply within 0\.2 s") as info:
        asyncio.run(go())
    assert info.value.kind == "timeout"


def test_a_cut_off_reply_says_how_much_arrived(server):
    server.inject("truncated")

    async def go():
        await transport.post(server.url + "/v1/chat/completions", HEADERS, BODY, 10)

    with pytest.raises(transport.TransportError, match=r"closed after \d+ of \d+ bytes") as info:
        asyncio.run(go())
    assert info.value.kind == "truncated"


def test_a_closed_port_is_a_connection_error():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    async def go():
        await transport.post(f"http://127.0.0.1:{port}/v1/chat/completions", HEADERS, BODY, 10)

    with pytest.raises(transport.TransportError) as info:
        asyncio.run(go())
    assert info.value.kind == "connection"


def test_a_dropped_connection_is_a_connection_error(server):
    server.inject("disconnect")

    async def go():
        await transport.post(server.url + "/v1/chat/completions", HEADERS, BODY, 10)

    with pytest.raises(transport.TransportError) as info:
        asyncio.run(go())
    assert info.value.kind == "connection"
