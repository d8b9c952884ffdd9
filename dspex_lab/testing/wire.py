"""The three provider wire formats as the loopback server speaks them.

Each format parses a request body into a `ProviderRequest` (messages in the
OpenAI role/content form, whatever the provider's own shape), rejects what the
real provider rejects with a 400 in that provider's error shape, and renders
replies and errors the way the provider documents them:

- OpenAI Chat Completions: `POST /v1/chat/completions`, `choices[0].message.content`,
  `finish_reason`, `usage.prompt_tokens`, errors as `{"error": {"message", "type", "code"}}`.
- Anthropic Messages: `POST /v1/messages`, top-level `system`, required `max_tokens`,
  content blocks, `stop_reason`, errors as `{"type": "error", "error": {"type", "message"}}`.
- Gemini generateContent: `POST /v1beta/models/{model}:generateContent`, `contents`/`parts`,
  `systemInstruction`, `generationConfig`, errors as `{"error": {"code", "message", "status"}}`.

Each also streams, as server-sent events, the way the provider does: OpenAI with
`"stream": true` (`chat.completion.chunk` deltas, usage last with
`stream_options.include_usage`, then `data: [DONE]`), Anthropic with `"stream": true`
(`message_start`, `content_block_delta`, `message_delta`, `message_stop`), Gemini at
`:streamGenerateContent?alt=sse` (a `GenerateContentResponse` per piece).
Function calling is spoken in each format too (OpenAI `tools` / `tool_calls` / `tool`
messages, Anthropic `tools` / `tool_use` / `tool_result`, Gemini
`functionDeclarations` / `functionCall` / `functionResponse`): a responder sees the
tools and the earlier calls and results in one shape, and may answer with `ToolUse`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar


class WireError(Exception):
    """A request the provider would refuse: rendered as that provider's error reply."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message
        super().__init__(message)


@dataclass(slots=True)
class ProviderRequest:
    """A provider request as a responder sees it.

    `messages` are role/content dicts (roles system, user, assistant, tool) whatever
    the wire format: an assistant turn that called tools has `tool_calls`
    (`[{"id", "name", "args"}]`), a tool result has `tool_call_id` and `name`.
    `tools` are the offered functions (`{"name", "description", "parameters"}`);
    `json_schema` is the requested output schema, if any; `json_mode` is True when
    a JSON reply was asked for (with or without a schema).
    """

    provider: str
    model: str
    messages: list[dict[str, Any]]
    params: dict[str, Any] = field(default_factory=dict)
    json_mode: bool = False
    json_schema: dict[str, Any] | None = None
    api_key: str | None = None
    tool_name: str | None = None
    tools: list[dict[str, Any]] = field(default_factory=list)

    @property
    def tool_results(self) -> list[dict[str, Any]]:
        """The tool results sent back since the last user message, in order."""
        found: list[dict[str, Any]] = []
        for message in reversed(self.messages):
            if message["role"] == "user":
                break
            if message["role"] == "tool":
                found.insert(0, message)
        return found

    @property
    def last_user_message(self) -> str:
        for message in reversed(self.messages):
            if message["role"] == "user":
                return message["content"]
        return ""

    @property
    def prompt_text(self) -> str:
        return "\n".join(str(message["content"]) for message in self.messages)


@dataclass(slots=True)
class ToolUse:
    """A responder's answer that calls tools: `calls` are `{"name", "args"}` (ids are added)."""

    calls: list[dict[str, Any]]
    text: str = ""


@dataclass(slots=True)
class Reply:
    """What the model 'said': the text, why it stopped, the token counts, and any tool calls."""

    text: str
    finish: str  # "stop", "length", "stop_sequence" or "content_filter"
    prompt_tokens: int
    completion_tokens: int
    stop_sequence: str | None = None
    tool_calls: list[dict[str, Any]] | None = None


def count_tokens(text: str) -> int:
    """The loopback server's token count: whitespace-separated words."""
    return len(text.split())


