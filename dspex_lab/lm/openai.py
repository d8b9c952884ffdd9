"""OpenAI Chat Completions, and every server that speaks it (vLLM, Ollama, llama.cpp, LM Studio...).

    dx.LM("openai/gpt-4o-mini")                                       # OPENAI_API_KEY
    dx.LM("openai/llama3", api_base="http://localhost:11434/v1")      # Ollama, no key needed

Request: `{"model", "messages", ...sampling params}` to `{api_base}/chat/completions`
with `Authorization: Bearer <key>`. Reply: `choices[0].message.content`,
`choices[0].finish_reason`, `usage.prompt_tokens` / `usage.completion_tokens`.
Errors: `{"error": {"message", "type", "code"}}`. Streamed (`"stream": true`, with
`stream_options.include_usage`): `chat.completion.chunk` events with `choices[0].delta.content`,
usage in the last one, then `data: [DONE]`.
"""

from __future__ import annotations

import json
import re
from typing import Any

from dspex_lab.errors import LMError
from dspex_lab.lm.base import LMResponse, Message
from dspex_lab.lm.http import HTTPLM
from dspex_lab.lm.stream import StreamState
from dspex_lab.lm.tool_wire import openai_tool_calls
from dspex_lab.lm.usage import Usage

# Reasoning models take max_completion_tokens instead of max_tokens.
_REASONING = re.compile(r"^(o\d|gpt-5)")


class OpenAILM(HTTPLM):
    """An OpenAI-compatible chat model; see the module docstring."""

    provider = "openai"
    env_keys = ("OPENAI_API_KEY",)
    default_api_base = "https://api.openai.com/v1"
    supports_structured_output = True
    supports_tool_calls = True
    supports_images = True

    def url(self) -> str:
        return self.api_base + "/chat/completions"

    def auth_headers(self, key: str) -> dict[str, str]:
        return {"Authorization": "Bearer " + key}

    def payload(self, messages: list[Message], params: dict[str, Any]) -> dict[str, Any]:
        n = params.get("n")
        if n not in (None, 1):
            raise ValueError(f"n={n} is not supported: make {n} calls with different rollout_id= instead")
        body = {"model": self.model_name, "messages": messages, **params}
        if "max_tokens" in body and _REASONING.match(self.model_name):
            body["max_completion_tokens"] = body.pop("max_tokens")
        return body

    def read_reply(self, data: Any) -> LMResponse:
        choice = data["choices"][0]
        message = choice["message"]
        finish = choice.get("finish_reason")
        if finish == "content_filter":
            raise self.content_filtered("finish_reason=content_filter")
        text = message.get("content")
        if text is None:
            refusal = message.get("refusal")
            if refusal:
                raise LMError(f"{self.model} refused to answer: {refusal}", provider=self.provider)
            text = ""
        usage = data.get("usage") or {}
        calls = openai_tool_calls(message)
        return LMResponse(
            text,
            Usage(usage.get("prompt_tokens") or 0, usage.get("completion_tokens") or 0, calls=1),
            self.model,
            "stop" if finish == "tool_calls" else finish,
            tool_calls=calls,
        )

    def stream_request(self, messages: list[Message], params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        body = {**self.payload(messages, params), "stream": True, "stream_options": {"include_usage": True}}
        return self.url(), body

    def read_event(self, event: str | None, data: str, state: StreamState) -> str:
        if data == "[DONE]":
            return ""
        chunk = json.loads(data)
        if "error" in chunk:
            raise LMError(f"{self.model} stopped streaming: {self.error_message(chunk)}", provider=self.provider)
        usage = chunk.get("usage")
        if usage:
            state.prompt_tokens = usage.get("prompt_tokens") or 0
            state.completion_tokens = usage.get("completion_tokens") or 0
        choices = chunk.get("choices") or []
        if not choices:
            return ""
        choice = choices[0]
        if choice.get("finish_reason"):
            state.finish = choice["finish_reason"]
        return (choice.get("delta") or {}).get("content") or ""

    def finish_stream(self, state: StreamState) -> LMResponse:
        if state.finish == "content_filter":
            raise self.content_filtered("finish_reason=content_filter")
        usage = Usage(state.prompt_tokens, state.completion_tokens, calls=1)
        return LMResponse(state.text, usage, self.model, state.finish)

    def error_message(self, data: Any) -> str | None:
        error = data["error"]
        if isinstance(error, str):
            return error
        message = error["message"]
        code = error.get("code") or error.get("type")
        return f"{message} ({code})" if code else message
