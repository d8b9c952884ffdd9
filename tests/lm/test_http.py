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

pytestmark = pytest.mark.usefixtures("each_transport")

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


class EmptyChoicesServer(ProviderServer):
    """Answers 200 with an OpenAI body whose choices list is empty."""

    def handle(self, request: Request) -> Response:
        return Response(200, b'{"id": "x", "choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 0}}')


def test_an_empty_choices_list_is_named_as_such():
    with (
        EmptyChoicesServer() as server,
        pytest.raises(LMError, match=r"lacks an entry \(an empty list, such as choices: \[\]\)"),
    ):
        make_lm(server, num_retries=0)("hi")


def test_a_reply_over_the_size_limit_is_refused_naming_the_limit(server):
    lm = make_lm(server, num_retries=0, max_reply_bytes=100_000)
    server.inject("huge", size=2_000_000)
    with pytest.raises(LMError, match=r"sent a reply larger than max_reply_bytes=100,000 .*announced") as info:
        lm("hi")
    assert "pass a larger max_reply_bytes= to dx.LM" in str(info.value)
    assert not info.value.retryable
    assert lm("hi").text.startswith("Reply ")  # the connection was dropped cleanly; the next call works


def test_the_default_size_limit_is_a_few_megabytes(server):
    lm = make_lm(server, num_retries=0)
    assert lm.max_reply_bytes == 4 * 1024 * 1024
    server.inject("huge", size=5_000_000)
    with pytest.raises(LMError, match="max_reply_bytes=4,194,304"):
        lm("hi")


def test_a_large_reply_under_the_limit_is_read_whole_and_history_keeps_an_excerpt(server):
    lm = make_lm(server, num_retries=0)
    server.inject("huge", size=1_000_000)
    reply = lm("hi")
    assert len(reply.text) == 1_000_000
    kept = lm.history[-1].response.text
    assert len(kept) < 25_000
    assert kept.endswith("[history keeps 20,000 of 1,000,000 characters]")


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


@pytest.mark.parametrize(
    ("options", "error", "complaint"),
    [
        ({"timeout": float("nan")}, ValueError, r"timeout must be a finite number of seconds > 0, got nan"),
        ({"rpm": 0}, ValueError, r"rpm must be a finite number of requests per minute > 0 or None, got 0"),
        ({"tpm": 0}, ValueError, r"tpm must be .* > 0 or None, got 0"),
        ({"rpm": float("nan")}, ValueError, r"rpm must be .*, got nan"),
        ({"rpm": "60"}, TypeError, r"rpm must be .*, got '60' \(str\)"),
        ({"num_retries": 1.5}, ValueError, r"num_retries must be a whole number >= 0, got 1.5 \(not a whole number\)"),
        ({"num_retries": "3"}, TypeError, r"num_retries must be a whole number >= 0, got '3' \(str\)"),
        ({"num_retries": True}, TypeError, r"num_retries must be .*, got True \(bool\)"),
        ({"circuit_cooldown": float("nan")}, ValueError, r"circuit_cooldown must be .*, got nan"),
        ({"circuit_cooldown": -1}, ValueError, r"circuit_cooldown must be a finite number of seconds >= 0, got -1"),
        ({"circuit_threshold": 0}, ValueError, r"circuit_threshold must be a whole number >= 1, got 0"),
        ({"max_reply_bytes": 0}, ValueError, r"max_reply_bytes must be a whole number >= 1, got 0"),
    ],
)
def test_absurd_numeric_options_are_refused_naming_the_argument(options, error, complaint):
    with pytest.raises(error, match=complaint):
        dx.LM("openai/m", api_key="k", **options)


def test_retry_after_is_read_in_seconds_milliseconds_or_as_a_date():
    assert _retry_after({"retry-after": "3"}) == 3.0
    assert _retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    soon = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 <= _retry_after({"retry-after": soon}) <= 31
    assert _retry_after({"retry-after": "not a time"}) is None
    assert _retry_after({}) is None
