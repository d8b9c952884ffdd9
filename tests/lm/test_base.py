"""The one pipeline around every provider: cache, retries, circuit breaker, trace, usage, copies.

Driven through the real OpenAI client against the loopback server; the same
pipeline serves every provider.
"""

from __future__ import annotations

import asyncio
import copy
import pickle
import signal
import subprocess
import sys
import textwrap
import threading

import pytest

import dspex_lab as dx
from dspex_lab.errors import CircuitOpenError, LMError
from dspex_lab.loop import run_sync

KEY = "sk-test-key-0123456789"
QUESTION = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is 2+2?"}]


def make_lm(server, **kwargs) -> dx.BaseLM:
    return dx.LM("openai/loop", api_base=server.url, api_key=KEY, **kwargs)


def lm_events(store) -> list[dict]:
    return [r for r in store.records() if r["kind"].startswith("lm.")]


# -- calls --------------------------------------------------------------------------------------------


def test_sync_and_async_calls_give_the_same_reply(server):
    lm = make_lm(server, cache=False)
    sync = lm(QUESTION)
    async_ = asyncio.run(lm.acall(QUESTION))
    assert sync.text == async_.text
    assert sync.text.startswith("Reply ")
    assert sync.usage.calls == 1
    assert sync.finish_reason == "stop"
    assert sync.model == "openai/loop"
    assert not sync.cache_hit


def test_a_prompt_string_is_one_user_message(server):
    make_lm(server)("hello")
    assert server.requests()[-1]["body"]["messages"] == [{"role": "user", "content": "hello"}]


@pytest.mark.parametrize(
    ("messages", "complaint"),
    [
        ([], "non-empty list"),
        ({"role": "user", "content": "x"}, "non-empty list"),
        ([{"role": "robot", "content": "x"}], r"messages\[0\] must be a dict with 'role'"),
        ([{"role": "user"}], r"messages\[0\]"),
    ],
)
def test_malformed_messages_are_refused_before_any_request(server, messages, complaint):
    with pytest.raises(TypeError, match=complaint):
        make_lm(server)(messages)
    assert server.served == 0


def test_client_options_never_reach_the_provider_and_cannot_be_set_per_call(server):
    lm = make_lm(server, temperature=0.0)
    lm(QUESTION, cache=False, rollout_id=7, max_tokens=20)
    body = server.requests()[-1]["body"]
    assert body == {"model": "loop", "messages": QUESTION, "temperature": 0.0, "max_tokens": 20}
    with pytest.raises(TypeError, match=r"\['api_key'\] are set when the LM is made"):
        lm(QUESTION, api_key="sk-other")


def test_a_sync_call_works_inside_a_running_event_loop_like_a_notebook_cell(server):
    lm = make_lm(server)

    async def cell():
        return lm(QUESTION).text

    assert asyncio.run(cell()).startswith("Reply ")


def test_five_hundred_requests_in_flight_at_once_all_succeed():
    from dspex_lab.testing import ProviderServer

    with ProviderServer(latency=0.2) as slow_server:
        lm = dx.LM("openai/loop", api_base=slow_server.url, cache=False)

        async def flood():
            return await asyncio.gather(*(lm.acall(f"question {i}") for i in range(500)))

        replies = asyncio.run(flood())
        assert len({reply.text for reply in replies}) == 500
        assert slow_server.served == 500


# -- cache --------------------------------------------------------------------------------------------


def test_a_repeated_call_is_a_cache_hit_with_the_stored_usage(server):
    lm = make_lm(server, price=(1.0, 2.0))
    first = lm(QUESTION)
    second = lm(QUESTION)
    assert server.served == 1
    assert second.cache_hit
    assert second.text == first.text
    assert (second.usage.prompt_tokens, second.usage.completion_tokens) == (
        first.usage.prompt_tokens,
        first.usage.completion_tokens,
    )
    assert (second.usage.calls, second.usage.cache_hits) == (1, 1)
    assert first.usage.cost > 0
    assert second.usage.cost == 0.0


def test_sync_and_async_calls_share_the_cache(server):
    lm = make_lm(server)
    lm(QUESTION)
    assert asyncio.run(lm.acall(QUESTION)).cache_hit


