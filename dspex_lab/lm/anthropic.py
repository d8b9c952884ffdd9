"""Anthropic's Messages API.

    dx.LM("anthropic/claude-3-5-haiku-latest")     # ANTHROPIC_API_KEY

Request to `{api_base}/v1/messages` with `x-api-key` and `anthropic-version`:
system messages go to the top-level `system`, the rest stay user/assistant
turns, `max_tokens` is required (default 4096 here), `stop` becomes
`stop_sequences`. A JSON-schema `response_format` becomes one forced tool whose
input is the answer. Reply: content blocks (`text`, `tool_use`), `stop_reason`
(end_turn, max_tokens, stop_sequence, tool_use, refusal), `usage.input_tokens` /
`usage.output_tokens`. Errors: `{"type": "error", "error": {"type", "message"}}`;
529 means overloaded and is retried. Streamed (`"stream": true`): `message_start` (input
tokens), `content_block_delta` (`text_delta`, or `input_json_delta` for the forced tool),
`message_delta` (stop reason, output tokens), `message_stop`.
"""

from __future__ import annotations

import json
from typing import Any

from dspex_lab.errors import LMError
from dspex_lab.lm.base import LMResponse, Message
from dspex_lab.lm.http import HTTPLM
from dspex_lab.lm.stream import StreamState
from dspex_lab.lm.tool_wire import anthropic_tool_calls, anthropic_tools, anthropic_turn, merge_turns
from dspex_lab.lm.usage import Usage

API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096
_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "tool_use": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
}


class AnthropicLM(HTTPLM):
    """A Claude model over the Messages API; see the module docstring."""

    provider = "anthropic"
    env_keys = ("ANTHROPIC_API_KEY",)
    default_api_base = "https://api.anthropic.com"
    static_headers = {"anthropic-version": API_VERSION}
    supports_structured_output = True
    supports_tool_calls = True
    supports_images = True
    answer_tool = "outputs"
    """The forced tool that carries a JSON-schema response format (its `tool_use` is the answer text)."""

    def url(self) -> str:
        return self.api_base + "/v1/messages"

    def auth_headers(self, key: str) -> dict[str, str]:
        return {"x-api-key": key}

    def payload(self, messages: list[Message], params: dict[str, Any]) -> dict[str, Any]:
        system, turns = [], []
        for message in messages:
            role = message["role"]
            if role in ("system", "developer"):
                system.append(message["content"])
            elif role in ("user", "assistant", "tool"):
                turns.append(anthropic_turn(message))
            else:
                raise ValueError(f"the Anthropic Messages API has no {role!r} role; use user or assistant")
        body: dict[str, Any] = {"model": self.model_name, "max_tokens": params.get("max_tokens") or DEFAULT_MAX_TOKENS}
        if system:
            body["system"] = "\n\n".join(str(part) for part in system)
        body["messages"] = merge_turns(turns)
        for name, value in params.items():
            if name == "max_tokens":
                continue
            if name == "stop":
                body["stop_sequences"] = [value] if isinstance(value, str) else list(value)
            elif name == "response_format":
                forced = _forced_tool(value)
                if forced:
                    body["tools"] = [*body.get("tools", []), *forced["tools"]]
                    body["tool_choice"] = forced["tool_choice"]
            elif name == "tools":
                body["tools"] = [*anthropic_tools(value), *body.get("tools", [])]
            else:
                body[name] = value
        return body

    def read_reply(self, data: Any) -> LMResponse:
        stop = data.get("stop_reason")
        if stop == "refusal":
            raise self.content_filtered("stop_reason=refusal")
        texts = []
        for block in data["content"]:
            if block["type"] == "text":
                texts.append(block["text"])
            elif block["type"] == "tool_use" and block.get("name") == self.answer_tool:
                texts.append(json.dumps(block["input"], ensure_ascii=False))
        usage = data["usage"]
        prompt = (
            usage["input_tokens"]
            + (usage.get("cache_creation_input_tokens") or 0)
            + (usage.get("cache_read_input_tokens") or 0)
        )
        return LMResponse(
            "".join(texts),
            Usage(prompt, usage["output_tokens"], calls=1),
            self.model,
            _FINISH.get(stop, stop),
            tool_calls=anthropic_tool_calls(data["content"], self.answer_tool),
        )

    def read_event(self, event: str | None, data: str, state: StreamState) -> str:
        message = json.loads(data)
        kind = message["type"]
        if kind == "content_block_delta":
            delta = message["delta"]
            return delta.get("text") or delta.get("partial_json") or ""
        if kind == "message_start":
            usage = message["message"].get("usage") or {}
            state.prompt_tokens = (
                (usage.get("input_tokens") or 0)
                + (usage.get("cache_creation_input_tokens") or 0)
                + (usage.get("cache_read_input_tokens") or 0)
            )
        elif kind == "message_delta":
            stop = message.get("delta", {}).get("stop_reason")
            if stop:
                state.finish = stop
            state.completion_tokens = (message.get("usage") or {}).get("output_tokens") or state.completion_tokens
        elif kind == "error":
            error = message["error"]
            retryable = error.get("type") in ("overloaded_error", "api_error")
            raise LMError(
                f"{self.model} stopped streaming: {self.error_message(message)}",
                provider=self.provider,
                retryable=retryable and not state.texts,
            )
        return ""

    def finish_stream(self, state: StreamState) -> LMResponse:
        if state.finish == "refusal":
            raise self.content_filtered("stop_reason=refusal")
        usage = Usage(state.prompt_tokens, state.completion_tokens, calls=1)
        return LMResponse(state.text, usage, self.model, _FINISH.get(state.finish or "", state.finish))

    def error_message(self, data: Any) -> str | None:
        error = data["error"]
        return f"{error['message']} ({error['type']})" if error.get("type") else error["message"]


def _forced_tool(response_format: Any) -> dict[str, Any]:
    """A JSON-schema response format as one tool the model must call.

    JSON mode without a schema has no Anthropic counterpart and is left to the prompt.
    """
    if not isinstance(response_format, dict) or response_format.get("type") != "json_schema":
        return {}
    spec = response_format.get("json_schema") or {}
    name = AnthropicLM.answer_tool
    tool = {
        "name": name,
        "description": "Give the answer by calling this tool with the output fields.",
        "input_schema": spec.get("schema") or {"type": "object"},
    }
    return {"tools": [tool], "tool_choice": {"type": "tool", "name": name}}
