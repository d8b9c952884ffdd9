"""Field values to prompt text, and reply text back to typed values (through pydantic)."""

from __future__ import annotations

import ast
import enum
import functools
import json
import re
import types
import typing
from typing import Any, Literal

from dspex_lab.fields import jsonable
from dspex_lab.signature import FieldInfo, annotation_name

_NUMBER = re.compile(r"[-+]?(?:\d[\d_,]*)?\.?\d+(?:[eE][-+]?\d+)?")
_FENCE = re.compile(r"^```[\w-]*\s*\n?(.*?)\n?```$", re.DOTALL)
_NULLS = {"", "none", "null", "n/a"}


# --- values into the prompt -------------------------------------------------------------------


def format_value(info: FieldInfo, value: Any) -> str:
    """Render a field value for the prompt, as DSPy does (lists of text become numbered blobs)."""
    if isinstance(value, list) and info.annotation is str:
        return _format_text_list(value)
    formatted = getattr(value, "prompt_text", None)
    if formatted is not None:
        return str(formatted())  # a trajectory, an image in the text protocol
    if isinstance(value, list) and value and all(getattr(item, "dx_kind", None) == "tool" for item in value):
        return "\n".join(f"({index}) {tool}" for index, tool in enumerate(value, start=1))
    data = jsonable(value)
    if isinstance(data, dict | list):
        return json.dumps(data, ensure_ascii=False)
    return str(data)


def _format_text_list(values: list[Any]) -> str:
    if not values:
        return "N/A"
    if len(values) == 1:
        return _blob(str(values[0]))
    return "\n".join(f"[{i + 1}] {_blob(str(v))}" for i, v in enumerate(values))


def _blob(text: str) -> str:
    if "\n" not in text and "«" not in text and "»" not in text:
        return f"«{text}»"
    return "«««\n    " + text.replace("\n", "\n    ") + "\n»»»"


def type_note(info: FieldInfo) -> str:
    """The note telling the LM what shape an output value must have ('' for inputs and str)."""
    annotation = info.annotation
    if info.kind == "input" or annotation is str:
        return ""
    if annotation is bool:
        desc = "must be True or False"
    elif annotation in (int, float):
        desc = f"must be a single {annotation.__name__} value"
    elif isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        desc = "must be one of: " + "; ".join(str(member.value) for member in annotation)
    elif typing.get_origin(annotation) is Literal:
        desc = "must exactly match (no extra characters) one of: " + "; ".join(
            str(arg) for arg in typing.get_args(annotation)
        )
    else:
        desc = f"must adhere to the JSON schema: {json.dumps(prompt_schema(annotation), ensure_ascii=False)}"
    return " " * 8 + f"# note: the value you produce {desc}"


def requirement(info: FieldInfo) -> str:
    """` (must be formatted as a valid Python float)` for typed fields, '' for str."""
    if info.annotation is str:
        return ""
    if getattr(info.annotation, "dx_kind", None) == "tool_calls":
        return ' (must be a JSON object like {"tool_calls": [{"name": "...", "args": {...}}]})'
    return f" (must be formatted as a valid Python {annotation_name(info.annotation)})"


@functools.lru_cache(maxsize=256)
def type_adapter(annotation: Any) -> Any:
    """pydantic's TypeAdapter for a type, made once per type (signatures and tools share them)."""
    from pydantic import TypeAdapter

    return TypeAdapter(annotation)


def json_schema(annotation: Any) -> dict[str, Any]:
    """The JSON schema of a type (pydantic's)."""
    return type_adapter(annotation).json_schema()


def prompt_schema(annotation: Any) -> dict[str, Any]:
    """The JSON schema as DSPy shows it in prompts: `type` first, then the other keys sorted, at every level."""
    return typing.cast(dict[str, Any], _type_first(json_schema(annotation)))


def _type_first(node: Any) -> Any:
    if isinstance(node, dict):
        return {key: _type_first(node[key]) for key in sorted(node, key=lambda key: (key != "type", key))}
    if isinstance(node, list):
        return [_type_first(item) for item in node]
    return node


# --- reply text back into values --------------------------------------------------------------


def parse_value(text: Any, annotation: Any) -> Any:
    """Coerce a reply value (usually text) to `annotation`; raise ValueError with the reason."""
    if annotation is str:
        return text if isinstance(text, str) else json.dumps(text) if isinstance(text, dict | list) else str(text)
    if annotation is Any:
        return loads_lenient(text) if isinstance(text, str) else text
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return _parse_union(text, annotation)
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return _parse_enum(text, annotation)
    if origin is Literal:
        return _parse_literal(text, annotation)
    if annotation in (int, float):
        return _parse_number(text, annotation)
    if annotation is bool:
        return _parse_bool(text)
    candidate = loads_lenient(text) if isinstance(text, str) else text
    if isinstance(candidate, str) and _is_list_type(annotation):
        candidate = _split_list(candidate)
    return _validate(candidate, annotation)


