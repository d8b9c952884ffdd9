"""ChatAdapter: DSPy's `[[ ## field ## ]]` protocol.

An LM that decodes under a GBNF grammar (the embedded model) is held to the
format itself (see `adapters.grammar`), so its replies parse on the first try.
Other replies are parsed leniently: a preamble before the first field, a
missing `[[ ## completed ## ]]` marker, extra fields and near-miss markers
(`[[ ## Topic## ]]`: other spacing or case) are tolerated, but only the
signature's own fields are read; the first occurrence of a field wins; values
are coerced to the declared types. When an unconstrained reply cannot be
parsed, the predictor retries once with JSONAdapter, as DSPy does
(`ChatAdapter(json_fallback=False)` turns that off).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from dspex_lab.adapters.base import Adapter, field_section, requirement_list, type_placeholder
from dspex_lab.adapters.grammar import chat_grammar
from dspex_lab.adapters.values import format_value
from dspex_lab.signature import Signature

# A header starts a line (after optional spaces); its value follows on the same line or the next ones.
# Spacing inside the brackets may vary ("[[## topic##]]"); the name is matched to a field without case.
_HEADER_LINE = re.compile(r"^[ \t]*\[\[[ \t]*##[ \t]*(\w+)[ \t]*##[ \t]*\]\][ \t]*", re.MULTILINE)
COMPLETED = "[[ ## completed ## ]]"


class ChatAdapter(Adapter):
    """Fields as `[[ ## name ## ]]` sections, ending with `[[ ## completed ## ]]`."""

    name = "ChatAdapter"

    def __init__(self, json_fallback: bool = True, *, use_json_adapter_fallback: bool | None = None) -> None:
        """`json_fallback`: retry a reply this adapter cannot parse with JSONAdapter.

        `use_json_adapter_fallback` is DSPy's name for the same option and is accepted too.
        """
        if use_json_adapter_fallback is not None:
            if not json_fallback:
                raise TypeError("give json_fallback or use_json_adapter_fallback (DSPy's name for it), not both")
            json_fallback = use_json_adapter_fallback
        self.json_fallback = bool(json_fallback)

    def __repr__(self) -> str:
        return f"ChatAdapter(json_fallback={self.json_fallback})"

    @property
    def fallback(self) -> Adapter | None:
        if not self.json_fallback:
            return None
        from dspex_lab.adapters.json import DEFAULT_JSON_ADAPTER

        return DEFAULT_JSON_ADAPTER

    def constraint(self, signature: type[Signature], lm: Any) -> dict[str, Any] | None:
        if not getattr(lm, "supports_grammar", False):
            return None
        grammar = chat_grammar(signature, COMPLETED)
        return None if grammar is None else {"grammar": grammar}

    def field_structure(self, signature: type[Signature]) -> str:
        def sections(fields: Mapping[str, Any]) -> str:
            return "\n\n".join(field_section(n, type_placeholder(n, f)) for n, f in fields.items())

        parts = [
            "All interactions will be structured in the following way, with the appropriate values filled in.",
            sections(signature.input_fields),
            sections(signature.output_fields),
            COMPLETED + "\n",
        ]
        return "\n\n".join(parts).strip()

    def output_requirements(self, signature: type[Signature]) -> str:
        return (
            "Respond with the corresponding output fields, starting with the field "
            + requirement_list(signature, "`[[ ## {} ## ]]`")
            + f", and then ending with the marker for `{COMPLETED}`."
        )

    def assistant_content(
        self, signature: type[Signature], outputs: Mapping[str, Any], missing: str | None = None
    ) -> str:
        parts = []
        for name, info in signature.output_fields.items():
            value = outputs.get(name, missing)
            parts.append(field_section(name, format_value(info, value)))
        return "\n\n".join(parts).strip() + f"\n\n{COMPLETED}\n"

    def parse(self, signature: type[Signature], text: str) -> dict[str, Any]:
        names = {name.lower(): name for name in signature.output_fields}
        sections = [(names.get(name.lower(), name) if name else name, value) for name, value in split_sections(text)]
        return self.typed_fields(signature, sections, text)


def split_sections(text: str) -> list[tuple[str | None, str]]:
    """(header, value) pairs in order; text before the first header has header None."""
    sections: list[tuple[str | None, str]] = []
    name: str | None = None
    begin = 0
    for match in _HEADER_LINE.finditer(text):
        sections.append((name, text[begin : match.start()].strip()))
        name, begin = match.group(1), match.end()
    sections.append((name, text[begin:].strip()))
    return sections


DEFAULT_CHAT_ADAPTER = ChatAdapter()
