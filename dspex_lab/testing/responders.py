"""Responders: what the loopback server's "model" answers.

A responder is a callable `responder(request: ProviderRequest) -> str | ToolUse` returning
the reply text, or the tool calls the "model" makes (`ToolUse`, rendered in every wire
format). The default one answers deterministically (the same prompt always gets the
same reply, across processes):

- a prompt in the ChatAdapter protocol (the last user message asks for output
  fields as `[[ ## name ## ]]` markers, ending with `[[ ## completed ## ]]`) gets
  each requested field filled in, then the completed marker;
- a JSON request (a schema, a JSON mode, or a prompt asking for a JSON object)
  gets a JSON object with a value of the right type for each field;
- anything else gets a short sentence derived from the prompt.

Values are derived from a hash of the last user message, so different questions
get different (but repeatable) answers. For an "oracle" that knows the right
answers, pass your own callable, or for the subprocess form a dotted path
`"package.module:function"`.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import re
from collections.abc import Callable
from typing import Any

from dspex_lab.testing.wire import ProviderRequest, ToolUse

Responder = Callable[[ProviderRequest], str | ToolUse]

_MARKER = re.compile(r"\[\[ ## (\w+) ## \]\]")
_HINT = re.compile(r"\[\[ ## (\w+) ## \]\]`?\s*\(([^)]*)\)")
_LISTED_TYPE = re.compile(r"`(\w+)` \(([^)]*)\)")
_BACKTICKED = re.compile(r"`(\w+)`")


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _value(name: str, hint: str, seed: str) -> Any:
    """A deterministic value for field `name`, shaped by a type hint ('int', 'list[str]', ...)."""
    h = hint.lower()
    number = int(_digest(name + seed)[:8], 16)
    if re.search(r"\bbool\b|boolean", h):
        return number % 2 == 0
    if re.search(r"\bint\b|integer", h):
        return number % 100
    if re.search(r"\bfloat\b|number", h):
        return (number % 1000) / 10
    if re.search(r"\blist\b|array", h):
        return [f"{name} item {number % 97}"]
    if re.search(r"\bdict\b|object", h):
        return {"key": f"{name} {number % 97}"}
    if name == "reasoning":
        return f"Let me think step by step ({_digest(seed)[:6]})."
    return f"{name} {_digest(name + seed)[:8]}"


def _requested_fields(request: ProviderRequest) -> list[tuple[str, str]]:
    """Output fields (name, type hint) requested in ChatAdapter form, in order."""
    last = request.last_user_message
    paragraphs = [p for p in re.split(r"\n\s*\n", last) if "[[ ## completed ## ]]" in p]
    if not paragraphs:
        return []
    paragraph = paragraphs[-1]
    hints = dict(_HINT.findall(paragraph))
    for message in request.messages:
        if message["role"] == "system":
            for name, hint in _LISTED_TYPE.findall(message["content"]):
                hints.setdefault(name, hint)
    names = [name for name in _MARKER.findall(paragraph) if name != "completed"]
    return [(name, hints.get(name, "")) for name in dict.fromkeys(names)]


def _from_schema(schema: dict[str, Any], name: str, seed: str, root: dict[str, Any]) -> Any:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        return _from_schema(target, name, seed, root)
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        options = [s for s in schema.get(key) or [] if s.get("type") != "null"]
        if options:
            return _from_schema(options[0], name, seed, root)
    kind = str(schema.get("type", "string")).lower()
    if kind == "object":
        properties = schema.get("properties") or {}
        return {key: _from_schema(sub, key, seed, root) for key, sub in properties.items()}
    if kind == "array":
        return [_from_schema(schema.get("items") or {}, name, seed, root)]
    return _value(name, kind, seed)


def _json_fields(request: ProviderRequest) -> list[str]:
    last = request.last_user_message
    start = last.lower().rfind("json object")
    names = _BACKTICKED.findall(last[start:]) if start >= 0 else []
    return names or [name for name, _ in _requested_fields(request)] or ["answer"]


def default_responder(request: ProviderRequest) -> str:
    """The deterministic default reply for `request` (see the module docstring)."""
    seed = request.last_user_message
    if request.json_schema:
        return json.dumps(_from_schema(request.json_schema, "value", seed, request.json_schema))
    if request.json_mode or "json object" in seed.lower():
        hints = dict(_requested_fields(request))
        return json.dumps({name: _value(name, hints.get(name, ""), seed) for name in _json_fields(request)})
    fields = _requested_fields(request)
    if fields:
        sections = []
        for name, hint in fields:
            value = _value(name, hint, seed)
            shown = json.dumps(value) if isinstance(value, list | dict) else str(value)
            sections.append(f"[[ ## {name} ## ]]\n{shown}")
        sections.append("[[ ## completed ## ]]")
        return "\n\n".join(sections)
    return f"Reply {_digest(seed)[:8]} to: {' '.join(seed.split()[:12])}"


def load_responder(spec: str) -> Responder:
    """Import a responder from a dotted path `"package.module:function"`."""
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise ValueError(f"responder {spec!r} must look like 'package.module:function'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"responder {spec!r}: cannot import {module_name!r} ({exc})") from exc
    responder = getattr(module, attribute, None)
    if not callable(responder):
        raise ValueError(f"responder {spec!r}: {module_name} has no callable {attribute!r}")
    return responder
