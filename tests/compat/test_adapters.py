"""The Chat and JSON adapters' prompts and parsing, where DSPy's tests pin them."""

from __future__ import annotations

import pydantic

import dspex_lab as dx
from dspex_lab.adapters.base import native_view


class Span(pydantic.BaseModel):
    start: int
    label: str


def test_type_first_json_schemas_in_prompts():
    """DSPy moves `type` to the front of every schema object shown in a prompt (the other keys sorted)."""
    sig = dx.Signature("text -> spans: list[Span]")
    system = dx.ChatAdapter().format(sig, [], {"text": "t"})[0]["content"]
    assert (
        '{"type": "array", "$defs": {"Span": {"type": "object", "properties": {"label": {"type": "string", '
        '"title": "Label"}, "start": {"type": "integer", "title": "Start"}}, "required": ["start", "label"], '
        '"title": "Span"}}, "items": {"$ref": "#/$defs/Span"}}'
    ) in system


def test_the_json_adapter_fills_optional_outputs_the_reply_leaves_out():
    """DSPy's JSONAdapter applies output defaults and None for Optional outputs too."""

    class Extract(dx.Signature):
        text: str = dx.InputField()
        title: str = dx.OutputField()
        year: int | None = dx.OutputField()
        tags: list[str] = dx.OutputField(default=[])

    fields = dx.JSONAdapter().parse(Extract, '{"title": "Dune"}')
    assert fields == {"title": "Dune", "year": None, "tags": []}


def test_tools_are_listed_in_the_text_protocol_and_leave_the_prompt_natively():
    """With function calling the tools and the ToolCalls output leave the prompt (DSPy deletes both fields)."""

    def search(query: str) -> str:
        """Search the web."""
        return query

    class Pick(dx.Signature):
        question: str = dx.InputField()
        tools: list[dx.Tool] = dx.InputField()
        calls: dx.ToolCalls = dx.OutputField()

    inputs = {"question": "q", "tools": [dx.Tool(search)]}
    text = dx.ChatAdapter().format(Pick, [], inputs)
    assert "[[ ## tools ## ]]\n(1) search, whose description is <desc>Search the web.</desc>." in text[-1]["content"]
    assert "[[ ## calls ## ]]" in text[-1]["content"]
    native = dx.ChatAdapter().format(Pick, [], inputs, native_tools=True)
    assert "[[ ## tools ## ]]" not in native[0]["content"]
    assert "`calls` (ToolCalls)" not in native[0]["content"]
    assert "calls" not in native[-1]["content"]
    assert list(native_view(Pick).fields) == ["question"]
    parsed = dx.ChatAdapter().parse(
        Pick, '[[ ## calls ## ]]\n{"tool_calls": [{"name": "search", "args": {"query": "x"}}]}'
    )
    assert parsed["calls"].tool_calls[0].args == {"query": "x"}
