"""ChatAdapter reads messy replies: preambles, extra fields, no end marker, multi-line values."""

import enum
from typing import Literal

import pytest

import dspex_lab as dx

QA = dx.Signature.parse("question -> answer, confidence: float")


def parse(text, signature=QA):
    return dx.ChatAdapter().parse(signature, text)


def test_a_clean_reply():
    reply = "[[ ## answer ## ]]\nParis\n\n[[ ## confidence ## ]]\n0.9\n\n[[ ## completed ## ]]\n"
    assert parse(reply) == {"answer": "Paris", "confidence": 0.9}


def test_a_preamble_before_the_first_field_is_ignored():
    reply = "Sure! Here is my answer.\n\n[[ ## answer ## ]]\nParis\n[[ ## confidence ## ]]\n0.7"
    assert parse(reply) == {"answer": "Paris", "confidence": 0.7}


def test_the_end_marker_may_be_missing():
    assert parse("[[ ## answer ## ]]\nParis\n[[ ## confidence ## ]]\n1") == {"answer": "Paris", "confidence": 1.0}


def test_extra_fields_are_ignored():
    reply = "[[ ## reasoning ## ]]\nhmm\n[[ ## answer ## ]]\nParis\n[[ ## notes ## ]]\nx\n[[ ## confidence ## ]]\n0.5"
    assert parse(reply) == {"answer": "Paris", "confidence": 0.5}


def test_the_first_occurrence_of_a_field_wins():
    reply = "[[ ## answer ## ]]\nParis\n[[ ## confidence ## ]]\n0.5\n[[ ## answer ## ]]\nLyon"
    assert parse(reply)["answer"] == "Paris"


def test_values_keep_their_inner_newlines():
    reply = "[[ ## answer ## ]]\nline one\n\nline two\n[[ ## confidence ## ]]\n0.2\n[[ ## completed ## ]]"
    assert parse(reply)["answer"] == "line one\n\nline two"


def test_a_float_with_a_comment_is_read_as_the_float():
    reply = "[[ ## answer ## ]]\nParis\n[[ ## confidence ## ]]\n0.8 (fairly sure)"
    assert parse(reply)["confidence"] == pytest.approx(0.8)


def test_a_value_on_the_header_line_is_kept():
    assert parse("[[ ## answer ## ]] Paris\n[[ ## confidence ## ]] 0.3") == {"answer": "Paris", "confidence": 0.3}


def test_a_missing_field_raises_with_the_raw_text_and_what_was_found():
    with pytest.raises(dx.AdapterParseError) as info:
        parse("I think it is Paris.\n[[ ## answer ## ]]\nParis")
    error = info.value
    assert error.raw == "I think it is Paris.\n[[ ## answer ## ]]\nParis"
    assert error.expected == ["answer", "confidence"]
    assert error.found == {"answer": "Paris"}
    assert "confidence" in str(error)


def test_a_value_of_the_wrong_type_names_the_field():
    with pytest.raises(dx.AdapterParseError, match=r"field .confidence..*no number"):
        parse("[[ ## answer ## ]]\nParis\n[[ ## confidence ## ]]\nvery sure")


class Mood(enum.Enum):
    HAPPY = "happy"
    SAD = "sad"


@pytest.mark.parametrize(
    ("type_", "text", "expected"),
    [
        (int, "42", 42),
        (int, "42.0", 42),
        (bool, "True", True),
        (bool, "no, it is not", False),
        (list[str], '["a", "b"]', ["a", "b"]),
        (list[str], "- a\n- b", ["a", "b"]),
        (list[int], "[1, 2, 3]", [1, 2, 3]),
        (dict[str, int], '{"a": 1}', {"a": 1}),
        (dict[str, int], "```json\n{'a': 1,}\n```", {"a": 1}),
        (Literal["positive", "negative"], "positive", "positive"),
        (Literal["positive", "negative"], "'Negative'.", "negative"),
        (Mood, "happy", Mood.HAPPY),
        (Mood, "SAD", Mood.SAD),
        (int | None, "None", None),
        (int | None, "7", 7),
    ],
)
def test_values_are_coerced_to_the_declared_type(type_, text, expected):
    signature = dx.Signature.parse("question -> note").append("out", dx.OutputField(), type_).delete("note")
    assert parse(f"[[ ## out ## ]]\n{text}\n[[ ## completed ## ]]", signature) == {"out": expected}


def test_a_pydantic_model_field_is_validated():
    from pydantic import BaseModel

    class Place(BaseModel):
        city: str
        population: int

    signature = dx.Signature.parse("question -> place: Place", custom_types={"Place": Place})
    parsed = parse('[[ ## place ## ]]\n{"city": "Lima", "population": 10000000}', signature)
    assert parsed["place"] == Place(city="Lima", population=10_000_000)
    with pytest.raises(dx.AdapterParseError, match="population"):
        parse('[[ ## place ## ]]\n{"city": "Lima", "population": "many"}', signature)


def test_a_literal_value_outside_the_choices_is_an_error():
    signature = dx.Signature.parse('text -> label: Literal["a", "b"]')
    with pytest.raises(dx.AdapterParseError, match="'c' is not one of: a; b"):
        parse("[[ ## label ## ]]\nc", signature)


@pytest.mark.parametrize(
    "header",
    ["[[ ## answer## ]]", "[[## answer ##]]", "[[ ## Answer ## ]]", "[[  ##  ANSWER  ##  ]]", "  [[ ##answer## ]]"],
)
def test_near_miss_markers_still_name_their_field(header):
    reply = f"{header}\nParis\n\n[[ ## confidence ## ]]\n0.5\n\n[[ ## completed ## ]]"
    assert parse(reply) == {"answer": "Paris", "confidence": 0.5}


def test_a_near_miss_marker_never_invents_a_field():
    reply = "[[ ## answers ## ]]\nParis\n\n[[ ## confidence ## ]]\n0.5"
    with pytest.raises(dx.AdapterParseError, match=r"missing output field\(s\) \['answer'\]"):
        parse(reply)
