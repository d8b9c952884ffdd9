"""The loopback server speaks each provider's documented request and reply shapes."""

from __future__ import annotations

import json

import pytest

from dspex_lab.lm.stream import SSEDecoder
from dspex_lab.testing.wire import FORMATS, Reply, WireError, route

USER = [{"role": "user", "content": "hello there"}]


def test_routes_each_provider_path_to_its_format():
    assert route("/v1/chat/completions").name == "openai"
    assert route("/chat/completions").name == "openai"
    assert route("/v1/messages").name == "anthropic"
    assert route("/v1beta/models/gemini-2.0-flash:generateContent").name == "gemini"
    assert route("/v1/embeddings") is None


def test_openai_request_keeps_roles_and_joins_text_parts():
    wire = FORMATS["openai"]
    body = {
        "model": "gpt-x",
        "messages": [
            {"role": "developer", "content": "be brief"},
            {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
        ],
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "out", "schema": {"type": "object"}},
        },
    }
    request = wire.parse("/v1/chat/completions", {"authorization": "Bearer sk-1"}, "", body)
    assert request.messages == [{"role": "system", "content": "be brief"}, {"role": "user", "content": "ab"}]
    assert request.json_mode
    assert request.json_schema == {"type": "object"}
    assert request.api_key == "sk-1"


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        ({"messages": USER}, "model: Field required"),
        ({"model": "m", "messages": []}, "at least one message"),
        ({"model": "m", "messages": [{"role": "robot", "content": "x"}]}, "unsupported role"),
        ({"model": "m", "messages": USER, "temperature": 3}, "temperature"),
        ({"model": "m", "messages": USER, "response_format": {"type": "yaml"}}, "response_format.type"),
    ],
)
def test_openai_refuses_what_the_api_refuses(body, complaint):
    with pytest.raises(WireError, match=complaint) as info:
        FORMATS["openai"].parse("/v1/chat/completions", {}, "", body)
    assert info.value.status == 400


def test_anthropic_needs_version_header_and_max_tokens_and_no_system_role():
    wire = FORMATS["anthropic"]
    version = {"anthropic-version": "2023-06-01"}
    with pytest.raises(WireError, match="anthropic-version"):
        wire.parse("/v1/messages", {}, "", {"model": "m", "max_tokens": 5, "messages": USER})
    with pytest.raises(WireError, match="max_tokens: Field required"):
        wire.parse("/v1/messages", version, "", {"model": "m", "messages": USER})
    system_message = [{"role": "system", "content": "x"}, *USER]
    with pytest.raises(WireError, match="top-level `system` parameter"):
        wire.parse("/v1/messages", version, "", {"model": "m", "max_tokens": 5, "messages": system_message})


def test_anthropic_top_level_system_and_forced_tool_become_messages_and_schema():
    body = {
        "model": "claude-x",
        "max_tokens": 10,
        "system": [{"type": "text", "text": "rules"}],
        "messages": USER,
        "tools": [{"name": "answer", "input_schema": {"type": "object"}}],
        "tool_choice": {"type": "tool", "name": "answer"},
    }
    request = FORMATS["anthropic"].parse("/v1/messages", {"anthropic-version": "2023-06-01"}, "", body)
    assert request.messages[0] == {"role": "system", "content": "rules"}
    assert request.tool_name == "answer"
    assert request.json_schema == {"type": "object"}


def test_gemini_reads_model_from_path_and_key_from_header_or_query():
    body = {
        "systemInstruction": {"parts": [{"text": "rules"}]},
        "contents": [
            {"role": "user", "parts": [{"text": "q1"}]},
            {"role": "model", "parts": [{"text": "a1"}]},
            {"role": "user", "parts": [{"text": "q2"}]},
        ],
    }
    wire = FORMATS["gemini"]
    request = wire.parse("/v1beta/models/gemini-x:generateContent", {}, "key=abc", body)
    assert request.model == "gemini-x"
    assert request.api_key == "abc"
    assert [m["role"] for m in request.messages] == ["system", "user", "assistant", "user"]
    with pytest.raises(WireError, match="contents"):
        wire.parse("/v1beta/models/gemini-x:generateContent", {}, "", {"contents": []})


def test_error_bodies_follow_each_provider():
    assert FORMATS["openai"].error(429, "slow down") == {
        "error": {"message": "slow down", "type": "requests", "param": None, "code": "rate_limit_exceeded"}
    }
    assert FORMATS["anthropic"].error(529, "busy") == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "busy"},
    }
    assert FORMATS["gemini"].error(503, "busy") == {"error": {"code": 503, "message": "busy", "status": "UNAVAILABLE"}}


STREAMED = {
    "openai": ("/v1/chat/completions", {"model": "m", "messages": USER, "stream": True}),
    "anthropic": ("/v1/messages", {"model": "m", "max_tokens": 9, "messages": USER, "stream": True}),
    "gemini": ("/v1beta/models/m:streamGenerateContent", {"contents": [{"parts": [{"text": "hello there"}]}]}),
}


@pytest.mark.parametrize("name", sorted(STREAMED))
def test_a_streamed_reply_is_server_sent_events_whose_pieces_add_up_to_the_text(name):
    path, body = STREAMED[name]
    wire = route(path)
    assert wire is FORMATS[name]
    assert wire.wants_stream(path, body)
    headers = {"anthropic-version": "2023-06-01"}
    request = wire.parse(path, headers, "alt=sse", body)
    events = SSEDecoder().feed(b"".join(wire.stream(request, Reply("one two three", "stop", 2, 3), 1)))
    assert len(events) >= 3
    pieces = []
    for _, data in events:
        if data == "[DONE]":
            continue
        chunk = json.loads(data)
        if name == "openai":
            pieces += [c["delta"].get("content") or "" for c in chunk["choices"]]
        elif name == "anthropic":
            pieces.append(chunk.get("delta", {}).get("text", ""))
        else:
            pieces += [p["text"] for c in chunk["candidates"] for p in c.get("content", {}).get("parts", [])]
    assert "".join(pieces) == "one two three"
