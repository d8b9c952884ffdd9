"""Tools an LM may call: `dx.Tool` wraps a function, `dx.ToolCalls` is what the LM asked for.

    def search(query: str, k: int = 3) -> list[str]:
        \"\"\"Search the notes for `query`.\"\"\"
        ...

    tool = dx.Tool(search)        # name "search", the docstring, typed args from the annotations
    tool(query="cats")            # arguments checked and coerced to the annotated types

A signature with an input field of type `list[dx.Tool]` and an output field of
type `dx.ToolCalls` lets the LM choose calls: natively (OpenAI `tools`,
Anthropic `tool_use`, Gemini `functionCall`) when the client supports it, or
through the adapter's text protocol otherwise (the embedded model). Running a
tool is a `tool` span in the trace.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import typing
from collections.abc import Callable
from typing import Any

import pydantic

from dspex_lab.adapters.values import type_adapter
from dspex_lab.loop import run_sync
from dspex_lab.signature import caller_frame
from dspex_lab.trace import events, schema

FINISH = "finish"


class Tool:
    """A function the LM may call; see the module docstring.

    `name`, `desc` and `args` (JSON schemas by argument name) default to the
    function's name, docstring and annotations; `arg_desc` adds a description per argument.
    """

    dx_kind = "tool"

    def __init__(
        self,
        func: Callable[..., Any],
        name: str | None = None,
        desc: str | None = None,
        args: dict[str, Any] | None = None,
        arg_desc: dict[str, str] | None = None,
    ) -> None:
        if not callable(func):
            raise TypeError(f"a tool wraps a function, got {func!r}")
        target = func if inspect.isfunction(func) or inspect.ismethod(func) else getattr(func, "__call__", func)  # noqa: B004
        self.func = func
        self.name: str = name or str(getattr(func, "__name__", type(func).__name__))
        self.desc = desc if desc is not None else inspect.cleandoc(getattr(func, "__doc__", None) or "")
        signature = inspect.signature(target)
        hints = _hints(target)
        self.arg_types: dict[str, Any] = {}
        found: dict[str, Any] = {}
        for param in signature.parameters.values():
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                continue
            annotation = hints.get(param.name, Any)
            self.arg_types[param.name] = annotation
            try:
                schema = _schema(annotation)
            except pydantic.PydanticUserError:
                raise TypeError(
                    f"tool {self.name!r}, argument {param.name!r}: {annotation!r} has no JSON schema to show the LM; "
                    "annotate it with str, int, a list, a dict or a pydantic model"
                ) from None
            if param.default is not param.empty:
                schema["default"] = param.default
            if arg_desc and param.name in arg_desc:
                schema["description"] = arg_desc[param.name]
            found[param.name] = schema
        self.args: dict[str, Any] = args if args is not None else found
        self.takes_any = any(p.kind == p.VAR_KEYWORD for p in signature.parameters.values())
        unknown = sorted(set(arg_desc or {}) - set(self.args))
        if unknown:
            raise TypeError(f"tool {self.name!r}: arg_desc names {unknown}, which it does not take {list(self.args)}")

    def __repr__(self) -> str:
        return f"Tool(name={self.name!r}, desc={self.desc!r}, args={self.args})"

    def __str__(self) -> str:
        """DSPy's one-line description, as ReAct lists the tools in its instructions."""
        desc = f", whose description is <desc>{self.desc}</desc>.".replace("\n", "  ") if self.desc else "."
        return f"{self.name}{desc} It takes arguments {self.args}."

    def spec(self) -> dict[str, Any]:
        """The tool as a function declaration in OpenAI's format (the clients convert it for their provider)."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.desc,
                "parameters": {
                    "type": "object",
                    "properties": self.args,
                    "required": [key for key, schema in self.args.items() if "default" not in schema],
                },
            },
        }

    def _check(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        unknown = [key for key in kwargs if key not in self.args]
        if unknown and not self.takes_any:
            raise ValueError(f"tool {self.name!r} has no argument(s) {unknown}; its arguments are {list(self.args)}")
        missing = [key for key, schema in self.args.items() if key not in kwargs and "default" not in schema]
        if missing:
            raise ValueError(f"tool {self.name!r} needs argument(s) {missing}")
        checked = {}
        for key, value in kwargs.items():
            annotation = self.arg_types.get(key, Any)
            if annotation is Any:
                checked[key] = value
                continue
            try:
                checked[key] = type_adapter(annotation).validate_python(value)
            except pydantic.ValidationError as exc:
                raise ValueError(f"tool {self.name!r}, argument {key!r}: {exc.errors()[0]['msg']}") from None
        return checked

    def __call__(self, **kwargs: Any) -> Any:
        """Run the tool with checked arguments; a `tool` span records the arguments and the result."""
        with events.span(schema.ToolStart(args=kwargs), "tool:" + self.name) as span:
            result = self.func(**self._check(kwargs))
            if inspect.isawaitable(result):
                result = run_sync(_awaited(result))
            span.set(result=result)
        return result

    async def acall(self, **kwargs: Any) -> Any:
        """The async form: a coroutine function is awaited, a plain one runs in a worker thread."""
        with events.span(schema.ToolStart(args=kwargs), "tool:" + self.name) as span:
            checked = self._check(kwargs)
            if inspect.iscoroutinefunction(self.func):
                result = await self.func(**checked)
            else:
                result = await asyncio.to_thread(events.bind(self.func), **checked)
                if inspect.isawaitable(result):
                    result = await result
            span.set(result=result)
        return result


def _hints(func: Callable[..., Any]) -> dict[str, Any]:
    """The function's annotations as types; names local to the caller (a class defined in a
    function, under `from __future__ import annotations`) are looked up where the tool is made."""
    try:
        return typing.get_type_hints(func)
    except NameError:
        pass
    frame = caller_frame()
    scope = {**getattr(func, "__globals__", {}), **(frame.f_locals if frame is not None else {})}
    hints = {}
    for name, annotation in inspect.get_annotations(func).items():
        try:
            hints[name] = eval(annotation, scope) if isinstance(annotation, str) else annotation
        except Exception as exc:
            raise TypeError(f"cannot resolve the type {annotation!r} of argument {name!r}: {exc}") from None
    return hints


async def _awaited(value: Any) -> Any:
    return await value


def _prompt_schema(schema: dict[str, Any]) -> None:
    # The schema an LM reads: no docstrings, and no call id (the provider's to give, as in DSPy).
    schema.pop("description", None)
    schema.get("properties", {}).pop("id", None)


class ToolCall(pydantic.BaseModel):
    """One call the LM asked for: the tool's name and its arguments (and the provider's call id)."""

    model_config = pydantic.ConfigDict(json_schema_extra=_prompt_schema)

    name: str
    args: dict[str, Any] = pydantic.Field(default_factory=dict)
    id: str | None = None

    def execute(self, tools: list[Tool] | dict[str, Any]) -> Any:
        """Run this call with the matching tool."""
        table = tools if isinstance(tools, dict) else {tool.name: tool for tool in tools}
        if self.name not in table:
            raise ValueError(f"no tool named {self.name!r}; the tools are {sorted(table)}")
        return table[self.name](**self.args)


class ToolCalls(pydantic.BaseModel):
    """The calls an LM chose, in order; `dx.ToolCalls` as an output field type."""

    dx_kind: typing.ClassVar[str] = "tool_calls"
    model_config = pydantic.ConfigDict(json_schema_extra=_prompt_schema)

    tool_calls: list[ToolCall] = pydantic.Field(default_factory=list)

    @pydantic.model_validator(mode="before")
    @classmethod
    def _accept_lists(cls, data: Any) -> Any:
        # DSPy accepts the bare list and provider-shaped calls ({"function": {"name", "arguments"}}).
        if isinstance(data, list):
            data = {"tool_calls": data}
        if isinstance(data, dict) and "tool_calls" not in data and "name" in data:
            data = {"tool_calls": [data]}
        if isinstance(data, dict) and isinstance(data.get("tool_calls"), list):
            data = {**data, "tool_calls": [_normalize(call) for call in data["tool_calls"]]}
        return data

    @classmethod
    def from_dict_list(cls, calls: list[dict[str, Any]]) -> ToolCalls:
        """`ToolCalls.from_dict_list([{"name": "search", "args": {"query": "cats"}}])`."""
        return cls.model_validate({"tool_calls": calls})

    @classmethod
    def description(cls) -> str:
        """How the text protocol asks for tool calls (DSPy's wording)."""
        return (
            "Tool calls must be a JSON object with `tool_calls`, a list of calls. "
            "Each call must include `name` and `args`. "
            'Example: {"tool_calls": [{"name": "search", "args": {"query": "cats"}}]}'
        )

    def __iter__(self) -> Any:
        return iter(self.tool_calls)

    def __len__(self) -> int:
        return len(self.tool_calls)


def _normalize(call: Any) -> Any:
    if not isinstance(call, dict):
        return call
    function = call.get("function")
    if isinstance(function, dict):
        arguments = function.get("arguments") or {}
        return {"name": function.get("name"), "args": _arguments(arguments), "id": call.get("id")}
    if "args" not in call and "arguments" in call:
        return {**{k: v for k, v in call.items() if k != "arguments"}, "args": _arguments(call["arguments"])}
    return call


def _arguments(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value) if value.strip() else {}
        except ValueError:
            return value
    return value


def as_tools(tools: Any) -> list[Tool]:
    """Functions and tools as tools, names unique."""
    if callable(tools) or isinstance(tools, str) or not hasattr(tools, "__iter__"):
        raise TypeError(f"tools must be a list of functions or dx.Tool, got {tools!r:.80}; write tools=[...]")
    made = [tool if isinstance(tool, Tool) else Tool(tool) for tool in tools]
    names = [tool.name for tool in made]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"two tools are named {duplicates}; give one a name=...")
    return made


def _schema(annotation: Any) -> dict[str, Any]:
    if annotation is Any:
        return {}
    return dict(_inline_refs(type_adapter(annotation).json_schema()))


def _inline_refs(schema: dict[str, Any]) -> Any:
    """A schema with `$ref`s into `$defs` replaced by the definitions (providers read plain schemas best)."""
    defs = schema.get("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return walk(defs[ref.split("/")[-1]])
            return {key: walk(value) for key, value in node.items() if key != "$defs"}
        if isinstance(node, list):
            return [walk(item) for item in node]
        return node

    return walk(schema)
