"""Signatures: class and string forms, immutable edits, and errors that point at the problem."""

import enum
from typing import Literal, Optional

import pytest
from pydantic import BaseModel

import dspex_lab as dx


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Place(BaseModel):
    city: str


class Everything(dx.Signature):
    """Fill every kind of field."""

    text: str = dx.InputField(desc="some text")
    tags: list[str] = dx.InputField()
    table: dict[str, int] = dx.InputField()
    label: Literal["a", "b"] = dx.OutputField()
    color: Color = dx.OutputField()
    place: Place = dx.OutputField()
    maybe: Optional[int] = dx.OutputField()  # noqa: UP045 - the Optional spelling is part of what is tested
    flag: bool = dx.OutputField()
    score: float = dx.OutputField()
    count: int = dx.OutputField()


def test_class_form_keeps_field_order_types_descriptions_and_docstring():
    assert list(Everything.input_fields) == ["text", "tags", "table"]
    assert list(Everything.output_fields) == ["label", "color", "place", "maybe", "flag", "score", "count"]
    assert Everything.input_fields["text"].desc == "some text"
    assert Everything.output_fields["color"].annotation is Color
    assert Everything.output_fields["maybe"].type_name == "Optional[int]"
    assert Everything.instructions == "Fill every kind of field."


def test_string_form_with_types_and_default_instructions():
    sig = dx.Signature.parse("question, context: list[str] -> answer, confidence: float")
    assert list(sig.input_fields) == ["question", "context"]
    assert sig.input_fields["context"].annotation == list[str]
    assert sig.output_fields["confidence"].annotation is float
    assert sig.output_fields["answer"].annotation is str
    assert sig.instructions == "Given the fields `question`, `context`, produce the fields `answer`, `confidence`."


def test_string_form_reads_literals_optionals_unions_and_nested_generics():
    sig = dx.Signature.parse("a: dict[str, list[int]], b: Optional[str] -> c: Literal['x', 'y'], d: int | None")
    assert sig.input_fields["a"].annotation == dict[str, list[int]]
    assert sig.input_fields["b"].annotation == Optional[str]  # noqa: UP045
    assert sig.output_fields["c"].annotation == Literal["x", "y"]
    assert sig.output_fields["d"].annotation == Optional[int]  # noqa: UP045


def test_custom_types_are_accepted_in_the_string_form():
    sig = dx.Signature.parse("text -> color: Color", custom_types={"Color": Color})
    assert sig.output_fields["color"].annotation is Color


def test_a_string_is_accepted_wherever_a_signature_is():
    assert dx.Predict("question -> answer").signature == dx.Signature.parse("question -> answer")
    assert dx.Signature("question -> answer", "Be brief.").instructions == "Be brief."


def test_round_trip_through_the_string_form():
    sig = dx.Signature.parse("q, k: int -> a: list[str]")
    assert sig.signature == "q, k: int -> a: list[str]"
    assert dx.Signature.parse(sig.signature) == sig


def test_edits_return_new_signatures_and_leave_the_original_alone():
    sig = dx.Signature.parse("question -> answer")
    longer = sig.append("source", dx.InputField(desc="where"), str)
    first = sig.prepend("reasoning", dx.OutputField(), str)
    told = sig.with_instructions("Answer in French.")
    assert list(longer.input_fields) == ["question", "source"]
    assert list(first.output_fields) == ["reasoning", "answer"]
    assert told.instructions == "Answer in French."
    assert list(sig.fields) == ["question", "answer"]
    assert sig.instructions.startswith("Given the fields")


def test_signatures_are_immutable():
    sig = dx.Signature.parse("question -> answer")
    with pytest.raises(AttributeError, match="immutable"):
        sig.instructions = "x"
    with pytest.raises(AttributeError, match="immutable"):
        Everything.extra = 1


def test_signatures_are_not_instantiated():
    with pytest.raises(TypeError, match="declarations"):
        Everything()


@pytest.mark.parametrize(
    ("text", "message", "token", "position"),
    [
        ("question answer", "missing '->'", "question answer", 0),
        ("a -> b -> c", "more than one '->'", "->", 7),
        (" -> answer", "no input fields before", "->", 1),
        ("question -> ", "no output fields after", "->", 9),
        ("a, b -> a", "duplicate field name 'a'", "a", 8),
        ("question, my q -> a", "not a valid field name", "my q", 10),
        ("class -> a", "not a valid field name", "class", 0),
        ("q -> _hidden", "may not start with '_'", "_hidden", 5),
        ("q -> completed", "reserved name", "completed", 5),
        ("q -> demos", "reserved name", "demos", 5),
        ("q -> a: strr", "unknown type 'strr'", "strr", 8),
        ("q -> a: list[foo]", "unknown type 'foo'", "foo", 13),
        ("q -> a: list[str", "cannot read the type", "list[str", 8),
        ("q -> a:", "missing type", ":", 6),
        ("q, -> a", "stray comma", ",", 1),
    ],
)
def test_string_errors_name_the_problem_and_point_at_it(text, message, token, position):
    with pytest.raises(dx.SignatureError, match=message) as info:
        dx.Signature.parse(text)
    assert info.value.token == token
    assert info.value.position == position
    assert text in str(info.value)


def test_class_errors_name_the_field():
    with pytest.raises(dx.SignatureError, match="field 'answer' needs a value"):

        class NoSpec(dx.Signature):
            question: str = dx.InputField()
            answer: str

    with pytest.raises(dx.SignatureError, match="unsupported type"):

        class BadType(dx.Signature):
            question: str = dx.InputField()
            answer: object = dx.OutputField()

    with pytest.raises(dx.SignatureError, match="no output fields"):

        class NoOutputs(dx.Signature):
            question: str = dx.InputField()

    with pytest.raises(dx.SignatureError, match="reserved"):

        class Reserved(dx.Signature):
            question: str = dx.InputField()
            usage: str = dx.OutputField()


def test_append_checks_its_arguments():
    sig = dx.Signature.parse("q -> a")
    with pytest.raises(dx.SignatureError, match="already exists"):
        sig.append("a", dx.OutputField())
    with pytest.raises(dx.SignatureError, match=r"dx.InputField\(...\) or dx.OutputField"):
        sig.append("b", "not a field")
    with pytest.raises(dx.SignatureError, match="has no field 'zzz'"):
        sig.delete("zzz")