_PIECES = re.compile(r"\S+\s*|\s+")


def text_pieces(text: str) -> list[str]:
    """`text` cut into the pieces a stream sends (a word and the space after it); they join back to `text`."""
    return _PIECES.findall(text)


def _sse(data: dict[str, Any], event: str | None = None) -> bytes:
    """One server-sent event."""
    line = f"event: {event}\n" if event else ""
    return (line + "data: " + json.dumps(data, separators=(",", ":")) + "\n\n").encode()


IMAGE_TEXT = "[image]"
"""How an image part reads in `ProviderRequest.messages` (the raw body keeps the image itself)."""


def _text_of(content: Any, where: str) -> str:
    """Text of a message content: a string or a list of text and image parts/blocks, in any of the three shapes."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            if isinstance(part, dict) and "text" in part:
                texts.append(str(part["text"]))
            elif isinstance(part, dict) and _is_image(part):
                texts.append(IMAGE_TEXT)
            else:
                raise WireError(400, f"{where}: each content part must be an object with a 'text' field or an image")
        return "".join(texts)
    raise WireError(400, f"{where}: content must be a string or a list of text parts")


def _is_image(part: dict[str, Any]) -> bool:
    """An OpenAI `image_url` part, an Anthropic `image` block, or a Gemini `inlineData`/`fileData` part."""
    if part.get("type") == "image_url":
        return isinstance((part.get("image_url") or {}).get("url"), str)
    if part.get("type") == "image":
        source = part.get("source") or {}
        return (source.get("type") == "base64" and "data" in source and "media_type" in source) or (
            source.get("type") == "url" and "url" in source
        )
    inline = part.get("inlineData") or part.get("fileData")
    return isinstance(inline, dict) and "mimeType" in inline and ("data" in inline or "fileUri" in inline)


def _require(body: dict[str, Any], name: str, kind: type | tuple[type, ...], what: str) -> Any:
    if name not in body:
        raise WireError(400, f"{name}: Field required")
    value = body[name]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise WireError(400, f"{name}: must be {what}")
    return value


def _number_in(body: dict[str, Any], name: str, low: float, high: float) -> None:
    value = body.get(name)
    if value is None:
        return
    if not isinstance(value, int | float) or isinstance(value, bool) or not low <= value <= high:
        raise WireError(400, f"{name}: must be a number between {low} and {high}")


def _positive_int(body: dict[str, Any], name: str) -> None:
    value = body.get(name)
    if value is None:
        return
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise WireError(400, f"{name}: must be a positive integer")


class WireFormat:
    """One provider's request parsing and reply rendering."""

    name: ClassVar[str]
    retry_after_header: ClassVar[str] = "retry-after"

    def parse(self, path: str, headers: dict[str, str], query: str, body: dict[str, Any]) -> ProviderRequest:
        raise NotImplementedError

    def reply(self, request: ProviderRequest, reply: Reply, serial: int) -> dict[str, Any]:
        raise NotImplementedError

    def error(self, status: int, message: str) -> dict[str, Any]:
        raise NotImplementedError

    def wants_stream(self, path: str, body: dict[str, Any]) -> bool:
        """True when the request asks for the reply as server-sent events."""
        return body.get("stream") is True

    def stream(self, request: ProviderRequest, reply: Reply, serial: int) -> list[bytes]:
        """The reply as the provider streams it: server-sent events, one piece of text each."""
        raise NotImplementedError

    def default_error_message(self, status: int, request: ProviderRequest | None) -> str:
        model = request.model if request else "the model"
        return {
            400: "Invalid request.",
            401: "Invalid API key.",
            403: "The API key does not have permission to use this resource.",
            404: f"The model `{model}` does not exist or you do not have access to it.",
            429: f"Rate limit reached for {model}. Please try again later.",
            500: "The server had an error while processing your request. Sorry about that!",
            502: "Bad gateway.",
            503: "The server is overloaded or not ready yet.",
            504: "Gateway timeout.",
            529: "Overloaded.",
        }.get(status, "Error.")