def test_the_cache_can_be_turned_off_per_lm_and_per_call(server):
    make_lm(server, cache=False)(QUESTION)
    make_lm(server, cache=False)(QUESTION)
    assert server.served == 2
    lm = make_lm(server)
    lm(QUESTION)
    assert not lm(QUESTION, cache=False).cache_hit
    assert server.served == 4


def test_a_new_rollout_id_asks_for_a_fresh_sample_that_is_cached_in_turn(server):
    lm = make_lm(server)
    lm(QUESTION)
    assert not lm(QUESTION, rollout_id=1).cache_hit
    assert lm(QUESTION, rollout_id=1).cache_hit
    assert server.served == 2


def test_the_key_leaves_out_the_api_key_and_api_base(server):
    dx.LM("openai/loop", api_base=server.url, api_key="sk-first-key-aaaa")(QUESTION)
    again = dx.LM("openai/loop", api_base=server.url + "/v1", api_key="sk-second-key-bbbb")(QUESTION)
    assert again.cache_hit


def test_a_cache_hit_is_served_in_the_calling_thread(server):
    lm = make_lm(server)
    lm(QUESTION)

    async def from_the_loop_thread():
        hit = lm(QUESTION)  # a miss would need the loop this code is running on
        with pytest.raises(RuntimeError, match="use the async form"):
            lm("not cached yet")
        return hit

    assert run_sync(from_the_loop_thread()).cache_hit


