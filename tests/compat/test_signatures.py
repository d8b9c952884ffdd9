"""Signatures as DSPy programs declare them (dspy.Signature, InputField/OutputField)."""

from __future__ import annotations

import datetime
import typing
from pathlib import Path

import pydantic
import pytest

import dspex_lab as dx


class Address(pydantic.BaseModel):
    city: str
    zip_code: str


class Person(pydantic.BaseModel):
    name: str
    address: Address


def test_fields_keep_declaration_order_with_or_without_annotations():
    """DSPy orders fields as written, whether or not a field has a type annotation."""

    class Judge(dx.Signature):
        text: str = dx.InputField()
        output = dx.OutputField()
        pass_evaluation: bool = dx.OutputField()

    assert list(Judge.fields) == ["text", "output", "pass_evaluation"]
    assert Judge.fields["output"].annotation is str


def test_an_optional_input_is_not_required_and_the_error_lists_only_required_ones():
    """DSPy treats `x: str | None = InputField()` as optional; a missing required input is named alone."""

    class QA(dx.Signature):
        question: str = dx.InputField()
        context: str | None = dx.InputField()
        answer: str = dx.OutputField()

    lm = dx.ScriptedLM(lambda messages: {"answer": "ok"})
    assert dx.Predict(QA, lm=lm)(question="q").answer == "ok"
    assert "[[ ## context ## ]]\n" not in lm.history[-1].messages[-1]["content"]
    with pytest.raises(dx.InputError) as caught:
        dx.Predict(QA, lm=lm)(context="c")
    assert "missing input field(s) ['question']" in str(caught.value)
    assert "call it with question=... (optional: ['context'])" in str(caught.value)


def test_input_defaults_fill_missing_inputs():
    """DSPy fills a missing input with its InputField(default=...)."""

    class Style(dx.Signature):
        text: str = dx.InputField()
        tone: str = dx.InputField(default="formal")
        rewritten: str = dx.OutputField()

    lm = dx.ScriptedLM(lambda messages: {"rewritten": "done"})
    dx.Predict(Style, lm=lm)(text="hey")
    assert "[[ ## tone ## ]]\nformal" in lm.history[-1].messages[-1]["content"]


def test_output_defaults_and_optional_outputs_fill_fields_the_reply_leaves_out():
    """DSPy's apply_output_field_defaults: a default, else None for an Optional type."""

    class Extract(dx.Signature):
        text: str = dx.InputField()
        title: str = dx.OutputField()
        subtitle: str | None = dx.OutputField()
        language: str = dx.OutputField(default="en")

    lm = dx.ScriptedLM(lambda messages: "[[ ## title ## ]]\nHello\n\n[[ ## completed ## ]]")
    pred = dx.Predict(Extract, lm=lm)(text="t")
    assert dict(pred) == {"title": "Hello", "subtitle": None, "language": "en"}


def test_variadic_tuples_datetimes_paths_and_nested_models_are_field_types():
    """DSPy reads `tuple[int, ...]` in a string signature and accepts datetime, Path and nested models."""
    assert dx.Signature("scores: tuple[int, ...] -> best: int").fields["scores"].annotation == tuple[int, ...]
    sig = dx.Signature("when: datetime, where: Path -> who: Person")
    assert sig.fields["when"].annotation is datetime.datetime
    assert sig.fields["where"].annotation is Path
    assert sig.fields["who"].annotation is Person
    with pytest.raises(dx.SignatureError, match=r"'\.\.\.' is only allowed as tuple\[T, \.\.\.\]"):
        dx.Signature("x: list[int, ...] -> y")


def test_custom_types_resolve_from_the_callers_scope():
    """DSPy finds `Local` in `"x: Local -> y"` where the string is written, without custom_types."""

    class Local(pydantic.BaseModel):
        value: int

    sig = dx.Signature("x: Local -> y: list[Local]")
    assert sig.fields["x"].annotation is Local
    assert sig.fields["y"].annotation == list[Local]
    assert dx.Signature("a: typing.Optional[int] -> b").fields["a"].annotation == typing.Optional[int]  # noqa: UP045


def test_append_instructions_with_updated_fields_and_a_dict_form():
    """Signature.append_instructions, .with_updated_fields and dspy.Signature({...})."""
    base = dx.Signature("question -> answer", "Answer briefly.")
    longer = base.append_instructions("Cite a source.")
    assert longer.instructions == "Answer briefly.\n\nCite a source."
    assert base.instructions == "Answer briefly."
    changed = base.with_updated_fields("answer", type_=int, desc="a number")
    assert (changed.fields["answer"].annotation, changed.fields["answer"].desc) == (int, "a number")
    assert base.fields["answer"].annotation is str
    from_dict = dx.Signature({"question": dx.InputField(), "answer": (int, dx.OutputField(desc="n"))}, "Count.")
    assert from_dict.signature == "question -> answer: int"
    assert from_dict.instructions == "Count."


def test_an_input_that_does_not_match_its_type_warns_and_still_runs():
    """DSPy warns 'Type mismatch for field ...' and goes on; a list of strings fits a str field."""
    from dspex_lab.modules.inputs import InputTypeWarning

    lm = dx.ScriptedLM(lambda messages: {"answer": "a"})
    predict = dx.Predict("k: int, person: Person, context -> answer", lm=lm)
    with pytest.warns(InputTypeWarning, match="input 'k' of signature .* is declared int but got str 'three'"):
        assert predict(k="three", person={"name": "A", "address": {"city": "c", "zip_code": "z"}}, context="c").answer
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        predict(k=3, person={"name": "A", "address": {"city": "c", "zip_code": "z"}}, context=["p1", "p2"])


def test_a_class_signature_finds_types_local_to_the_function_declaring_it():
    """Under `from __future__ import annotations` (this module), a local model still resolves, as in DSPy."""

    class Verdict(pydantic.BaseModel):
        ok: bool

    class Judge(dx.Signature):
        text: str = dx.InputField()
        verdict: Verdict = dx.OutputField()

    assert Judge.fields["verdict"].annotation is Verdict


def test_datetimes_are_written_and_read_in_iso_format():
    """DSPy serializes inputs through pydantic: a datetime is ISO 8601 in the prompt, and parsed back from it."""
    lm = dx.ScriptedLM(lambda messages: "[[ ## due ## ]]\n2026-03-01T09:30:00\n\n[[ ## completed ## ]]")
    pred = dx.Predict("start: datetime -> due: datetime", lm=lm)(start=datetime.datetime(2026, 2, 1, 8, 0))
    assert "[[ ## start ## ]]\n2026-02-01T08:00:00" in lm.history[-1].messages[-1]["content"]
    assert pred.due == datetime.datetime(2026, 3, 1, 9, 30)
