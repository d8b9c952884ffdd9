"""Streamed LM calls: each wire format's server-sent events, over every transport, through the whole pipeline."""

from __future__ import annotations

import asyncio

import pytest

import dspex_lab as dx
from dspex_lab.lm.stream import listen

pytestmark = pytest.mark.usefixtures("each_transport")

PROMPT = "one two three four five six"
PROVIDERS = {
    "openai": ("openai/gpt-4o-mini", "/v1"),
    "anthropic": ("anthropic/claude-x", ""),
    "gemini": ("gemini/gemini-test", ""),
}


@pytest.fixture(params=sorted(PROVIDERS))
def provider(request):
    return request.param


def make_lm(server, provider, **kwargs):
    model, suffix = PROVIDERS[provider]
    kwargs.setdefault("cache", False)
    return dx.LM(model, api_base=server.url + suffix, api_key="sk-stream-test-4444", **kwargs)


def streamed(lm, prompt=PROMPT, mode="sync"):
    """(the response, the pieces of text that arrived before it, one list per LM call)."""
    calls: list[list[str]] = []

    def start():
        calls.append([])
        return calls[-1].append

    if mode == "sync":
        with listen(start):
            response = lm(prompt)
    else:

        async def go():
            with listen(start):
                return await lm.acall(prompt)

        response = asyncio.run(go())
    return response, calls


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_text_arrives_in_pieces_that_add_up_to_the_reply(server, provider, mode):
    plain = make_lm(server, provider)(PROMPT)
    response, calls = streamed(make_lm(server, provider), mode=mode)
    assert len(calls) == 1
    assert len(calls[0]) > 1
    assert "".join(calls[0]) == response.text == plain.text
    assert response.usage.prompt_tokens == plain.usage.prompt_tokens
    assert response.usage.completion_tokens == plain.usage.completion_tokens
    assert response.finish_reason == plain.finish_reason


def test_the_request_asks_for_server_sent_events(server, provider):
    streamed(make_lm(server, provider))
    request = server.requests()[-1]
    if provider == "gemini":
        assert request["path"].endswith(":streamGenerateContent")
        assert request["query"] == "alt=sse"
    else:
        assert request["body"]["stream"] is True
    if provider == "openai":
        assert request["body"]["stream_options"] == {"include_usage": True}


def test_limits_and_stop_reasons_are_read_from_the_stream(server, provider):
    response, calls = streamed(make_lm(server, provider, max_tokens=2))
    assert response.finish_reason == "length"
    assert response.usage.completion_tokens == 2
    assert "".join(calls[0]) == response.text


def test_the_cache_stores_the_final_reply_and_a_hit_arrives_in_one_piece(server, provider):
    lm = make_lm(server, provider, cache=True)
    response, _ = streamed(lm, prompt=f"{PROMPT} {provider} cached")
    again = lm(f"{PROMPT} {provider} cached")
    assert again.cache_hit
    assert again.text == response.text
    hit, calls = streamed(lm, prompt=f"{PROMPT} {provider} cached")
    assert hit.cache_hit
    assert calls == [[response.text]]


def test_an_error_before_the_stream_is_retried_like_any_call(server, provider, record_waits):
    lm = make_lm(server, provider)
    waits = record_waits(lm)
    server.inject(503)
    response, calls = streamed(lm)
    assert len(waits) == 1
    assert calls == [calls[0]]
    assert "".join(calls[0]) == response.text


def test_a_content_filter_stop_is_an_error(server, provider):
    server.inject("content_filter")
    with pytest.raises(dx.LMError, match="content filter"):
        streamed(make_lm(server, provider))
