"""History: each LM keeps its last exchanges; dx.inspect_history shows the process's last ones readably."""

from __future__ import annotations

import io

import dspex_lab as dx


def test_inspect_history_shows_model_messages_reply_and_how_it_was_obtained(server):
    lm = dx.LM("openai/loop", api_base=server.url)
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is 2+2?"}]
    lm(messages, temperature=0.0)
    lm(messages, temperature=0.0)
    out = io.StringIO()
    dx.inspect_history(2, file=out)
    text = out.getvalue()
    assert text.count("openai/loop") == 2
    assert "cache hit" in text
    assert "params: temperature=0.0" in text
    assert "System message:\n\nBe brief." in text
    assert "User message:\n\nWhat is 2+2?" in text
    assert "Response:\n\nReply " in text


def test_history_of_one_lm_and_of_the_whole_process(server):
    first = dx.LM("openai/first", api_base=server.url)
    second = dx.LM("openai/second", api_base=server.url)
    first("one")
    second("two")
    out = io.StringIO()
    dx.inspect_history(1, lm=first, file=out)
    assert "openai/first" in out.getvalue()
    assert "openai/second" not in out.getvalue()
    out = io.StringIO()
    dx.inspect_history(1, file=out)
    assert "openai/second" in out.getvalue()
    assert len(first.history) == 1


def test_a_structured_output_request_is_shown_without_its_schema(server):
    lm = dx.LM("openai/loop", api_base=server.url)
    lm("q", response_format={"type": "json_object"})
    out = io.StringIO()
    dx.inspect_history(1, lm=lm, file=out)
    assert "response_format=..." in out.getvalue()


def test_no_calls_yet_says_so():
    out = io.StringIO()
    dx.inspect_history(0, file=out)
    assert out.getvalue() == "No LM calls yet.\n"
