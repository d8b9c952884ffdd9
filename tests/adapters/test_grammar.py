"""ChatAdapter's grammar: the reply format as GBNF, each field held to its type, for LMs that decode under one."""

from __future__ import annotations

import enum
import warnings
from typing import Literal

import pytest

import dspex_lab as dx
from dspex_lab.adapters.grammar import UnconstrainedField, chat_grammar, literal, value_rule

COMPLETED = "[[ ## completed ## ]]"


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Reply(dx.Signature):
    """Answer."""

    question: str = dx.InputField()
    reasoning: str = dx.OutputField()
    label: Literal["yes", "no"] = dx.OutputField()
    sure: bool = dx.OutputField()
    count: int = dx.OutputField()
    score: float = dx.OutputField()
    color: Color = dx.OutputField()
    maybe: int | None = dx.OutputField()


def test_the_sections_come_in_the_signatures_order_and_end_with_the_completed_marker():
    grammar = chat_grammar(Reply, COMPLETED)
    root = grammar.splitlines()[0]

    assert root == (
        'root ::= "[[ ## reasoning ## ]]\\n" v0 "\\n\\n[[ ## label ## ]]\\n" v1 "\\n\\n[[ ## sure ## ]]\\n" v2 '
        '"\\n\\n[[ ## count ## ]]\\n" v3 "\\n\\n[[ ## score ## ]]\\n" v4 "\\n\\n[[ ## color ## ]]\\n" v5 '
        '"\\n\\n[[ ## maybe ## ]]\\n" v6 "\\n\\n[[ ## completed ## ]]"'
    )
    assert grammar.splitlines()[1:] == [
        "v0 ::= [^\\n{\\[ ] [^\\n]*",
        'v1 ::= ("yes" | "no")',
        'v2 ::= ("True" | "False")',
        'v3 ::= "-"? [0-9]+',
        'v4 ::= "-"? [0-9]+ ("." [0-9]+)?',
        'v5 ::= ("green" | "red")',
        'v6 ::= ("-"? [0-9]+ | "None")',
    ]


def test_literal_values_are_escaped_and_longest_first():
    assert literal('say "hi"\\') == '"say \\"hi\\"\\\\"'
    assert value_rule(Literal["yes", "yes, mostly"]) == '("yes, mostly" | "yes")'


def test_a_field_type_without_a_grammar_leaves_the_signature_unconstrained_with_a_warning():
    signature = dx.Signature.parse("question -> answer, tags: list[str]")

    with pytest.warns(UnconstrainedField, match=r"output field 'tags' of type list\[str\]"):
        assert chat_grammar(signature, COMPLETED) is None


def test_chat_adapter_constrains_only_lms_that_decode_under_a_grammar():
    class Grammatical(dx.ScriptedLM):
        supports_grammar = True

    signature = dx.Signature.parse("question -> answer")
    adapter = dx.ChatAdapter()

    assert adapter.constraint(signature, dx.ScriptedLM([])) is None
    assert adapter.constraint(signature, Grammatical([]))["grammar"].startswith('root ::= "[[ ## answer ## ]]\\n"')


def test_a_constrained_reply_that_fails_to_parse_is_not_asked_again_through_json():
    class Grammatical(dx.ScriptedLM):
        supports_grammar = True

    lm = Grammatical(["[[ ## answer ## ]]\n"])
    predict = dx.Predict("question -> answer: int", lm=lm)

    with warnings.catch_warnings(), pytest.raises(dx.AdapterParseError):
        predict(question="How many?")
    assert len(lm.requests) == 1
    assert "grammar" in lm.requests[0].params
