"""Anthropic Messages: top-level system, required max_tokens, content blocks, stop reasons, errors."""

from __future__ import annotations

import json

import pytest

import dspex_lab as dx
from dspex_lab.errors import LMError

pytestmark = pytest.mark.usefixtures("each_transport")

SCHEMA = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}
FORMAT = {"type": "json_schema", "json_schema": {"name": "outputs", "schema": SCHEMA, "strict": True}}
MESSAGES = [
    {"role": "system", "content": "rules"},
    {"role": "user", "content": "q1"},
    {"role": "assistant", "content": "a1"},
    {"role": "user", "content": "q2"},
]


def make_lm(server, **kwargs):
    return dx.LM("anthropic/claude-x", api_base=server.url, api_key="sk-ant-test-2222", cache=False, **kwargs)


def test_request_has_top_level_system_turns_and_required_max_tokens(server):
    make_lm(server)(MESSAGES, temperature=0.2, stop="END")
    request = server.requests()[-1]
    assert request["path"] == "/v1/messages"
    assert request["headers"]["x-api-key"] == "sk-ant-test-2222"
    assert request["headers"]["anthropic-version"] == "2023-06-01"
    assert request["body"] == {
        "model": "claude-x",
        "max_tokens": 4096,
        "system": "rules",
        "messages": MESSAGES[1:],
        "temperature": 0.2,
        "stop_sequences": ["END"],
    }


def test_stop_reasons_map_to_the_common_finish_reasons(server):
    assert make_lm(server)("one two three").finish_reason == "stop"
    assert make_lm(server)("one two three", max_tokens=1).finish_reason == "length"
    reply = make_lm(server)("one two three", stop=["to:"])
    assert reply.finish_reason == "stop"
    assert "to:" not in reply.text


def test_usage_comes_from_input_and_output_tokens(server):
    reply = make_lm(server)("one two three four")
    assert reply.usage.prompt_tokens == 4
    assert reply.usage.completion_tokens == len(reply.text.split())


def test_structured_output_becomes_one_forced_tool_and_its_input_is_the_reply(server):
    reply = make_lm(server)("q", response_format=FORMAT)
    body = server.requests()[-1]["body"]
    assert body["tools"][0]["name"] == "outputs"
    assert body["tools"][0]["input_schema"] == SCHEMA
    assert body["tool_choice"] == {"type": "tool", "name": "outputs"}
    assert isinstance(json.loads(reply.text)["answer"], str)
    assert reply.finish_reason == "stop"


def test_json_mode_without_a_schema_is_left_to_the_prompt(server):
    make_lm(server)("q", response_format={"type": "json_object"})
    body = server.requests()[-1]["body"]
    assert "tools" not in body
    assert "response_format" not in body


def test_a_refusal_is_a_content_filter_error(server):
    server.inject("content_filter")
    with pytest.raises(LMError, match=r"content filter.*stop_reason=refusal"):
        make_lm(server)("q")


def test_overloaded_529_is_retried(server, record_waits):
    lm = make_lm(server)
    waits = record_waits(lm)
    server.inject(529)
    assert lm("q").text
    assert len(waits) == 1


def test_error_type_and_message_are_shown(server):
    server.inject(400, message="messages: roles must alternate")
    with pytest.raises(
        LMError, match=r"HTTP 400 for anthropic/claude-x: messages: roles must alternate \(invalid_request_error\)"
    ):
        make_lm(server)("q")


def test_a_tool_message_must_name_the_call_it_answers(server):
    with pytest.raises(ValueError, match="a 'tool' message needs 'tool_call_id'"):
        make_lm(server)([{"role": "tool", "content": "x"}])