def _openai_tool(tool: Any, where: str) -> dict[str, Any]:
    function = tool.get("function") if isinstance(tool, dict) and tool.get("type") == "function" else None
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        raise WireError(400, f"{where}: must be {{'type': 'function', 'function': {{'name': ..., ...}}}}")
    return {
        "name": function["name"],
        "description": function.get("description", ""),
        "parameters": function.get("parameters") or {},
    }


def _openai_calls(calls: Any, where: str, names: dict[str, str]) -> list[dict[str, Any]]:
    found = []
    for i, call in enumerate(calls if isinstance(calls, list) else [None]):
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not isinstance(call.get("id"), str):
            raise WireError(400, f"{where}[{i}]: must have an 'id' and a 'function' with 'name' and 'arguments'")
        try:
            args = json.loads(function.get("arguments") or "{}")
        except ValueError:
            raise WireError(400, f"{where}[{i}].function.arguments: must be a JSON string") from None
        names[call["id"]] = function.get("name", "")
        found.append({"id": call["id"], "name": function.get("name", ""), "args": args})
    return found


_OPENAI_ERROR_TYPES = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "unsupported_country_region_territory"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
}


class OpenAIWire(WireFormat):
    name = "openai"

    def parse(self, path: str, headers: dict[str, str], query: str, body: dict[str, Any]) -> ProviderRequest:
        model = _require(body, "model", str, "a string")
        raw = _require(body, "messages", list, "an array of messages")
        if not raw:
            raise WireError(400, "messages: must contain at least one message")
        messages: list[dict[str, Any]] = []
        names: dict[str, str] = {}
        for i, message in enumerate(raw):
            if not isinstance(message, dict):
                raise WireError(400, f"messages[{i}]: must be an object")
            role = message.get("role")
            if role not in ("system", "developer", "user", "assistant", "tool"):
                raise WireError(400, f"messages[{i}].role: unsupported role {role!r}")
            content = _text_of(message.get("content") or "", f"messages[{i}].content")
            entry: dict[str, Any] = {"role": "system" if role == "developer" else role, "content": content}
            if role == "assistant" and message.get("tool_calls"):
                entry["tool_calls"] = _openai_calls(message["tool_calls"], f"messages[{i}].tool_calls", names)
            if role == "tool":
                call = message.get("tool_call_id")
                if call not in names:
                    raise WireError(400, f"messages[{i}].tool_call_id: no earlier tool call has id {call!r}")
                entry.update(tool_call_id=call, name=names[call])
            messages.append(entry)
        tools = [_openai_tool(tool, f"tools[{i}]") for i, tool in enumerate(body.get("tools") or [])]
        _number_in(body, "temperature", 0, 2)
        _number_in(body, "top_p", 0, 1)
        _positive_int(body, "max_tokens")
        _positive_int(body, "max_completion_tokens")
        _positive_int(body, "n")
        params = {k: v for k, v in body.items() if k not in ("model", "messages")}
        json_mode, schema = False, None
        response_format = body.get("response_format")
        if response_format is not None:
            kind = response_format.get("type") if isinstance(response_format, dict) else None
            if kind == "json_schema":
                spec = response_format.get("json_schema")
                if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
                    raise WireError(400, "response_format.json_schema: must be an object with a 'name'")
                json_mode, schema = True, spec.get("schema") or {}
            elif kind == "json_object":
                json_mode = True
            elif kind != "text":
                raise WireError(400, "response_format.type: must be one of 'text', 'json_object', 'json_schema'")
        auth = headers.get("authorization", "")
        api_key = auth[7:] if auth.lower().startswith("bearer ") else None
        return ProviderRequest(self.name, model, messages, params, json_mode, schema, api_key, tools=tools)

    def reply(self, request: ProviderRequest, reply: Reply, serial: int) -> dict[str, Any]:
        finish = {"stop_sequence": "stop"}.get(reply.finish, reply.finish)
        content = None if reply.finish == "content_filter" and not reply.text else reply.text
        message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": None}
        if reply.tool_calls:
            finish = "tool_calls"
            message["content"] = reply.text or None
            message["tool_calls"] = [
                {
                    "id": call["id"],
                    "type": "function",
                    "function": {"name": call["name"], "arguments": json.dumps(call["args"])},
                }
                for call in reply.tool_calls
            ]
        return {
            "id": f"chatcmpl-loopback{serial}",
            "object": "chat.completion",
            "created": 1_700_000_000 + serial,
            "model": request.model,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": finish,
                }
            ],
            "usage": {
                "prompt_tokens": reply.prompt_tokens,
                "completion_tokens": reply.completion_tokens,
                "total_tokens": reply.prompt_tokens + reply.completion_tokens,
            },
            "system_fingerprint": "fp_loopback",
        }

    def stream(self, request: ProviderRequest, reply: Reply, serial: int) -> list[bytes]:
        finish = {"stop_sequence": "stop"}.get(reply.finish, reply.finish)
        head = {
            "id": f"chatcmpl-loopback{serial}",
            "object": "chat.completion.chunk",
            "created": 1_700_000_000 + serial,
            "model": request.model,
        }

        def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
            return _sse({**head, "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]})

        events = [chunk({"role": "assistant", "content": ""})]
        events += [chunk({"content": piece}) for piece in text_pieces(reply.text)]
        events.append(chunk({}, finish))
        if (request.params.get("stream_options") or {}).get("include_usage"):
            usage = {
                "prompt_tokens": reply.prompt_tokens,
                "completion_tokens": reply.completion_tokens,
                "total_tokens": reply.prompt_tokens + reply.completion_tokens,
            }
            events.append(_sse({**head, "choices": [], "usage": usage}))
        events.append(b"data: [DONE]\n\n")
        return events

    def error(self, status: int, message: str) -> dict[str, Any]:
        kind, code = _OPENAI_ERROR_TYPES.get(status, ("server_error", None))
        return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def _anthropic_messages(role: str, content: Any, where: str) -> list[dict[str, Any]]:
    """One Anthropic turn as messages: text, tool calls on an assistant turn, tool results as tool messages."""
    if not isinstance(content, list):
        return [{"role": role, "content": _text_of(content, where)}]
    texts, calls, results = [], [], []
    for j, block in enumerate(content):
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            texts.append(str(block.get("text", "")))
        elif kind == "image" and role == "user" and _is_image(block):
            texts.append(IMAGE_TEXT)
        elif kind == "tool_use" and role == "assistant":
            calls.append({"id": block.get("id"), "name": block.get("name"), "args": block.get("input") or {}})
        elif kind == "tool_result" and role == "user":
            results.append(
                {
                    "role": "tool",
                    "tool_call_id": block.get("tool_use_id"),
                    "content": _text_of(block.get("content"), where),
                }
            )
        else:
            raise WireError(400, f"{where}.{j}.type: unexpected block {kind!r} in a {role} turn")
    messages: list[dict[str, Any]] = list(results)
    if texts or calls or not results:
        message: dict[str, Any] = {"role": role, "content": "".join(texts)}
        if calls:
            message["tool_calls"] = calls
        messages.append(message)
    return messages


_ANTHROPIC_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


class AnthropicWire(WireFormat):
    name = "anthropic"

    def parse(self, path: str, headers: dict[str, str], query: str, body: dict[str, Any]) -> ProviderRequest:
        if "anthropic-version" not in headers:
            raise WireError(400, "anthropic-version: header is required")
        model = _require(body, "model", str, "a string")
        _require(body, "max_tokens", int, "an integer")
        _positive_int(body, "max_tokens")
        raw = _require(body, "messages", list, "an array of messages")
        if not raw:
            raise WireError(400, "messages: at least one message is required")
        messages = []
        system = body.get("system")
        if system is not None:
            messages.append({"role": "system", "content": _text_of(system, "system")})
        for i, message in enumerate(raw):
            role = message.get("role") if isinstance(message, dict) else None
            if role not in ("user", "assistant"):
                raise WireError(
                    400,
                    f'messages.{i}.role: Unexpected role "{role}". The Messages API accepts a top-level '
                    '`system` parameter, not "system" as an input message role.'
                    if role == "system"
                    else f"messages.{i}.role: Input should be 'user' or 'assistant'",
                )
            messages.extend(_anthropic_messages(role, message.get("content"), f"messages.{i}.content"))
        _number_in(body, "temperature", 0, 1)
        _number_in(body, "top_p", 0, 1)
        stop = body.get("stop_sequences")
        if stop is not None and (not isinstance(stop, list) or not all(isinstance(s, str) for s in stop)):
            raise WireError(400, "stop_sequences: must be an array of strings")
        params = {k: v for k, v in body.items() if k not in ("model", "messages", "system")}
        json_mode, schema, tool_name = False, None, None
        tool_choice = body.get("tool_choice")
        if isinstance(tool_choice, dict) and tool_choice.get("type") == "tool":
            tool_name = tool_choice.get("name")
            tools = {tool.get("name"): tool for tool in body.get("tools") or [] if isinstance(tool, dict)}
            if tool_name not in tools:
                raise WireError(400, f"tool_choice.name: no tool named {tool_name!r} in tools")
            json_mode, schema = True, tools[tool_name].get("input_schema") or {}
        offered = [
            {"name": t.get("name"), "description": t.get("description", ""), "parameters": t.get("input_schema") or {}}
            for t in body.get("tools") or []
            if isinstance(t, dict) and t.get("name") != tool_name
        ]
        return ProviderRequest(
            self.name, model, messages, params, json_mode, schema, headers.get("x-api-key"), tool_name, offered
        )

    def reply(self, request: ProviderRequest, reply: Reply, serial: int) -> dict[str, Any]:
        stop_reason = {
            "stop": "end_turn",
            "length": "max_tokens",
            "stop_sequence": "stop_sequence",
            "content_filter": "refusal",
        }[reply.finish]
        if reply.tool_calls:
            content = [{"type": "text", "text": reply.text}] if reply.text else []
            content += [
                {"type": "tool_use", "id": call["id"], "name": call["name"], "input": call["args"]}
                for call in reply.tool_calls
            ]
            stop_reason = "tool_use"
        elif request.tool_name and reply.finish == "stop":
            content = [
                {
                    "type": "tool_use",
                    "id": f"toolu_loopback{serial}",
                    "name": request.tool_name,
                    "input": json.loads(reply.text),
                }
            ]
            stop_reason = "tool_use"
        else:
            content = [{"type": "text", "text": reply.text}] if reply.text else []
        return {
            "id": f"msg_loopback{serial}",
            "type": "message",
            "role": "assistant",
            "model": request.model,
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": reply.stop_sequence,
            "usage": {"input_tokens": reply.prompt_tokens, "output_tokens": reply.completion_tokens},
        }

    def stream(self, request: ProviderRequest, reply: Reply, serial: int) -> list[bytes]:
        whole = self.reply(request, reply, serial)
        message = {**whole, "content": [], "stop_reason": None, "stop_sequence": None}
        message["usage"] = {"input_tokens": reply.prompt_tokens, "output_tokens": 1}
        events = [_sse({"type": "message_start", "message": message}, "message_start")]
        for index, block in enumerate(whole["content"]):
            if block["type"] == "tool_use":
                start = {**block, "input": {}}
                pieces = text_pieces(json.dumps(block["input"]))
                deltas = [{"type": "input_json_delta", "partial_json": piece} for piece in pieces]
            else:
                start = {"type": "text", "text": ""}
                deltas = [{"type": "text_delta", "text": piece} for piece in text_pieces(block["text"])]
            events.append(
                _sse({"type": "content_block_start", "index": index, "content_block": start}, "content_block_start")
            )
            events += [
                _sse({"type": "content_block_delta", "index": index, "delta": delta}, "content_block_delta")
                for delta in deltas
            ]
            events.append(_sse({"type": "content_block_stop", "index": index}, "content_block_stop"))
        delta = {"stop_reason": whole["stop_reason"], "stop_sequence": whole["stop_sequence"]}
        usage = {"output_tokens": reply.completion_tokens}
        events.append(_sse({"type": "message_delta", "delta": delta, "usage": usage}, "message_delta"))
        events.append(_sse({"type": "message_stop"}, "message_stop"))
        return events

    def error(self, status: int, message: str) -> dict[str, Any]:
        kind = _ANTHROPIC_ERROR_TYPES.get(status, "api_error")
        return {"type": "error", "error": {"type": kind, "message": message}}


_GEMINI_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

_GEMINI_PATH = re.compile(r"^/v1(?:beta)?/models/([^/:]+):(?:stream)?[gG]enerateContent$")


class GeminiWire(WireFormat):
    name = "gemini"

    def parse(self, path: str, headers: dict[str, str], query: str, body: dict[str, Any]) -> ProviderRequest:
        match = _GEMINI_PATH.match(path)
        if match is None:
            raise WireError(404, f"no such method: {path}")
        model = match.group(1)
        raw = _require(body, "contents", list, "an array of contents")
        if not raw:
            raise WireError(400, "* GenerateContentRequest.contents: contents is not specified")
        messages = []
        system = body.get("systemInstruction")
        if system is not None:
            messages.append({"role": "system", "content": self._parts(system, "systemInstruction")})
        for i, content in enumerate(raw):
            role = content.get("role", "user") if isinstance(content, dict) else None
            if role not in ("user", "model"):
                raise WireError(400, f"* GenerateContentRequest.contents[{i}].role: must be 'user' or 'model'")
            messages.extend(self._messages(content, role, f"contents[{i}]", len(messages)))
        config = body.get("generationConfig") or {}
        if not isinstance(config, dict):
            raise WireError(400, "generationConfig: must be an object")
        _number_in(config, "temperature", 0, 2)
        _positive_int(config, "maxOutputTokens")
        json_mode = config.get("responseMimeType") == "application/json"
        schema = config.get("responseJsonSchema") or config.get("responseSchema")
        if schema is not None and not json_mode:
            raise WireError(400, "generationConfig.responseMimeType must be application/json with a schema")
        api_key = headers.get("x-goog-api-key")
        if api_key is None:
            for pair in query.split("&"):
                name, _, value = pair.partition("=")
                if name == "key":
                    api_key = value
        tools = [
            {"name": d.get("name"), "description": d.get("description", ""), "parameters": d.get("parameters") or {}}
            for tool in body.get("tools") or []
            for d in (tool.get("functionDeclarations") or [] if isinstance(tool, dict) else [])
        ]
        return ProviderRequest(self.name, model, messages, dict(config), json_mode, schema, api_key, tools=tools)

    def _messages(self, content: Any, role: str, where: str, offset: int) -> list[dict[str, Any]]:
        """One Gemini content as messages: text, `functionCall` parts, `functionResponse` parts."""
        parts = content.get("parts") if isinstance(content, dict) else None
        if isinstance(parts, list) and any(
            isinstance(p, dict) and ("functionCall" in p or "functionResponse" in p) for p in parts
        ):
            texts = [str(p["text"]) for p in parts if "text" in p]
            calls = [p["functionCall"] for p in parts if "functionCall" in p]
            responses = [p["functionResponse"] for p in parts if "functionResponse" in p]
            found: list[dict[str, Any]] = []
            for k, response in enumerate(responses):
                name = response.get("name", "")
                result = response.get("response") or {}
                text = result.get("result", result) if isinstance(result, dict) else result
                found.append(
                    {"role": "tool", "tool_call_id": f"{offset}-{k}-{name}", "name": name, "content": str(text)}
                )
            if texts or calls:
                message: dict[str, Any] = {
                    "role": "assistant" if role == "model" else "user",
                    "content": "".join(texts),
                }
                if calls:
                    message["tool_calls"] = [
                        {"id": f"{offset}-{k}-{c.get('name')}", "name": c.get("name"), "args": c.get("args") or {}}
                        for k, c in enumerate(calls)
                    ]
                found.append(message)
            return found
        text = self._parts(content, where)
        return [{"role": "assistant" if role == "model" else "user", "content": text}]

    @staticmethod
    def _parts(content: Any, where: str) -> str:
        parts = content.get("parts") if isinstance(content, dict) else None
        if not isinstance(parts, list) or not parts:
            raise WireError(400, f"* GenerateContentRequest.{where}.parts: must be a non-empty array")
        return _text_of(parts, f"{where}.parts")

    def reply(self, request: ProviderRequest, reply: Reply, serial: int) -> dict[str, Any]:
        finish = {"stop": "STOP", "stop_sequence": "STOP", "length": "MAX_TOKENS", "content_filter": "SAFETY"}
        candidate: dict[str, Any] = {"finishReason": finish[reply.finish], "index": 0}
        if reply.finish == "content_filter":
            candidate["safetyRatings"] = [
                {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": True}
            ]
        parts: list[dict[str, Any]] = [{"text": reply.text}] if reply.text else []
        for call in reply.tool_calls or []:
            parts.append({"functionCall": {"name": call["name"], "args": call["args"]}})
        if parts:
            candidate["content"] = {"parts": parts, "role": "model"}
        return {
            "candidates": [candidate],
            "usageMetadata": {
                "promptTokenCount": reply.prompt_tokens,
                "candidatesTokenCount": reply.completion_tokens,
                "totalTokenCount": reply.prompt_tokens + reply.completion_tokens,
            },
            "modelVersion": request.model,
            "responseId": f"loopback{serial}",
        }

    def wants_stream(self, path: str, body: dict[str, Any]) -> bool:
        return path.endswith(":streamGenerateContent")

    def stream(self, request: ProviderRequest, reply: Reply, serial: int) -> list[bytes]:
        whole = self.reply(request, reply, serial)
        pieces = text_pieces(reply.text) or [""]
        events = []
        for index, piece in enumerate(pieces):
            candidate: dict[str, Any] = {"index": 0}
            if piece:
                candidate["content"] = {"parts": [{"text": piece}], "role": "model"}
            chunk: dict[str, Any] = {"candidates": [candidate], "modelVersion": request.model}
            if index == len(pieces) - 1:
                candidate.update({k: v for k, v in whole["candidates"][0].items() if k != "content"})
                chunk["usageMetadata"] = whole["usageMetadata"]
            else:
                chunk["usageMetadata"] = {"promptTokenCount": reply.prompt_tokens}
            events.append(_sse(chunk))
        return events

    def error(self, status: int, message: str) -> dict[str, Any]:
        return {"error": {"code": status, "message": message, "status": _GEMINI_STATUS.get(status, "UNKNOWN")}}


FORMATS: dict[str, WireFormat] = {wire.name: wire for wire in (OpenAIWire(), AnthropicWire(), GeminiWire())}


def route(path: str) -> WireFormat | None:
    """The wire format served at `path`, or None."""
    if path in ("/v1/chat/completions", "/chat/completions"):
        return FORMATS["openai"]
    if path == "/v1/messages":
        return FORMATS["anthropic"]
    if path.endswith((":generateContent", ":streamGenerateContent")):
        return FORMATS["gemini"]
    return None
