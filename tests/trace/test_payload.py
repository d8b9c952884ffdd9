"""Payload snapshots: secrets never stored, sizes capped, odd objects made plain."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass

import pytest

from dspex_lab.testing.kinds import ev
from dspex_lab.trace import events, payload
from dspex_lab.trace.payload import MAX_PAYLOAD, MAX_TEXT, REDACTED, freeze, register_secret, thaw

SECRET = "sk-test-0123456789abcdefTRACE"


@pytest.fixture(autouse=True)
def _registered_secrets_restored(monkeypatch):
    """Secrets registered by a test are forgotten after it."""
    monkeypatch.setattr(payload, "_secrets", payload._secrets)
    monkeypatch.setattr(payload, "_secret_bytes", payload._secret_bytes)


def stored(body):
    return thaw(freeze(body)[0])


def test_a_plain_payload_round_trips_unchanged_and_is_not_copied():
    body = {"status": "ok", "n": 3, "ratio": 0.5, "flag": True, "none": None, "nested": {"xs": [1, 2, (3, 4)]}}
    blob, cleaned = freeze(body)
    assert cleaned is body
    assert thaw(blob) == body


def test_values_under_secret_keys_are_redacted_at_any_dict_depth():
    body = {
        "api_key": "abc",
        "params": {"temperature": 0, "Authorization": "Bearer xyz", "headers": {"x-api-key": "k"}},
        "messages": [{"role": "user", "content": "hi", "password": "hunter2"}],
        "OPENAI_API_KEY": "v",
        "prompt_tokens": 12,
    }
    clean = stored(body)
    assert clean["api_key"] == REDACTED
    assert clean["params"] == {"temperature": 0, "Authorization": REDACTED, "headers": {"x-api-key": REDACTED}}
    assert clean["messages"] == [{"role": "user", "content": "hi", "password": REDACTED}]
    assert clean["OPENAI_API_KEY"] == REDACTED
    assert clean["prompt_tokens"] == 12
    assert body["api_key"] == "abc", "the caller's payload is never modified"


def test_a_registered_secret_is_redacted_wherever_it_appears():
    register_secret(SECRET)
    body = {
        "error": f"401 from https://api.example/v1?key={SECRET}",
        "messages": [{"role": "user", "content": f"my key is {SECRET}!"}],
        "tuple": ("x", SECRET),
    }
    blob, clean = freeze(body)
    assert SECRET.encode() not in blob
    assert clean["error"] == f"401 from https://api.example/v1?key={REDACTED}"
    assert clean["messages"][0]["content"] == f"my key is {REDACTED}!"
    assert clean["tuple"] == ["x", REDACTED]


def test_short_values_are_not_registered_as_secrets():
    register_secret("abc")
    assert stored({"text": "abc abc"}) == {"text": "abc abc"}


def test_secrets_never_reach_the_store_or_a_listener(trace_store):
    register_secret(SECRET)
    seen = []
    events.subscribe(seen.append)
    events.emit(ev("lm.response", {"error": f"bad key {SECRET}", "params": {"api_key": SECRET}}), "lm:x/y")

    assert SECRET not in repr(trace_store.records())
    assert SECRET not in repr(seen)
    assert seen[0].payload == {"error": f"bad key {REDACTED}", "params": {"api_key": REDACTED}}


def test_keys_in_the_environment_are_registered_at_import():
    code = (
        "from dspex_lab.trace import events, schema\n"
        "from dspex_lab.trace.store import EventStore\n"
        "store = EventStore()\n"
        "with events.use_store(store):\n"
        "    events.emit(schema.LMRetry(attempt=1, delay_s=0, status=None, error='with sk-env-secret-value-42'), 'y')\n"
        "print(store.records()[0]['payload']['error'])\n"
    )
    env = {**os.environ, "MY_SERVICE_API_KEY": "sk-env-secret-value-42"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.strip() == f"with {REDACTED}"


def test_long_strings_are_cut_and_marked():
    clean = stored({"text": "x" * (MAX_TEXT + 10), "short": "ok"})
    assert clean["text"] == "x" * MAX_TEXT + "...[cut 10 chars]"
    assert clean["short"] == "ok"


def test_a_payload_over_the_size_cap_is_shortened_further():
    big = {"messages": [{"role": "user", "content": "y" * (MAX_TEXT - 1)} for _ in range(20)]}
    blob, clean = freeze(big)
    assert len(blob) <= MAX_PAYLOAD
    assert len(clean["messages"]) == 20
    assert clean["messages"][0]["content"].endswith("chars]")
    assert "shortened" in clean["_cut"]


def test_objects_marshal_cannot_encode_become_plain_data_or_their_repr():
    @dataclass
    class Usage:
        tokens: int

    class Dumps:
        def model_dump(self):
            return {"a": 1}

    class Mapping(dict):
        pass

    clean = stored({"usage": Usage(3), "model": Dumps(), "mapping": Mapping(k="v"), "set": {1}, 7: "int key"})
    assert clean["usage"].endswith("<locals>.Usage(tokens=3)")
    assert clean["model"] == {"a": 1}
    assert clean["mapping"] == {"k": "v"}
    assert clean["set"] == [1]
    assert clean["7"] == "int key"


def test_a_self_referencing_payload_is_kept_and_written_as_json_cut_at_the_nesting_limit():
    loop = []
    loop.append(loop)
    blob, _ = freeze({"loop": loop})
    back = thaw(blob)["loop"]
    assert back[0] is back

    written = json.loads(payload.to_json(blob))
    depth, value = 0, written["loop"]
    while isinstance(value, list):
        value, depth = value[0], depth + 1
    assert depth == payload._MAX_DEPTH - 1  # the payload dict itself is the first level
    assert "nested deeper than" in value


def test_thaw_reads_json_text_as_persisted_traces_hold_it():
    assert thaw('{"a": [1, 2]}') == {"a": [1, 2]}
    assert thaw(None) is None
