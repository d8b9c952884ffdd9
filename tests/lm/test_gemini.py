"""Gemini generateContent: contents/parts, systemInstruction, generationConfig, finish reasons, errors."""

from __future__ import annotations

import json

import pytest

import dspex_lab as dx
from dspex_lab.errors import LMError
from dspex_lab.lm.gemini import GeminiLM

pytestmark = pytest.mark.usefixtures("each_transport")

SCHEMA = {"type": "object", "properties": {"answer": {"type": "number"}}, "required": ["answer"]}
FORMAT = {"type": "json_schema", "json_schema": {"name": "outputs", "schema": SCHEMA, "strict": True}}


def make_lm(server, **kwargs):
    return dx.LM("gemini/gemini-test", api_base=server.url, api_key="gemini-test-key-3333", cache=False, **kwargs)


def test_request_has_contents_parts_system_instruction_and_generation_config(server):
    messages = [
        {"role": "system", "content": "rules"},
        {"role": "user", "content": "q1"},
        {"role": "assistant", "content": "a1"},
        {"role": "user", "content": "q2"},
    ]
    make_lm(server)(messages, temperature=0.1, max_tokens=30, stop="END", top_p=0.9)
    request = server.requests()[-1]
    assert request["path"] == "/v1beta/models/gemini-test:generateContent"
    assert request["headers"]["x-goog-api-key"] == "gemini-test-key-3333"
    assert request["body"] == {
        "contents": [
            {"role": "user", "parts": [{"text": "q1"}]},
            {"role": "model", "parts": [{"text": "a1"}]},
            {"role": "user", "parts": [{"text": "q2"}]},
        ],
        "systemInstruction": {"parts": [{"text": "rules"}]},
        "generationConfig": {"temperature": 0.1, "maxOutputTokens": 30, "stopSequences": ["END"], "topP": 0.9},
    }


def test_finish_reasons_and_usage_are_read(server):
    reply = make_lm(server)("one two three", max_tokens=1)
    assert reply.finish_reason == "length"
    assert reply.usage.prompt_tokens == 3
    assert reply.usage.completion_tokens == 1
    assert make_lm(server)("one").finish_reason == "stop"


def test_structured_output_asks_for_json_with_the_schema(server):
    reply = make_lm(server)("q", response_format=FORMAT)
    config = server.requests()[-1]["body"]["generationConfig"]
    assert config == {"responseMimeType": "application/json", "responseJsonSchema": SCHEMA}
    assert isinstance(json.loads(reply.text)["answer"], float)


def test_a_safety_stop_is_a_content_filter_error(server):
    server.inject("content_filter")
    with pytest.raises(LMError, match=r"content filter.*finishReason=SAFETY"):
        make_lm(server)("q")


def test_a_blocked_prompt_is_a_content_filter_error():
    lm = GeminiLM("gemini/m", api_key="k")
    with pytest.raises(LMError, match="prompt blocked: SAFETY"):
        lm.read_reply({"promptFeedback": {"blockReason": "SAFETY"}})


def test_thought_parts_are_left_out_of_the_text():
    lm = GeminiLM("gemini/m", api_key="k")
    reply = lm.read_reply(
        {
            "candidates": [
                {
                    "content": {"parts": [{"text": "thinking...", "thought": True}, {"text": "42"}]},
                    "finishReason": "STOP",
                }
            ],
            "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 1, "thoughtsTokenCount": 9},
        }
    )
    assert reply.text == "42"
    assert reply.usage.completion_tokens == 10


def test_the_wait_in_a_retry_info_detail_is_honoured(server, record_waits):
    lm = make_lm(server)
    waits = record_waits(lm)
    server.inject(429, retry_after=2)
    assert lm("q").text
    assert waits == [2.0]
    body = {
        "error": {"code": 429, "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s"}]}
    }
    assert lm.retry_after_in_body(body) == 7.0


def test_the_key_may_come_from_either_environment_variable(server, monkeypatch):
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    monkeypatch.setenv("GOOGLE_API_KEY", "google-env-key-4444")
    dx.LM("gemini/gemini-test", api_base=server.url, cache=False)("q")
    assert server.requests()[-1]["headers"]["x-goog-api-key"] == "google-env-key-4444"


def test_error_status_and_message_are_shown(server):
    server.inject(400, message="API key not valid. Please pass a valid API key.")
    with pytest.raises(LMError, match=r"HTTP 400 for gemini/gemini-test: API key not valid.*\(INVALID_ARGUMENT\)"):
        make_lm(server)("q")
