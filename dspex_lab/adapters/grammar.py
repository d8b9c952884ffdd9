"""GBNF grammars that hold a model's reply to an adapter's format, for LMs that decode under a grammar.

llama.cpp (the embedded model) samples only tokens a GBNF grammar allows, so a
reply built this way always parses: ChatAdapter's `[[ ## field ## ]]` sections
in the signature's order, each value in its field's shape, then the
`[[ ## completed ## ]]` marker, after which the model can only stop.

Value shapes: `str` is one line of text (not the `{placeholder}` of the prompt); `bool` is True or False; `int` and
`float` are numbers; `Literal[...]` and `Enum` fields are one of their values;
`Optional[X]` is X or None. A field of any other type cannot be held to a shape
here: the signature is then left unconstrained, with a warning naming the field.
"""

from __future__ import annotations

import enum
import functools
import types
import typing
import warnings
from typing import Any, Literal

from dspex_lab.signature import Signature, annotation_name

TEXT = r"[^\n{\[ ] [^\n]*"
"""A `str` value: one line (a 135M model asked for more keeps going until max_tokens), not starting with a
space, a `[` (a header) or a `{` (a copy of the `{field}` placeholder in the system message)."""
INTEGER = r'"-"? [0-9]+'
NUMBER = r'"-"? [0-9]+ ("." [0-9]+)?'


class UnconstrainedField(UserWarning):
    """A field whose type no grammar describes: its signature's replies are generated unconstrained."""


def literal(text: str) -> str:
    """`text` as a GBNF string literal."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    return f'"{escaped}"'


def value_rule(annotation: Any) -> str | None:
    """The GBNF expression a value of `annotation` is written as, or None when there is none."""
    if annotation is str:
        return TEXT
    if annotation is bool:
        return '("True" | "False")'
    if annotation is int:
        return INTEGER
    if annotation is float:
        return NUMBER
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return _choice(str(member.value) for member in annotation)
    origin = typing.get_origin(annotation)
    if origin is Literal:
        return _choice(str(value) for value in typing.get_args(annotation))
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(annotation)
        rules = [value_rule(arg) for arg in args if arg is not type(None)]
        if any(rule is None for rule in rules):
            return None
        if type(None) in args:
            rules.append('"None"')
        return "(" + " | ".join(typing.cast(list[str], rules)) + ")"
    return None


def _choice(values: typing.Iterable[str]) -> str:
    # Longest first, so that a value that begins another ("yes" / "yes, mostly") can still be finished.
    ordered = sorted(dict.fromkeys(values), key=len, reverse=True)
    return "(" + " | ".join(literal(value) for value in ordered) + ")"


@functools.lru_cache(maxsize=256)
def chat_grammar(signature: type[Signature], completed: str) -> str | None:
    """ChatAdapter's reply format for `signature` as a GBNF grammar (None, with a warning, if a field has no shape)."""
    rules = []
    parts = []
    for index, (name, info) in enumerate(signature.output_fields.items()):
        rule = value_rule(info.annotation)
        if rule is None:
            warnings.warn(
                f"output field {name!r} of type {annotation_name(info.annotation)} in '{signature.signature}' "
                "has no grammar; replies for this signature are generated unconstrained (and may need a retry)",
                UnconstrainedField,
                stacklevel=2,
            )
            return None
        header = ("\n\n" if index else "") + f"[[ ## {name} ## ]]\n"
        parts.append(f"{literal(header)} v{index}")
        rules.append(f"v{index} ::= {rule}")
    parts.append(literal("\n\n" + completed))
    return "\n".join(["root ::= " + " ".join(parts), *rules]) + "\n"
