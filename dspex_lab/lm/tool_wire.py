"""Native function calling in the three providers' wire formats.

Inside dspex_lab, tools and tool turns have OpenAI's shape, whatever the provider:

- the `tools=` parameter: `[{"type": "function", "function": {"name", "description", "parameters"}}]`;
- an assistant turn that called tools: `{"role": "assistant", "content": "...",
  "tool_calls": [{"id", "type": "function", "function": {"name", "arguments": "<json>"}}]}`;
- a tool's result: `{"role": "tool", "tool_call_id": "...", "content": "..."}`.

A reply's calls come back as `LMResponse.tool_calls`: `[{"id", "name", "args"}]`.
Images travel as OpenAI `image_url` content parts and become Anthropic `image`
blocks and Gemini `inlineData` / `fileData` parts here too.
These functions translate both ways for Anthropic (`tools` with `input_schema`,
`tool_use` / `tool_result` blocks) and Gemini (`functionDeclarations`,
`functionCall` / `functionResponse` parts); OpenAI's own shape passes through.
"""

from __future__ import annotations

import json
import mimetypes
from typing import Any

Message = dict[str, Any]
ToolCall = dict[str, Any]


def _function(tool: Any) -> dict[str, Any]:
    """The `{"name", "description", "parameters"}` of an OpenAI-shaped tool."""
    if not isinstance(tool, dict) or not isinstance(tool.get("function"), dict):
        raise ValueError(
            f"a tool must look like {{'type': 'function', 'function': {{'name': ..., 'parameters': ...}}}} "
            f"(dx.Tool(fn).spec() builds one), got {tool!r}"[:300]
        )
    return tool["function"]


def _arguments(text: Any) -> dict[str, Any]:
    if isinstance(text, dict):
        return text
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return {"_raw": text}
    return value if isinstance(value, dict) else {"_raw": value}


def _answered_call(message: Message) -> str:
    call = message.get("tool_call_id")
    if not call:
        raise ValueError(
            "a 'tool' message needs 'tool_call_id': the id of the assistant's tool call it answers "
            "(tool_turn(call, result) builds one)"
        )
    return str(call)


def call_id(index: int, name: str) -> str:
    """An id for a call whose provider gave none (Gemini): stable within the reply."""
    return f"call_{index}_{name}"


# --- OpenAI ----------------------------------------------------------------------------------------


def openai_tool_calls(message: dict[str, Any]) -> list[ToolCall] | None:
    """The calls in an OpenAI reply message, or None."""
    calls = message.get("tool_calls")
    if not calls:
        return None
    found = []
    for index, call in enumerate(calls):
        function = call.get("function") or {}
        name = function.get("name", "")
        found.append(
            {"id": call.get("id") or call_id(index, name), "name": name, "args": _arguments(function.get("arguments"))}
        )
    return found


# --- Anthropic -------------------------------------------------------------------------------------


def anthropic_tools(tools: list[Any]) -> list[dict[str, Any]]:
    """OpenAI-shaped tools as Anthropic's `{"name", "description", "input_schema"}`."""
    found = []
    for tool in tools:
        if isinstance(tool, dict) and "input_schema" in tool:
            found.append(tool)  # already Anthropic's shape
            continue
        function = _function(tool)
        entry = {"name": function["name"], "input_schema": function.get("parameters") or {"type": "object"}}
        if function.get("description"):
            entry["description"] = function["description"]
        found.append(entry)
    return found


def anthropic_turn(message: Message) -> dict[str, Any]:
    """A user, assistant or tool message as an Anthropic turn (tool results travel in user turns)."""
    role = message["role"]
    if role == "tool":
        block = {"type": "tool_result", "tool_use_id": _answered_call(message), "content": str(message["content"])}
        return {"role": "user", "content": [block]}
    calls = message.get("tool_calls")
    if role == "assistant" and calls:
        blocks: list[dict[str, Any]] = []
        if message.get("content"):
            blocks.append({"type": "text", "text": str(message["content"])})
        for call in calls:
            function = _function(call)
            blocks.append(
                {
                    "type": "tool_use",
                    "id": call.get("id"),
                    "name": function["name"],
                    "input": _arguments(function.get("arguments")),
                }
            )
        return {"role": "assistant", "content": blocks}
    content = message["content"]
    return {
        "role": role,
        "content": [anthropic_block(part) for part in content] if isinstance(content, list) else content,
    }


def anthropic_block(part: dict[str, Any]) -> dict[str, Any]:
    """An OpenAI-style content part (text or image_url) as an Anthropic content block."""
    if part.get("type") != "image_url":
        return part
    url = part["image_url"]["url"]
    if url.startswith("data:"):
        mime, data = _data_uri(url)
        return {"type": "image", "source": {"type": "base64", "media_type": mime, "data": data}}
    return {"type": "image", "source": {"type": "url", "url": url}}


