"""OpenAI Chat Completions: the request and reply shapes as documented."""

from __future__ import annotations

import pytest

import dspex_lab as dx
from dspex_lab.errors import LMError

pytestmark = pytest.mark.usefixtures("each_transport")

SCHEMA = {"type": "object", "properties": {"answer": {"type": "integer"}}, "required": ["answer"]}
FORMAT = {"type": "json_schema", "json_schema": {"name": "outputs", "schema": SCHEMA, "strict": True}}


def make_lm(server, model="openai/gpt-4o-mini", **kwargs):
    return dx.LM(model, api_base=server.url + "/v1", api_key="sk-openai-test-1111", cache=False, **kwargs)


def test_request_is_model_messages_and_sampling_params_with_a_bearer_key(server):
    messages = [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]
    make_lm(server, temperature=0.3)(messages, max_tokens=10, stop=["\n\n"])
    request = server.requests()[-1]
    assert request["path"] == "/v1/chat/completions"
    assert request["headers"]["authorization"] == "Bearer sk-openai-test-1111"
    assert request["headers"]["content-type"] == "application/json"
    assert request["body"] == {
        "model": "gpt-4o-mini",
        "messages": messages,
        "temperature": 0.3,
        "max_tokens": 10,
        "stop": ["\n\n"],
    }


def test_reply_text_finish_reason_and_usage_are_read(server):
    reply = make_lm(server)("one two three", max_tokens=2)
    assert reply.finish_reason == "length"
    assert reply.usage.prompt_tokens == 3
    assert reply.usage.completion_tokens == 2
    assert reply.usage.cost == pytest.approx((3 * 0.15 + 2 * 0.60) / 1e6)


def test_structured_output_sends_the_json_schema_response_format(server):
    reply = make_lm(server)("q", response_format=FORMAT)
    assert server.requests()[-1]["body"]["response_format"] == FORMAT
    assert isinstance(__import__("json").loads(reply.text)["answer"], int)
    assert dx.LM("openai/m", api_key="k").supports_structured_output


def test_reasoning_models_get_max_completion_tokens(server):
    make_lm(server, model="openai/o3-mini")("q", max_tokens=50)
    body = server.requests()[-1]["body"]
    assert body["max_completion_tokens"] == 50
    assert "max_tokens" not in body


def test_content_filter_stop_is_an_error_not_a_reply(server):
    server.inject("content_filter")
    with pytest.raises(LMError, match=r"content filter.*finish_reason=content_filter"):
        make_lm(server)("q")


def test_several_completions_per_call_are_refused(server):
    with pytest.raises(ValueError, match="rollout_id"):
        make_lm(server)("q", n=3)
    assert server.served == 0


def test_error_body_message_and_code_are_shown(server):
    server.inject(429, message="Rate limit reached for gpt-4o-mini", retry_after=0)
    lm = make_lm(server, num_retries=0)
    with pytest.raises(
        LMError, match=r"HTTP 429 for openai/gpt-4o-mini: Rate limit reached for gpt-4o-mini \(rate_limit_exceeded\)"
    ):
        lm("q")
