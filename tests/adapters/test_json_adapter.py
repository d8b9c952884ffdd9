"""JSONAdapter: asks for one JSON object (structured output when the LM has it) and reads it leniently."""

import json

import pytest

import dspex_lab as dx

QA = dx.Signature.parse("question -> answer, confidence: float")


def test_the_prompt_describes_outputs_as_a_json_object():
    messages = dx.JSONAdapter().format(QA, [], {"question": "Capital of Peru?"})
    system, user = messages[0]["content"], messages[-1]["content"]
    assert "Outputs will be a JSON object with the following fields." in system
    assert '"answer": "{answer}"' in system
    assert user.endswith(
        "Respond with a JSON object in the following order of fields: `answer`, then `confidence` "
        "(must be formatted as a valid Python float)."
    )


def test_demo_replies_are_json():
    demo = dx.Example(question="2+2?", answer="4", confidence=1.0)
    messages = dx.JSONAdapter().format(QA, [demo], {"question": "3+3?"})
    assert json.loads(messages[2]["content"]) == {"answer": "4", "confidence": 1.0}


def test_structured_output_is_requested_with_a_strict_schema_when_supported():
    kwargs = dx.JSONAdapter().lm_kwargs(QA, supports_structured_output=True)
    schema = kwargs["response_format"]["json_schema"]["schema"]
    assert kwargs["response_format"]["type"] == "json_schema"
    assert schema["required"] == ["answer", "confidence"]
    assert schema["properties"]["confidence"]["type"] == "number"
    assert schema["additionalProperties"] is False


def test_without_structured_output_a_json_object_is_requested():
    assert dx.JSONAdapter().lm_kwargs(QA, supports_structured_output=False) == {
        "response_format": {"type": "json_object"}
    }


@pytest.mark.parametrize(
    "reply",
    [
        '{"answer": "Lima", "confidence": 0.9}',
        'Here you go:\n```json\n{"answer": "Lima", "confidence": "0.9"}\n```',
        "{'answer': 'Lima', 'confidence': 0.9, 'extra': 1}",
        '{"answer": "Lima", "confidence": 0.9,}',
    ],
)
def test_replies_are_read_leniently(reply):
    assert dx.JSONAdapter().parse(QA, reply) == {"answer": "Lima", "confidence": 0.9}


def test_braces_inside_strings_do_not_confuse_the_reader():
    reply = 'noise {"answer": "a } b", "confidence": 0.1} trailing'
    assert dx.JSONAdapter().parse(QA, reply) == {"answer": "a } b", "confidence": 0.1}


def test_no_json_object_is_a_parse_error_with_the_raw_text():
    with pytest.raises(dx.AdapterParseError) as info:
        dx.JSONAdapter().parse(QA, "Lima, I am sure")
    assert info.value.raw == "Lima, I am sure"
    assert info.value.adapter == "JSONAdapter"


def test_a_missing_key_is_a_parse_error():
    with pytest.raises(dx.AdapterParseError, match=r"missing output field\(s\) \['confidence'\]"):
        dx.JSONAdapter().parse(QA, '{"answer": "Lima"}')
