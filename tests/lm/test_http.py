"""What every HTTP provider shares: unreadable replies, dropped connections, keys and error text."""

from __future__ import annotations

import email.utils
import time

import pytest

import dspex_lab as dx
from dspex_lab.errors import ConfigurationError, LMError
from dspex_lab.lm.http import _retry_after
from dspex_lab.testing import ProviderServer
from dspex_lab.testing.http_server import Request, Response

KEY = "sk-http-test-key-9876543210"


def make_lm(server, **kwargs):
    return dx.LM("openai/loop", api_base=server.url, api_key=KEY, cache=False, **kwargs)


def test_a_malformed_reply_is_a_clear_error_raised_at_once(server, record_waits):
    lm = make_lm(server)
    waits = record_waits(lm)
    server.inject("malformed")
    with pytest.raises(LMError, match=r"answered 200 with a body that is not JSON.*check that api_base") as info:
        lm("hi")
    assert info.value.status == 200
    assert waits == []
    assert server.served == 1


def test_a_truncated_reply_is_retried_and_then_succeeds(server, record_waits):
    lm = make_lm(server)
    waits = record_waits(lm)
    server.inject("truncated")
    assert lm("hi").text.startswith("Reply ")
    assert len(waits) == 1


def test_a_reply_truncated_every_time_ends_in_a_clear_error(server, record_waits):
    lm = make_lm(server, num_retries=1)
    record_waits(lm)
    server.inject("truncated", count=5)
    with pytest.raises(LMError, match=r"sent a cut-off reply: the connection closed after \d+ of \d+ bytes") as info:
        lm("hi")
    assert "gave up after 2 attempts" in str(info.value)
    assert info.value.retryable


def test_a_dropped_connection_is_retried(server, record_waits):
    lm = make_lm(server)
    record_waits(lm)
    server.inject("disconnect")
    assert lm("hi").text.startswith("Reply ")
    assert server.served == 2


class WrongShapeServer(ProviderServer):
    """Answers 200 with JSON that is not in the OpenAI format."""

    def handle(self, request: Request) -> Response:
        return Response(200, b'{"result": "not what a chat completion looks like"}')


def test_a_reply_of_the_wrong_shape_names_what_is_missing():
    with WrongShapeServer() as server:
        with pytest.raises(LMError, match="answered 200 but the reply lacks the field 'choices'") as info:
            make_lm(server)("hi")
        assert info.value.status == 200


def test_an_unreachable_server_is_named_in_the_error(record_waits):
    lm = dx.LM("openai/loop", api_base="http://127.0.0.1:9", num_retries=1, cache=False)
    record_waits(lm)
    with pytest.raises(LMError, match=r"openai at http://127.0.0.1:9/chat/completions could not be reached"):
        lm("hi")


def test_a_provider_message_echoing_the_key_is_redacted(server):
    server.inject(401, message=f"Incorrect API key provided: {KEY}.")
    with pytest.raises(LMError) as info:
        make_lm(server)("hi")
    assert KEY not in str(info.value)
    assert "Incorrect API key provided: [redacted]" in str(info.value)
    assert "check the API key (api_key= or OPENAI_API_KEY)" in str(info.value)


def test_a_missing_key_for_the_public_endpoint_says_where_to_put_it(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(
        ConfigurationError, match=r"no API key for openai/gpt-4o-mini: pass api_key=\.\.\. or set OPENAI_API_KEY"
    ):
        dx.LM("openai/gpt-4o-mini")("hi")


def test_a_key_set_in_the_environment_after_the_lm_was_made_is_used(server, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    lm = dx.LM("openai/loop", api_base=server.url, cache=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-late-env-key-4321")
    lm("hi")
    assert server.requests()[-1]["headers"]["authorization"] == "Bearer sk-late-env-key-4321"


def test_a_local_server_needs_no_key(server, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    dx.LM("openai/loop", api_base=server.url, cache=False)("hi")
    assert "authorization" not in server.requests()[-1]["headers"]


def test_extra_headers_are_sent(server):
    make_lm(server, headers={"X-Team": "lab"})("hi")
    assert server.requests()[-1]["headers"]["x-team"] == "lab"


def test_bad_construction_is_refused_with_the_fix():
    with pytest.raises(ConfigurationError, match="must start with http"):
        dx.LM("openai/m", api_base="localhost:8000")
    with pytest.raises(ValueError, match="timeout"):
        dx.LM("openai/m", api_key="k", timeout=0)


def test_retry_after_is_read_in_seconds_milliseconds_or_as_a_date():
    assert _retry_after({"retry-after": "3"}) == 3.0
    assert _retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    soon = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 <= _retry_after({"retry-after": soon}) <= 31
    assert _retry_after({"retry-after": "not a time"}) is None
    assert _retry_after({}) is None
