"""Google's Gemini generateContent API.

    dx.LM("gemini/gemini-2.0-flash")     # GEMINI_API_KEY or GOOGLE_API_KEY

Request to `{api_base}/v1beta/models/{model}:generateContent` with
`x-goog-api-key`: turns become `contents` with `parts` (the assistant role is
"model"), system messages become `systemInstruction`, sampling parameters go in
`generationConfig` (camelCase: maxOutputTokens, stopSequences, topP...), a
response format becomes `responseMimeType: application/json` plus
`responseJsonSchema`. Reply: `candidates[0].content.parts[].text`,
`finishReason` (STOP, MAX_TOKENS, SAFETY...), `usageMetadata`; a blocked
prompt has no candidates and a `promptFeedback.blockReason`. Errors:
`{"error": {"code", "message", "status", "details"}}`, with the wait before a
retry in a RetryInfo detail. Streamed: `:streamGenerateContent?alt=sse`, one
`GenerateContentResponse` per event, the finish reason and usage in the last.
"""

from __future__ import annotations

import json
from typing import Any

from dspex_lab.errors import LMError
from dspex_lab.lm.base import LMResponse, Message
from dspex_lab.lm.http import HTTPLM
from dspex_lab.lm.stream import StreamState
from dspex_lab.lm.tool_wire import gemini_content, gemini_tool_calls, gemini_tools
from dspex_lab.lm.usage import Usage

API_VERSION = "v1beta"
_CONFIG_NAMES = {
    "max_tokens": "maxOutputTokens",
    "stop": "stopSequences",
    "top_p": "topP",
    "top_k": "topK",
    "presence_penalty": "presencePenalty",
    "frequency_penalty": "frequencyPenalty",
    "candidate_count": "candidateCount",
}
_TOP_LEVEL = ("safetySettings", "safety_settings", "tools", "toolConfig", "cachedContent")
_BLOCKED = frozenset({"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY"})
_FINISH = {"STOP": "stop", "MAX_TOKENS": "length"}


class GeminiLM(HTTPLM):
    """A Gemini model over generateContent; see the module docstring."""

    provider = "gemini"
    env_keys = ("GEMINI_API_KEY", "GOOGLE_API_KEY")
    default_api_base = "https://generativelanguage.googleapis.com"
    supports_structured_output = True
    supports_tool_calls = True
    supports_images = True

    def url(self) -> str:
        return f"{self.api_base}/{API_VERSION}/models/{self.model_name}:generateContent"

    def auth_headers(self, key: str) -> dict[str, str]:
        return {"x-goog-api-key": key}

    def payload(self, messages: list[Message], params: dict[str, Any]) -> dict[str, Any]:
        system, contents = [], []
        names: dict[str, str] = {}
        for message in messages:
            role = message["role"]
            if role in ("system", "developer"):
                system.append({"text": str(message["content"])})
            elif role in ("user", "assistant", "tool"):
                contents.append(gemini_content(message, names))
            else:
                raise ValueError(f"the Gemini API has no {role!r} role; use user or assistant")
        body: dict[str, Any] = {"contents": contents}
        if system:
            body["systemInstruction"] = {"parts": system}
        config: dict[str, Any] = {}
        for name, value in params.items():
            if name == "response_format":
                config.update(_json_config(value))
            elif name == "stop":
                config["stopSequences"] = [value] if isinstance(value, str) else list(value)
            elif name == "tools":
                body["tools"] = gemini_tools(value)
            elif name in _TOP_LEVEL:
                body["safetySettings" if name == "safety_settings" else name] = value
            else:
                config[_CONFIG_NAMES.get(name, name)] = value
        if config:
            body["generationConfig"] = config
        return body

    def read_reply(self, data: Any) -> LMResponse:
        candidates = data.get("candidates") or []
        if not candidates:
            reason = (data.get("promptFeedback") or {}).get("blockReason")
            if reason:
                raise self.content_filtered(f"prompt blocked: {reason}")
            raise KeyError("candidates")
        candidate = candidates[0]
        finish = candidate.get("finishReason")
        if finish in _BLOCKED:
            raise self.content_filtered(f"finishReason={finish}")
        parts = (candidate.get("content") or {}).get("parts") or []
        text = "".join(part.get("text", "") for part in parts if not part.get("thought"))
        usage = data.get("usageMetadata") or {}
        completion = (usage.get("candidatesTokenCount") or 0) + (usage.get("thoughtsTokenCount") or 0)
        return LMResponse(
            text,
            Usage(usage.get("promptTokenCount") or 0, completion, calls=1),
            self.model,
            _FINISH.get(finish, finish.lower() if finish else None),
            tool_calls=gemini_tool_calls(parts),
        )

    def stream_request(self, messages: list[Message], params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        url = f"{self.api_base}/{API_VERSION}/models/{self.model_name}:streamGenerateContent?alt=sse"
        return url, self.payload(messages, params)

    def read_event(self, event: str | None, data: str, state: StreamState) -> str:
        chunk = json.loads(data)
        if "error" in chunk:
            raise LMError(f"{self.model} stopped streaming: {self.error_message(chunk)}", provider=self.provider)
        usage = chunk.get("usageMetadata") or {}
        if usage:
            state.prompt_tokens = usage.get("promptTokenCount") or state.prompt_tokens
            state.completion_tokens = (usage.get("candidatesTokenCount") or 0) + (usage.get("thoughtsTokenCount") or 0)
        candidates = chunk.get("candidates") or []
        if not candidates:
            state.blocked = (chunk.get("promptFeedback") or {}).get("blockReason") or state.blocked
            return ""
        candidate = candidates[0]
        if candidate.get("finishReason"):
            state.finish = candidate["finishReason"]
        parts = (candidate.get("content") or {}).get("parts") or []
        return "".join(part.get("text", "") for part in parts if not part.get("thought"))

    def finish_stream(self, state: StreamState) -> LMResponse:
        if state.blocked:
            raise self.content_filtered(f"prompt blocked: {state.blocked}")
        finish = state.finish
        if finish in _BLOCKED:
            raise self.content_filtered(f"finishReason={finish}")
        usage = Usage(state.prompt_tokens, state.completion_tokens, calls=1)
        return LMResponse(state.text, usage, self.model, _FINISH.get(finish or "", finish.lower() if finish else None))

    def error_message(self, data: Any) -> str | None:
        error = data["error"]
        return f"{error['message']} ({error['status']})" if error.get("status") else error["message"]

    def retry_after_in_body(self, data: Any) -> float | None:
        try:
            details = data["error"].get("details") or []
        except (KeyError, TypeError, AttributeError):
            return None
        for detail in details:
            if isinstance(detail, dict) and str(detail.get("@type", "")).endswith("RetryInfo"):
                delay = str(detail.get("retryDelay", ""))
                try:
                    return float(delay.rstrip("s"))
                except ValueError:
                    return None
        return None


def _json_config(response_format: Any) -> dict[str, Any]:
    if not isinstance(response_format, dict) or response_format.get("type") not in ("json_schema", "json_object"):
        return {}
    config: dict[str, Any] = {"responseMimeType": "application/json"}
    schema = (response_format.get("json_schema") or {}).get("schema")
    if schema:
        config["responseJsonSchema"] = schema
    return config
