"""The default responder answers ChatAdapter and JSON prompts deterministically."""

from __future__ import annotations

import json

import pytest

from dspex_lab.testing.responders import default_responder, load_responder
from dspex_lab.testing.wire import ProviderRequest

SYSTEM = "Your output fields are:\n1. `reasoning` (str)\n2. `answer` (int): the number"
INSTRUCTION = (
    "Respond with the corresponding output fields, starting with the field `[[ ## reasoning ## ]]`, "
    "then `[[ ## answer ## ]]` (must be formatted as a valid Python int), and then ending with the "
    "marker for `[[ ## completed ## ]]`."
)


def chat_request(question: str) -> ProviderRequest:
    user = f"[[ ## question ## ]]\n{question}\n\n{INSTRUCTION}"
    return ProviderRequest("openai", "m", [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}])


def test_chat_adapter_prompt_gets_each_output_field_then_completed():
    reply = default_responder(chat_request("What is 2+2?"))
    sections = reply.split("\n\n")
    assert sections[0].startswith("[[ ## reasoning ## ]]\n")
    assert sections[1].startswith("[[ ## answer ## ]]\n")
    assert sections[1].split("\n")[1].isdigit()
    assert sections[-1] == "[[ ## completed ## ]]"
    assert "question" not in reply


def test_same_prompt_same_reply_and_different_prompts_differ():
    assert default_responder(chat_request("a")) == default_responder(chat_request("a"))
    assert default_responder(chat_request("a")) != default_responder(chat_request("b"))


def test_json_schema_request_gets_an_object_of_the_schema_types():
    schema = {
        "type": "object",
        "properties": {
            "answer": {"type": "integer"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "kind": {"$ref": "#/$defs/Kind"},
            "note": {"anyOf": [{"type": "null"}, {"type": "string"}]},
        },
        "$defs": {"Kind": {"enum": ["cat", "dog"]}},
    }
    request = ProviderRequest("openai", "m", [{"role": "user", "content": "q"}], json_mode=True, json_schema=schema)
    value = json.loads(default_responder(request))
    assert isinstance(value["answer"], int)
    assert isinstance(value["tags"], list)
    assert isinstance(value["tags"][0], str)
    assert value["kind"] == "cat"
    assert isinstance(value["note"], str)


def test_json_object_prompt_without_schema_uses_the_named_fields():
    user = "[[ ## question ## ]]\nq\n\nRespond with a JSON object in the following order of fields: `answer`."
    request = ProviderRequest("openai", "m", [{"role": "user", "content": user}], json_mode=True)
    assert list(json.loads(default_responder(request))) == ["answer"]


def test_plain_prompt_gets_a_short_sentence():
    reply = default_responder(ProviderRequest("openai", "m", [{"role": "user", "content": "hello"}]))
    assert reply.startswith("Reply ")
    assert reply.endswith("hello")


def test_load_responder_imports_a_dotted_path_and_explains_bad_ones():
    assert load_responder("dspex_lab.testing.responders:default_responder") is default_responder
    with pytest.raises(ValueError, match=r"package\.module:function"):
        load_responder("no_colon")
    with pytest.raises(ValueError, match="cannot import"):
        load_responder("no_such_module_xyz:f")
    with pytest.raises(ValueError, match="no callable"):
        load_responder("dspex_lab.testing.responders:nothing")