def _validate(candidate: Any, annotation: Any) -> Any:
    from pydantic import ValidationError

    try:
        return type_adapter(annotation).validate_python(candidate)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "value"
        raise ValueError(f"not a valid {annotation_name(annotation)} ({where}: {first['msg']})") from None


def _parse_union(text: Any, annotation: Any) -> Any:
    args = typing.get_args(annotation)
    if type(None) in args and (text is None or (isinstance(text, str) and text.strip().lower() in _NULLS)):
        return None
    errors = []
    for arg in args:
        if arg is type(None):
            continue
        try:
            return parse_value(text, arg)
        except ValueError as exc:
            errors.append(str(exc))
    raise ValueError(f"not a valid {annotation_name(annotation)}: " + "; ".join(errors))


def _parse_enum(text: Any, annotation: type[enum.Enum]) -> Any:
    raw = _unquote(str(text).strip())
    for member in annotation:
        if raw in (str(member.value), member.name):
            return member
    lowered = raw.lower()
    for member in annotation:
        if lowered in (str(member.value).lower(), member.name.lower()):
            return member
    allowed = "; ".join(str(member.value) for member in annotation)
    raise ValueError(f"{raw!r} is not one of: {allowed}")


def _parse_literal(text: Any, annotation: Any) -> Any:
    allowed = typing.get_args(annotation)
    if text in allowed:
        return text
    raw = str(text).strip()
    if raw.startswith(("Literal[", "str[")) and raw.endswith("]"):
        raw = raw[raw.index("[") + 1 : -1]
    raw = _unquote(raw.rstrip(".")).rstrip(".")
    for value in allowed:
        if raw == str(value):
            return value
    folded = [value for value in allowed if str(value).lower() == raw.lower()]
    if len(folded) == 1:
        return folded[0]
    raise ValueError(f"{raw!r} is not one of: " + "; ".join(str(v) for v in allowed))


def _parse_number(text: Any, annotation: type) -> Any:
    if isinstance(text, int | float) and not isinstance(text, bool):
        number = text
    else:
        match = _NUMBER.search(str(text))
        if match is None:
            raise ValueError(f"no number in {str(text)[:80]!r}")
        number = float(match.group().replace(",", "").replace("_", ""))
    if annotation is int:
        if float(number) != int(number):
            raise ValueError(f"{number!r} is not a whole number")
        return int(number)
    return float(number)


def _parse_bool(text: Any) -> bool:
    if isinstance(text, bool):
        return text
    words = re.findall(r"[A-Za-z]+|\d", str(text))
    first = words[0].lower() if words else ""
    if first in ("true", "yes", "y", "1", "correct"):
        return True
    if first in ("false", "no", "n", "0", "incorrect"):
        return False
    raise ValueError(f"{str(text)[:80]!r} is not True or False")


def _unquote(text: str) -> str:
    if len(text) > 1 and text[0] == text[-1] and text[0] in "\"'`":
        return text[1:-1]
    return text


def loads_lenient(text: str) -> Any:
    """Read JSON leniently: code fences, Python literals, trailing commas."""
    stripped = text.strip()
    fenced = _FENCE.match(stripped)
    if fenced:
        stripped = fenced.group(1).strip()
    try:
        return json.loads(stripped)
    except ValueError:
        pass
    try:
        return ast.literal_eval(stripped)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        pass
    try:
        return json.loads(re.sub(r",\s*([}\]])", r"\1", stripped))
    except ValueError:
        return stripped


def _is_list_type(annotation: Any) -> bool:
    return annotation in (list, tuple, set) or typing.get_origin(annotation) in (list, tuple, set)


def _split_list(text: str) -> list[str]:
    """A bulleted, numbered or comma-separated list written as text."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) > 1:
        return [re.sub(r"^(?:[-*•]|\[?\d+[.)\]])\s*", "", line).strip("«» ") for line in lines]
    return [part.strip() for part in text.split(",") if part.strip()]


def find_json_object(text: str) -> str | None:
    """The first balanced `{...}` in `text` (outside JSON strings), or None."""
    start = text.find("{")
    while start != -1:
        depth, in_string, escaped = 0, False, False
        for i in range(start, len(text)):
            char = text[i]
            if in_string:
                if escaped:
                    escaped = False
                elif char == "\\":
                    escaped = True
                elif char == '"':
                    in_string = False
            elif char == '"':
                in_string = True
            elif char == "{":
                depth += 1
            elif char == "}":
                depth -= 1
                if depth == 0:
                    return text[start : i + 1]
        start = text.find("{", start + 1)
    return None