def gemini_part(part: dict[str, Any]) -> dict[str, Any]:
    """An OpenAI-style content part (text or image_url) as a Gemini part."""
    if part.get("type") != "image_url":
        return {"text": str(part.get("text", ""))}
    url = part["image_url"]["url"]
    if url.startswith("data:"):
        mime, data = _data_uri(url)
        return {"inlineData": {"mimeType": mime, "data": data}}
    mime = mimetypes.guess_type(url)[0] or "image/jpeg"
    return {"fileData": {"mimeType": mime, "fileUri": url}}


def _data_uri(url: str) -> tuple[str, str]:
    head, _, data = url.partition(",")
    return head[len("data:") :].split(";")[0], data


def merge_turns(turns: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Consecutive user turns merged: Anthropic wants every tool result of a step in one user turn."""
    merged: list[dict[str, Any]] = []
    for turn in turns:
        if merged and merged[-1]["role"] == turn["role"] == "user" and _is_tool_result(turn):
            merged[-1] = {"role": "user", "content": _blocks(merged[-1]["content"]) + _blocks(turn["content"])}
        else:
            merged.append(turn)
    return merged


def _is_tool_result(turn: dict[str, Any]) -> bool:
    content = turn["content"]
    return isinstance(content, list) and any(block.get("type") == "tool_result" for block in content)


def _blocks(content: Any) -> list[dict[str, Any]]:
    return content if isinstance(content, list) else [{"type": "text", "text": str(content)}]


def anthropic_tool_calls(blocks: list[dict[str, Any]], answer_tool: str | None) -> list[ToolCall] | None:
    """The `tool_use` blocks of a reply as calls; the forced answer tool of a response format is not one."""
    found = [
        {"id": block.get("id"), "name": block.get("name", ""), "args": block.get("input") or {}}
        for block in blocks
        if block.get("type") == "tool_use" and block.get("name") != answer_tool
    ]
    return found or None


# --- Gemini ----------------------------------------------------------------------------------------


def gemini_tools(tools: list[Any]) -> list[dict[str, Any]]:
    """OpenAI-shaped tools as one Gemini tool of `functionDeclarations` (Gemini-shaped ones pass through)."""
    declarations, native = [], []
    for tool in tools:
        if isinstance(tool, dict) and "function" not in tool:
            native.append(tool)
            continue
        function = _function(tool)
        declaration = {"name": function["name"], "parameters": function.get("parameters") or {"type": "object"}}
        if function.get("description"):
            declaration["description"] = function["description"]
        declarations.append(declaration)
    return ([{"functionDeclarations": declarations}] if declarations else []) + native


def gemini_content(message: Message, names: dict[str, str]) -> dict[str, Any]:
    """A user, assistant or tool message as Gemini content; `names` maps call ids to tool names."""
    role = message["role"]
    if role == "tool":
        call = _answered_call(message)
        response = {"name": names.get(call, call), "response": {"result": str(message["content"])}}
        return {"role": "user", "parts": [{"functionResponse": response}]}
    parts: list[dict[str, Any]] = []
    content = message.get("content")
    if isinstance(content, list):
        parts.extend(gemini_part(part) for part in content)
    elif content:
        parts.append({"text": str(content)})
    for call in message.get("tool_calls") or []:
        function = _function(call)
        names[str(call.get("id"))] = function["name"]
        parts.append({"functionCall": {"name": function["name"], "args": _arguments(function.get("arguments"))}})
    return {"role": "model" if role == "assistant" else "user", "parts": parts or [{"text": ""}]}


def gemini_tool_calls(parts: list[dict[str, Any]]) -> list[ToolCall] | None:
    """The `functionCall` parts of a reply as calls."""
    found: list[ToolCall] = []
    for part in parts:
        call = part.get("functionCall")
        if isinstance(call, dict):
            name = call.get("name", "")
            found.append(
                {"id": call.get("id") or call_id(len(found), name), "name": name, "args": call.get("args") or {}}
            )
    return found or None


def assistant_turn(text: str, calls: list[ToolCall]) -> Message:
    """The assistant message that records `calls` in a conversation (OpenAI's shape)."""
    return {
        "role": "assistant",
        "content": text,
        "tool_calls": [
            {
                "id": call["id"],
                "type": "function",
                "function": {"name": call["name"], "arguments": json.dumps(call["args"], ensure_ascii=False)},
            }
            for call in calls
        ],
    }


def tool_turn(call: ToolCall, result: str) -> Message:
    """The message that returns one call's result."""
    return {"role": "tool", "tool_call_id": call["id"], "content": result}
