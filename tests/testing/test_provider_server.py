"""The loopback provider server: three wire formats, faults on demand, thread and process forms."""

from __future__ import annotations

import http.client
import json
import socket
import textwrap

import pytest

from dspex_lab.testing import ProviderServer

CHAT = {"model": "loop", "messages": [{"role": "user", "content": "one two three four five six"}]}
ANTHROPIC = {"model": "loop", "max_tokens": 50, "messages": CHAT["messages"]}
VERSION = {"anthropic-version": "2023-06-01"}
GEMINI_PATH = "/v1beta/models/loop:generateContent"
GEMINI = {"contents": [{"role": "user", "parts": [{"text": "one two three four five six"}]}]}


def test_answers_all_three_wire_formats_on_one_port(client, server):
    status, _, openai = client.post("/v1/chat/completions", CHAT)
    assert status == 200
    assert openai["choices"][0]["message"]["content"].startswith("Reply ")
    assert openai["usage"]["prompt_tokens"] == 6
    status, _, anthropic = client.post("/v1/messages", ANTHROPIC, VERSION)
    assert status == 200
    assert anthropic["content"][0]["type"] == "text"
    assert anthropic["stop_reason"] == "end_turn"
    status, _, gemini = client.post(GEMINI_PATH, GEMINI)
    assert status == 200
    assert gemini["candidates"][0]["finishReason"] == "STOP"
    assert [r["provider"] for r in server.requests()] == ["openai", "anthropic", "gemini"]


def test_token_limit_and_stop_sequences_are_reported_the_provider_way(client):
    _, _, limited = client.post("/v1/chat/completions", {**CHAT, "max_tokens": 2})
    assert limited["choices"][0]["finish_reason"] == "length"
    assert limited["usage"]["completion_tokens"] == 2
    _, _, stopped = client.post("/v1/messages", {**ANTHROPIC, "stop_sequences": [" to:"]}, VERSION)
    assert stopped["stop_reason"] == "stop_sequence"
    assert stopped["stop_sequence"] == " to:"
    assert " to:" not in stopped["content"][0]["text"]
    _, _, gemini = client.post(GEMINI_PATH, {**GEMINI, "generationConfig": {"maxOutputTokens": 1}})
    assert gemini["candidates"][0]["finishReason"] == "MAX_TOKENS"


def test_status_fault_uses_provider_error_body_and_retry_after(client, server):
    server.inject(429, count=1, retry_after=2)
    status, headers, body = client.post("/v1/messages", ANTHROPIC, VERSION)
    assert status == 429
    assert headers["retry-after"] == "2"
    assert body["error"]["type"] == "rate_limit_error"
    status, _, _ = client.post("/v1/messages", ANTHROPIC, VERSION)
    assert status == 200


def test_gemini_rate_limit_carries_retry_info(client, server):
    server.inject("429", retry_after=3)
    status, _, body = client.post(GEMINI_PATH, GEMINI)
    assert status == 429
    assert body["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert body["error"]["details"][0]["retryDelay"] == "3s"


def test_malformed_fault_is_a_200_whose_body_is_not_json(client, server):
    server.inject("malformed")
    status, _, body = client.post("/v1/chat/completions", CHAT)
    assert status == 200
    assert isinstance(body, bytes)
    with pytest.raises(json.JSONDecodeError):
        json.loads(body)


def test_truncated_fault_closes_the_connection_midway_through_the_body(server):
    server.inject("truncated")
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    connection.request("POST", "/v1/chat/completions", body=json.dumps(CHAT))
    response = connection.getresponse()
    with pytest.raises(http.client.IncompleteRead):
        response.read()
    connection.close()


def test_disconnect_fault_closes_without_a_reply(client, server):
    server.inject("disconnect")
    with pytest.raises(http.client.RemoteDisconnected):
        client.post("/v1/chat/completions", CHAT)


def test_slow_fault_holds_the_reply_past_a_client_timeout(server):
    server.inject("slow", delay=30)
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=0.2)
    connection.request("POST", "/v1/chat/completions", body=json.dumps(CHAT))
    with pytest.raises(socket.timeout):
        connection.getresponse()
    connection.close()


@pytest.mark.parametrize(
    ("path", "body", "headers", "read_stop"),
    [
        ("/v1/chat/completions", CHAT, {}, lambda b: b["choices"][0]["finish_reason"]),
        ("/v1/messages", ANTHROPIC, VERSION, lambda b: b["stop_reason"]),
        (GEMINI_PATH, GEMINI, {}, lambda b: b["candidates"][0]["finishReason"]),
    ],
)
def test_content_filter_fault_stops_the_reply_in_each_format(client, server, path, body, headers, read_stop):
    server.inject("content_filter")
    status, _, reply = client.post(path, body, headers)
    assert status == 200
    assert read_stop(reply) in ("content_filter", "refusal", "SAFETY")


def test_standing_rule_and_clear(client, server):
    server.every(503, 2)
    statuses = [client.post("/v1/chat/completions", CHAT)[0] for _ in range(4)]
    assert statuses == [200, 503, 200, 503]
    server.clear_faults()
    assert client.post("/v1/chat/completions", CHAT)[0] == 200


