"""A user's own client as the transport: `http_client=` an httpx client, or any `Transport` subclass."""

from __future__ import annotations

import asyncio

import httpx
import pytest

import dspex_lab as dx
from dspex_lab.lm.transport import DefaultTransport, Transport


def test_requests_go_through_the_users_httpx_client_with_the_pipeline_around_it(server, record_waits):
    seen = []
    client = httpx.Client(event_hooks={"request": [lambda request: seen.append(request.url.path)]})
    lm = dx.LM("openai/m", api_base=server.url + "/v1", api_key="sk-httpx-test-6666", http_client=client)
    waits = record_waits(lm)
    server.inject(503)
    reply = lm("a question for httpx")
    assert seen == ["/v1/chat/completions"] * 2  # the 503, then the retry
    assert len(waits) == 1
    assert lm("a question for httpx").cache_hit
    assert len(seen) == 2
    assert asyncio.run(lm.acall("a question for httpx")).text == reply.text
    client.close()


def test_an_async_httpx_client_serves_sync_calls_and_any_event_loop(server):
    seen = []

    async def hook(request):
        seen.append(request.url.path)

    client = httpx.AsyncClient(event_hooks={"request": [hook]})
    lm = dx.LM("openai/m", api_base=server.url + "/v1", api_key="sk-httpx-test-6666", http_client=client, cache=False)
    first = lm("q")
    assert asyncio.run(lm.acall("q")).text == first.text
    assert asyncio.run(lm.acall("q")).text == first.text  # a second loop: the client's connections still work
    assert len(seen) == 3


def test_any_transport_subclass_can_carry_the_requests(server):
    class Counting(DefaultTransport):
        def __init__(self):
            self.posts = 0

        def post_sync(self, url, headers, body, timeout, route=None, max_bytes=None):
            self.posts += 1
            return super().post_sync(url, headers, body, timeout, route, max_bytes)

    counting = Counting()
    lm = dx.LM("openai/m", api_base=server.url + "/v1", api_key="k", http_client=counting, cache=False)
    assert lm.transport is counting
    lm("q")
    assert counting.posts == 1


def test_anything_else_is_refused_with_the_fix():
    with pytest.raises(TypeError, match=r"http_client must be an httpx\.Client or httpx\.AsyncClient"):
        dx.LM("openai/m", api_key="k", http_client=object())
    assert isinstance(dx.LM("openai/m", api_key="k").transport, Transport)
