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
from dspex_lab.trace.persist import save as save_trace

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
        save_trace(tmp_path / "trace.parquet", store=trace_store)
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


# -- every path an echoed key could take ---------------------------------------------------------------

SHORT_KEY = "sk-ab12"  # too short to register: only the patterns and the LM's own key catch it


@pytest.mark.parametrize("kind", ["echo", "echo_html"])
@pytest.mark.parametrize("key", [FAKE_KEY, SHORT_KEY])
def test_a_200_reply_echoing_the_authorization_header_never_shows_the_key(server, kind, key):
    lm = dx.LM("openai/loop", api_base=server.url, api_key=key, num_retries=0, cache=False)
    server.inject(kind)
    with pytest.raises(LMError, match="answered 200") as failure:
        lm(QUESTION)
    assert server.requests()[-1]["headers"]["authorization"] == f"Bearer {key}"
    assert key not in str(failure.value)
    assert "[redacted]" in str(failure.value)


def test_the_open_circuit_message_quotes_the_last_error_redacted(server):
    lm = dx.LM("openai/loop", api_base=server.url, api_key=SHORT_KEY, num_retries=0, circuit_threshold=1)
    server.inject("echo")
    with pytest.raises(LMError):
        lm(QUESTION, cache=False)
    with pytest.raises(dx.CircuitOpenError, match=r"\(last: LMError: .*\[redacted\]") as failure:
        lm(QUESTION, cache=False)
    assert SHORT_KEY not in str(failure.value)


def test_an_echoed_key_reaches_neither_the_result_nor_the_run_store_file(server, tmp_path):
    lm = dx.LM("openai/loop", api_base=server.url, api_key=SHORT_KEY, num_retries=0, cache=False)
    program = dx.Predict("question -> answer", lm=lm)
    devset = [dx.Example(question=f"q{i}", answer="a").with_inputs("question") for i in range(3)]
    server.every("echo", 1)
    db = tmp_path / "runs.sqlite3"
    result = dx.evaluate(program, devset, lambda e, p: 1.0, run_id="echo", db_path=db, progress=False)
    assert len(result.errors) == 3
    assert SHORT_KEY not in result.to_json()
    assert "[redacted]" in result.errors[0].error
    assert SHORT_KEY.encode() not in b"".join(path.read_bytes() for path in tmp_path.iterdir())


def test_a_key_echoed_inside_a_valid_reply_is_not_cached_or_returned(server, tmp_path):
    server.responder = lambda request: f"you sent {FAKE_KEY}"
    with dx.context(cache_dir=str(tmp_path)):
        reply = dx.LM("openai/loop", api_base=server.url, api_key=FAKE_KEY)(QUESTION)
    assert reply.text == "you sent [redacted]"
    assert FAKE_KEY.encode() not in b"".join(path.read_bytes() for path in tmp_path.iterdir())


@pytest.mark.parametrize(
    "text",
    [
        '{"authorization": "Bearer sk-proj-0123"}',
        "Authorization: Bearer abcdef.123456",
        "x-api-key: sk-ant-api03-xyz",
        "x-goog-api-key=AIzaSyExample123",
    ],
)
def test_redaction_removes_what_follows_credential_markers(text):
    cleaned = redact_text(text)
    assert "[redacted]" in cleaned
    assert not any(part in cleaned for part in ("sk-proj-0123", "abcdef.123456", "sk-ant-api03-xyz", "AIzaSyExample"))


def test_redaction_leaves_hints_about_keys_alone():
    hint = "check the API key (api_key= or $OPENAI_API_KEY)"
    assert redact_text(hint) == hint


def test_a_placeholder_key_too_short_to_be_secret_leaves_replies_alone(server):
    server.responder = lambda request: "xxxx xx x"
    assert dx.LM("openai/loop", api_base=server.url, api_key="x", cache=False)(QUESTION).text == "xxxx xx x"
