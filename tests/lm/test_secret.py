"""API keys reach the provider's header and nothing else: no file, repr, event, error or pickle."""

from __future__ import annotations

import asyncio
import copy
import json
import pickle

import pytest

import dspex_lab as dx
from dspex_lab.errors import LMError
from dspex_lab.lm.secret import Secret, redact_text, resolve_key

FAKE_KEY = "sk-FAKE-never-leak-5f3e9a7c1b2d"
QUESTION = [{"role": "user", "content": "What is the capital of France?"}]
HEADER = {"openai": "authorization", "anthropic": "x-api-key", "gemini": "x-goog-api-key"}


@pytest.mark.parametrize("provider", ["openai", "anthropic", "gemini"])
def test_a_fake_key_is_found_in_no_file_repr_event_or_error(provider, server, tmp_path, trace_store, capsys):
    with dx.context(cache_dir=str(tmp_path / "cache")):
        lm = dx.LM(f"{provider}/loop", api_base=server.url, api_key=FAKE_KEY, price=(1.0, 1.0))
        first = lm(QUESTION)
        hit = lm(QUESTION)
        asyncio.run(lm.acall("an async call"))
        server.inject(401, message=f"Incorrect API key provided: {FAKE_KEY}")
        with pytest.raises(LMError) as failure:
            lm("a call the provider refuses", cache=False)
        teacher = lm.copy(temperature=1.0)
        teacher("a teacher call")
        dx.inspect_history(10)
        pickled = pickle.dumps(lm)
        trace_store.save(tmp_path / "trace.parquet")
    assert hit.cache_hit
    assert server.requests()[0]["headers"][HEADER[provider]].endswith(FAKE_KEY)

    seen = [
        repr(lm),
        str(lm),
        repr(teacher),
        repr(vars(lm)),
        repr(first),
        repr(hit),
        repr(list(lm.history)),
        str(failure.value),
        repr(failure.value),
        capsys.readouterr().out,
        json.dumps(trace_store.records(), default=str),
    ]
    for text in seen:
        assert FAKE_KEY not in text
    assert FAKE_KEY.encode() not in pickled
    files = [path for path in tmp_path.rglob("*") if path.is_file()]
    assert any(path.name.startswith("lm_cache.sqlite3") for path in files)
    for path in files:
        assert FAKE_KEY.encode() not in path.read_bytes(), path


def test_a_key_from_the_environment_stays_out_of_reprs_and_pickles(server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    lm = dx.LM("openai/loop", api_base=server.url)
    lm("hi")
    assert FAKE_KEY not in repr(lm) + repr(vars(lm))
    assert FAKE_KEY.encode() not in pickle.dumps(lm)
    assert server.requests()[-1]["headers"]["authorization"] == f"Bearer {FAKE_KEY}"


def test_a_secret_shows_a_placeholder_and_is_revealed_only_on_request():
    secret = Secret(FAKE_KEY)
    assert repr(secret) == str(secret) == "Secret('**********')"
    assert f"{secret}" == "Secret('**********')"
    assert secret.reveal() == FAKE_KEY
    assert copy.deepcopy(secret) is secret


def test_pickling_a_secret_keeps_only_the_variable_it_came_from(monkeypatch):
    monkeypatch.setenv("MY_PROVIDER_KEY", FAKE_KEY)
    from_env = resolve_key(None, ["MY_PROVIDER_KEY"])
    assert from_env.source == "$MY_PROVIDER_KEY"
    assert pickle.loads(pickle.dumps(from_env)).reveal() == FAKE_KEY
    assert pickle.loads(pickle.dumps(Secret(FAKE_KEY))) is None


def test_an_explicit_key_wins_over_the_environment_and_the_first_set_variable_wins(monkeypatch):
    monkeypatch.setenv("FIRST_KEY", "first-key-value")
    monkeypatch.setenv("SECOND_KEY", "second-key-value")
    assert resolve_key("explicit-key-value", ["FIRST_KEY"]).reveal() == "explicit-key-value"
    assert resolve_key(None, ["MISSING_KEY", "SECOND_KEY", "FIRST_KEY"]).reveal() == "second-key-value"
    assert resolve_key(None, ["MISSING_KEY"]) is None


def test_redact_replaces_every_occurrence():
    assert (
        redact_text(f"bad key {FAKE_KEY}, again {FAKE_KEY}", Secret(FAKE_KEY)) == "bad key [redacted], again [redacted]"
    )
    assert redact_text("nothing to hide", None) == "nothing to hide"