def test_required_key_mismatch_gets_the_provider_auth_error_with_a_masked_key(client_for):
    with ProviderServer(api_key="sk-right-key-0000") as server:
        client = client_for(server.port)
        status, _, body = client.post("/v1/chat/completions", CHAT, {"Authorization": "Bearer sk-wrong-key-1234"})
        assert status == 401
        assert "sk-wrong-key-1234" not in body["error"]["message"]
        assert body["error"]["message"].startswith("Incorrect API key provided: sk-********1234")
        status, _, _ = client.post("/v1/chat/completions", CHAT, {"Authorization": "Bearer sk-right-key-0000"})
        assert status == 200


def test_invalid_requests_get_400_in_the_provider_shape(client):
    status, _, body = client.post("/v1/messages", {"model": "m", "messages": CHAT["messages"]}, VERSION)
    assert status == 400
    assert body["error"] == {"type": "invalid_request_error", "message": "max_tokens: Field required"}
    status, _, body = client.post("/v1/chat/completions", b"{not json")
    assert status == 400
    assert "parse the JSON body" in body["error"]["message"]


def test_unknown_path_names_the_paths_served(client):
    status, _, body = client.post("/v1/embeddings", {})
    assert status == 404
    assert "/v1/chat/completions" in body["error"]["message"]


def test_custom_responder_callable_and_a_failing_one(client_for):
    with ProviderServer(responder=lambda request: f"oracle saw {len(request.messages)}") as server:
        _, _, body = client_for(server.port).post("/v1/chat/completions", CHAT)
        assert body["choices"][0]["message"]["content"] == "oracle saw 1"

    def broken(request):
        raise KeyError("boom")

    with ProviderServer(responder=broken) as server:
        status, _, body = client_for(server.port).post("/v1/chat/completions", CHAT)
        assert status == 500
        assert "KeyError" in body["error"]["message"]


def test_spawned_server_takes_a_dotted_responder_and_faults_over_its_control_endpoint(
    tmp_path, monkeypatch, client_for
):
    (tmp_path / "my_oracle.py").write_text(
        textwrap.dedent(
            """
            def answer(request):
                return "oracle: " + request.last_user_message.upper()
            """
        )
    )
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    with ProviderServer.spawn(responder="my_oracle:answer") as server:
        client = client_for(server.port)
        server.inject(500, count=1, message="planned outage")
        status, _, body = client.post("/v1/chat/completions", CHAT)
        assert status == 500
        assert body["error"]["message"] == "planned outage"
        _, _, body = client.post("/v1/chat/completions", CHAT)
        assert body["choices"][0]["message"]["content"] == "oracle: ONE TWO THREE FOUR FIVE SIX"
        assert server.served == 2
        assert [r["fault"] for r in server.requests()] == ["500", None]
        with pytest.raises(ValueError, match="known kinds"):
            server.inject("418")
        server.reset()
        assert server.requests() == []


# -- faults for reliability tests -------------------------------------------------------------------

CHAT = {"model": "m", "messages": [{"role": "user", "content": "one two three four five six"}]}


def test_an_echo_fault_answers_200_with_the_request_headers_as_a_proxy_would(client, server):
    server.inject("echo")
    status, _, body = client.post("/v1/chat/completions", CHAT, {"Authorization": "Bearer sk-echoed-1234"})
    assert status == 200
    assert body["echo"]["headers"]["authorization"] == "Bearer sk-echoed-1234"
    server.inject("echo_html")
    status, head, page = client.post("/v1/chat/completions", CHAT, {"Authorization": "Bearer sk-echoed-1234"})
    assert (status, head["content-type"]) == (200, "text/html")
    assert b"authorization: Bearer sk-echoed-1234" in page


def test_a_huge_fault_sends_a_reply_of_the_asked_size(client, server):
    server.inject("huge", size=3_000_000)
    status, _, body = client.post("/v1/chat/completions", CHAT)
    assert status == 200
    assert len(body["choices"][0]["message"]["content"]) == 3_000_000


def test_a_length_fault_cuts_the_reply_in_half_with_finish_reason_length(client, server):
    _, _, whole = client.post("/v1/chat/completions", CHAT)
    server.inject("length")
    _, _, cut = client.post("/v1/chat/completions", CHAT)
    full, half = whole["choices"][0]["message"]["content"], cut["choices"][0]["message"]["content"]
    assert cut["choices"][0]["finish_reason"] == "length"
    assert full.startswith(half)
    assert len(half.split()) == len(full.split()) // 2


def test_an_outage_answers_every_request_with_the_status_until_the_server_clock_passes_it(client, server):
    now = [100.0]
    server.clock = lambda: now[0]
    server.outage(5, status=503)
    assert [client.post("/v1/chat/completions", CHAT)[0] for _ in range(3)] == [503, 503, 503]
    now[0] = 105.0
    assert client.post("/v1/chat/completions", CHAT)[0] == 200
    assert [record["at"] for record in server.requests()] == [100.0] * 3 + [105.0]


def test_the_spawned_server_takes_an_outage_too(client_for):
    with ProviderServer.spawn() as remote:
        remote.outage(60)
        during = client_for(remote.port).post("/v1/chat/completions", CHAT)[0]
        remote.clear_faults()
        assert (during, client_for(remote.port).post("/v1/chat/completions", CHAT)[0]) == (503, 200)