def test_cached_replies_survive_into_another_process(server, tmp_path):
    with dx.context(cache_dir=str(tmp_path)):
        make_lm(server)(QUESTION)
    script = textwrap.dedent(
        f"""
        import dspex_lab as dx
        dx.configure(cache_dir={str(tmp_path)!r})
        lm = dx.LM("openai/loop", api_base={server.url!r}, api_key="sk-elsewhere-0000")
        print(lm({QUESTION!r}).cache_hit)
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "True"
    assert server.served == 1


def test_nothing_is_written_at_import_or_when_an_lm_is_made(tmp_path):
    script = textwrap.dedent(
        """
        import dspex_lab as dx
        dx.LM("openai/gpt-4o-mini", api_key="sk-unused-000000")
        dx.LM("anthropic/claude-3-5-haiku-latest", api_key="sk-unused-000000")
        dx.LM("gemini/gemini-2.0-flash", api_key="unused-000000")
        """
    )
    env = {"HOME": str(tmp_path / "home"), "DSPEX_CACHE_DIR": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin"}
    subprocess.run([sys.executable, "-c", script], env=env, check=True)
    assert not (tmp_path / "cache").exists()
    assert not (tmp_path / "home").exists()


# -- retries ------------------------------------------------------------------------------------------


def test_429_is_retried_after_the_wait_the_provider_asked_for(server, record_waits, trace_store):
    lm = make_lm(server)
    waits = record_waits(lm)
    server.inject(429, retry_after=1)
    assert lm(QUESTION).text.startswith("Reply ")
    assert waits == [1.0]
    assert server.served == 2
    retry = next(e for e in lm_events(trace_store) if e["kind"] == "lm.retry")
    assert retry["payload"]["status"] == 429
    assert retry["payload"]["delay_s"] == 1.0
    response = next(e for e in lm_events(trace_store) if e["kind"] == "lm.response")
    assert response["payload"]["attempts"] == 2


@pytest.mark.parametrize("status", [500, 503, 529])
def test_server_errors_are_retried_with_growing_backoff(server, record_waits, status):
    lm = make_lm(server)
    waits = record_waits(lm)
    server.inject(status, count=2)
    assert lm(QUESTION).text.startswith("Reply ")
    assert len(waits) == 2
    assert 0.25 <= waits[0] <= 0.5
    assert 0.5 <= waits[1] <= 1.0


def test_retries_are_bounded_and_the_error_says_so(server, record_waits):
    lm = make_lm(server, num_retries=2)
    record_waits(lm)
    server.inject(503, count=10, message="The engine is currently overloaded")
    with pytest.raises(LMError, match=r"overloaded.*gave up after 3 attempts") as info:
        lm(QUESTION)
    assert info.value.status == 503
    assert server.served == 3


def test_a_reply_slower_than_the_timeout_is_abandoned_and_retried(server, record_waits):
    lm = make_lm(server, timeout=0.2)
    waits = record_waits(lm)
    server.inject("slow", delay=30)
    assert lm(QUESTION).text.startswith("Reply ")
    assert len(waits) == 1


@pytest.mark.parametrize(
    ("status", "provider_message"),
    [
        (400, "Invalid value for 'temperature'"),
        (401, "Incorrect API key provided"),
        (403, "Project does not have access to model"),
        (404, "The model `loop` does not exist"),
    ],
)
def test_client_errors_are_raised_at_once_with_the_provider_message(server, record_waits, status, provider_message):
    lm = make_lm(server)
    waits = record_waits(lm)
    server.inject(status, message=provider_message)
    with pytest.raises(LMError, match=f"HTTP {status} for openai/loop: {provider_message}") as info:
        lm(QUESTION)
    assert info.value.status == status
    assert not info.value.retryable
    assert waits == []
    assert server.served == 1


# -- circuit breaker ----------------------------------------------------------------------------------


def test_the_breaker_opens_fails_fast_and_recovers_after_the_cooldown(server, clock, trace_store):
    lm = make_lm(server, num_retries=0, circuit_threshold=2, circuit_cooldown=30, cache=False)
    lm.circuit_breaker.clock = clock
    server.inject(503, count=2)
    for _ in range(2):
        with pytest.raises(LMError, match="HTTP 503"):
            lm(QUESTION)
    with pytest.raises(CircuitOpenError, match=r"open after 2 consecutive failures.*30\.0 s more"):
        lm(QUESTION)
    assert server.served == 2
    clock.advance(30)
    assert lm(QUESTION).text.startswith("Reply ")
    assert lm.circuit_breaker.state == "closed"
    states = [e["payload"]["state"] for e in lm_events(trace_store) if e["kind"] == "lm.circuit"]
    assert states == ["open", "half_open", "closed"]


def test_a_retry_in_flight_is_not_failed_by_the_breaker_its_own_failures_opened(server, record_waits):
    lm = make_lm(server, num_retries=3, circuit_threshold=2, cache=False)
    waits = record_waits(lm)
    server.inject(503, count=3)
    reply = lm(QUESTION)  # the old pipeline failed the third attempt with CircuitOpenError
    assert reply.text.startswith("Reply ")
    assert len(waits) == 3
    assert server.served == 4
    assert lm.circuit_breaker.state == "closed"


def test_client_errors_do_not_open_the_breaker(server):
    lm = make_lm(server, num_retries=0, circuit_threshold=2)
    server.inject(400, count=3)
    for _ in range(3):
        with pytest.raises(LMError, match="HTTP 400"):
            lm(QUESTION, cache=False)
    assert lm.circuit_breaker.state == "closed"


# -- truncated replies --------------------------------------------------------------------------------


def test_a_reply_cut_at_max_tokens_carries_its_finish_reason_into_usage_and_the_prediction(server):
    server.responder = lambda request: (
        "[[ ## answer ## ]]\nParis is a city in France with many people\n\n[[ ## completed ## ]]"
    )
    lm = make_lm(server, cache=False)
    server.inject("length")
    prediction = dx.Predict("question -> answer", lm=lm)(question="capital?")
    assert prediction.finish_reason == "length"
    assert prediction.usage.truncated == 1
    assert prediction.answer == "Paris is a city"
    assert dx.Predict("question -> answer", lm=lm)(question="again?").finish_reason == "stop"


# -- copies -------------------------------------------------------------------------------------------


def test_a_copy_changes_defaults_and_shares_limiter_breaker_and_cache(server):
    lm = make_lm(server, temperature=0.0, rpm=100)
    teacher = lm.copy(temperature=1.0)
    assert teacher.kwargs == {"temperature": 1.0}
    assert lm.kwargs == {"temperature": 0.0}
    assert teacher.rate_limiter is lm.rate_limiter
    assert teacher.circuit_breaker is lm.circuit_breaker
    assert teacher.retry is lm.retry
    teacher(QUESTION, temperature=0.0)
    assert lm(QUESTION).cache_hit
    assert len(teacher.history) == 1
    assert len(lm.history) == 1
    assert not teacher.copy(cache=False).cache


def test_a_copy_cannot_change_client_options(server):
    with pytest.raises(TypeError, match=r"make a new LM to change \['api_base'\]"):
        make_lm(server).copy(api_base="http://elsewhere")


def test_deep_copying_a_program_keeps_the_same_client(server):
    lm = make_lm(server)
    assert copy.deepcopy({"lm": lm})["lm"] is lm


def test_pickling_keeps_the_settings_and_only_a_key_from_the_environment(server, monkeypatch):
    explicit = pickle.loads(pickle.dumps(make_lm(server, temperature=0.5)))
    assert explicit.kwargs == {"temperature": 0.5}
    assert explicit._api_key is None
    assert explicit(QUESTION).text.startswith("Reply ")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-environment-1234")
    from_env = pickle.loads(pickle.dumps(dx.LM("openai/loop", api_base=server.url)))
    assert from_env._api_key.reveal() == "sk-from-environment-1234"


# -- trace, usage, history ----------------------------------------------------------------------------


def test_each_call_is_one_span_with_the_documented_payload(server, trace_store):
    lm = make_lm(server, price=(1.0, 1.0))
    lm(QUESTION, temperature=0.0, rollout_id="r1")
    request, response = lm_events(trace_store)
    assert (request["kind"], response["kind"]) == ("lm.request", "lm.response")
    assert request["component"] == response["component"] == "lm:openai/loop"
    assert request["correlation_id"] == response["correlation_id"]
    assert request["correlation_id"].startswith("openai/loop#")
    assert request["payload"] == {"messages": QUESTION, "params": {"temperature": 0.0}}
    payload = response["payload"]
    assert payload["text"].startswith("Reply ")
    assert payload["status"] == "ok"
    assert payload["attempts"] == 1
    assert payload["cache_hit"] is False
    assert payload["finish_reason"] == "stop"
    assert payload["prompt_tokens"] > 0
    assert payload["completion_tokens"] > 0
    assert payload["cost"] > 0


def test_sync_and_async_calls_emit_the_same_events(server, trace_store):
    lm = make_lm(server, cache=False)
    lm(QUESTION)
    sync_events = lm_events(trace_store)
    asyncio.run(lm.acall(QUESTION))
    async_events = lm_events(trace_store)[len(sync_events) :]

    def shape(records):
        return [(r["kind"], r["component"], sorted(r["payload"])) for r in records]

    assert shape(sync_events) == shape(async_events)


def test_a_cache_hit_is_traced_as_a_hit_with_no_attempts(server, trace_store):
    lm = make_lm(server)
    lm(QUESTION)
    lm(QUESTION)
    hit = [e for e in lm_events(trace_store) if e["kind"] == "lm.response"][-1]["payload"]
    assert hit["cache_hit"] is True
    assert hit["attempts"] == 0


def test_a_failed_call_ends_its_span_with_the_error(server, trace_store):
    lm = make_lm(server)
    server.inject(404)
    with pytest.raises(LMError):
        lm(QUESTION)
    response = lm_events(trace_store)[-1]
    assert response["kind"] == "lm.response"
    assert response["payload"]["status"] == "error"
    assert "HTTP 404" in response["payload"]["error"]
    assert response["payload"]["attempts"] == 1


def test_usage_adds_up_per_lm_and_per_tracked_block(server):
    lm = make_lm(server, price=(1.0, 1.0))
    other = make_lm(server)
    with dx.track_usage() as block:
        first = lm(QUESTION)
        lm(QUESTION)
        other("something else")
    assert lm.usage.calls == 2
    assert lm.usage.cache_hits == 1
    assert lm.usage.prompt_tokens == 2 * first.usage.prompt_tokens
    assert lm.usage.cost == pytest.approx(first.usage.cost)
    assert block.calls == 3
    assert block.cache_hits == 1


def test_history_keeps_each_exchange_with_public_parameters(server):
    lm = make_lm(server)
    lm(QUESTION, temperature=0.0, cache=False)
    entry = lm.history[-1]
    assert entry.messages == QUESTION
    assert entry.params == {"temperature": 0.0}
    assert entry.response.text.startswith("Reply ")


def test_the_scripted_lm_runs_through_the_pipeline_with_the_cache_off(trace_store):
    lm = dx.ScriptedLM(["first", "second"])
    assert [lm("same").text, lm("same").text] == ["first", "second"]
    assert [e["kind"] for e in lm_events(trace_store)] == ["lm.request", "lm.response"] * 2
    assert lm.usage.calls == 2


def test_a_cancelled_call_ends_its_span_as_cancelled_and_leaves_the_breaker_closed(server, trace_store):
    lm = make_lm(server, cache=False, circuit_threshold=1)

    async def cancel_while_waiting():
        loop = asyncio.get_running_loop()
        arrived = asyncio.Event()

        def responder(request):
            loop.call_soon_threadsafe(arrived.set)
            return "too late"

        server.responder = responder
        server.inject("slow", delay=30)
        call = asyncio.create_task(lm.acall(QUESTION))
        await arrived.wait()
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call

    asyncio.run(cancel_while_waiting())
    assert lm_events(trace_store)[-1]["payload"]["status"] == "cancelled"
    assert lm.circuit_breaker.state == "closed"


def test_a_client_for_a_new_provider_implements_agenerate_and_gets_the_pipeline(trace_store):
    class Shout(dx.BaseLM):
        provider = "shout"
        calls = 0

        async def agenerate(self, messages, params):
            Shout.calls += 1
            if Shout.calls == 1:
                raise dx.LMError("busy", provider="shout", status=503, retryable=True, retry_after=0)
            text = messages[-1]["content"].upper()
            return dx.LMResponse(text, dx.Usage(len(text.split()), 1, calls=1), self.model)

    lm = Shout("shout/v1", num_retries=2)
    first, second = lm("hello"), lm("hello")

    assert (first.text, first.cache_hit, second.cache_hit) == ("HELLO", False, True)
    assert Shout.calls == 2  # one retry, then the cache
    assert lm.usage.calls == 2
    kinds = [record["kind"] for record in trace_store.records()]
    assert kinds == ["lm.request", "lm.retry", "lm.response", "lm.request", "lm.response"]


def test_a_synchronous_call_is_made_from_the_calling_thread(server, monkeypatch):
    def no_hand_off(coro):
        coro.close()
        raise AssertionError("a synchronous HTTP call went through the private event loop")

    monkeypatch.setattr("dspex_lab.lm.base.run_sync", no_hand_off)
    lm = make_lm(server, cache=False)
    assert lm(QUESTION).text.startswith("Reply ")


def test_ctrl_c_during_a_synchronous_call_stops_it_and_its_connection_is_never_reused(server, trace_store):
    lm = make_lm(server, cache=False, circuit_threshold=1)
    arrived = threading.Event()

    def slow_responder(request):
        arrived.set()
        return "the interrupted reply"

    server.responder = slow_responder
    server.inject("slow", delay=30)
    main = threading.get_ident()

    def deliver():
        arrived.wait()
        signal.pthread_kill(main, signal.SIGINT)

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    sender = threading.Thread(target=deliver)
    sender.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            lm(QUESTION)
    finally:
        sender.join()
        signal.signal(signal.SIGINT, previous)
    assert lm_events(trace_store)[-1]["payload"]["status"] == "cancelled"
    assert lm.circuit_breaker.state == "closed"
    server.responder = lambda request: "the next reply"
    assert lm(QUESTION).text == "the next reply"


def test_rate_limits_are_shared_by_synchronous_and_async_callers(server):
    lm = make_lm(server, cache=False, rpm=3)
    lm(QUESTION)
    asyncio.run(lm.acall(QUESTION))
    worker = threading.Thread(target=lambda: lm(QUESTION))
    worker.start()
    worker.join()
    # Three requests took the minute's three: a fourth waits until the first leaves the 60 s window.
    limiter = lm.rate_limiter
    assert 30 < limiter.reserve(0).at - limiter.clock() <= 60
