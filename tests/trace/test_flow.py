"""Message flow: requests between two components, each paired with its reply."""

from __future__ import annotations

import asyncio

import pytest

import dspex_lab as dx
from dspex_lab.testing import ProviderServer
from dspex_lab.testing.kinds import opens
from dspex_lab.trace import events
from dspex_lab.trace.flow import get_message_flow
from dspex_lab.trace.schema import Event
from dspex_lab.trace.store import EventStore


async def call(program, lm, question, *, go, reply, answer):
    """A program span calling an LM span; the LM replies when `reply` is set."""
    with (
        events.span(opens("program"), program),
        events.span(opens("program"), f"{program}.generate"),
        events.span(
            opens("lm.request", {"messages": [{"role": "user", "content": question}]}, end="lm.response"),
            lm,
            correlation_id=f"{lm}#{question}",
        ) as span,
    ):
        go.set()
        await reply.wait()
        span.set(text=answer, prompt_tokens=len(question), completion_tokens=1, cache_hit=question.endswith("!"))


def test_concurrent_interleaved_requests_are_paired_by_correlation(trace_store):
    async def main():
        names = ["q1", "q2!", "s1", "s2"]
        go = {name: asyncio.Event() for name in names}
        reply = {name: asyncio.Event() for name in names}
        tasks = [
            asyncio.create_task(call("qa", "lm:openai/a", "q1", go=go["q1"], reply=reply["q1"], answer="A1")),
            asyncio.create_task(call("sum", "lm:openai/a", "s1", go=go["s1"], reply=reply["s1"], answer="S1")),
            asyncio.create_task(call("qa", "lm:openai/a", "q2!", go=go["q2!"], reply=reply["q2!"], answer="A2")),
            asyncio.create_task(call("sum", "lm:openai/a", "s2", go=go["s2"], reply=reply["s2"], answer="S2")),
        ]
        for name in names:
            await go[name].wait()
        # Replies arrive in the reverse order of the requests.
        for name in reversed(names):
            reply[name].set()
            await asyncio.sleep(0)
        await asyncio.gather(*tasks)

    asyncio.run(main())
    flow = get_message_flow("qa", "lm:openai/a", store=trace_store, content=True)

    assert [m[0]["content"] for m in flow["messages"]] == ["q1", "q2!"]
    assert flow["text"].tolist() == ["A1", "A2"]
    assert flow["caller"].tolist() == ["qa.generate", "qa.generate"]
    assert flow["callee"].tolist() == ["lm:openai/a", "lm:openai/a"]
    assert flow["correlation_id"].tolist() == ["lm:openai/a#q1", "lm:openai/a#q2!"]
    assert flow["prompt_tokens"].tolist() == [2, 3]
    assert flow["cache_hit"].tolist() == [False, True]
    assert flow["answered"].all()
    assert (flow["reply_ts"] > flow.index).all()
    assert (flow["latency_ms"] >= 0).all()
    assert flow["status"].tolist() == ["ok", "ok"]
    others = get_message_flow("sum", "lm:openai/a", store=trace_store)
    assert others["text"].tolist() == ["S1", "S2"]


def test_either_side_may_be_named_first(trace_store):
    async def main():
        go, reply = asyncio.Event(), asyncio.Event()
        reply.set()
        await call("qa", "lm:x/y", "q", go=go, reply=reply, answer="a")

    asyncio.run(main())
    forward = get_message_flow("qa", "lm:x/y", store=trace_store)
    backward = get_message_flow("lm:x/y", "qa", store=trace_store)
    assert forward["text"].tolist() == backward["text"].tolist() == ["a"]


def test_a_request_without_a_reply_shows_as_unanswered():
    store = EventStore()
    store.append(Event(10, "program.start", None, 1, None, "qa", "t", None, None))
    store.append(Event(20, "lm.request", None, 2, 1, "lm:x/y", "t", "c1", {"messages": ["m1"]}))
    store.append(Event(30, "lm.request", None, 3, 1, "lm:x/y", "t", "c2", {"messages": ["m2"]}))
    store.append(Event(45, "lm.response", None, 3, 1, "lm:x/y", "t", "c2", {"text": "r2", "status": "ok"}))
    flow = get_message_flow("qa", "lm:x/y", store=store, content=True)

    assert flow.index.tolist() == [20, 30]
    assert flow["messages"].tolist() == [["m1"], ["m2"]]
    assert flow["answered"].tolist() == [False, True]
    assert flow["status"].tolist() == ["unanswered", "ok"]
    assert flow["text"].isna().tolist() == [True, False]
    assert flow["text"].iloc[1] == "r2"
    assert flow["reply_ts"].isna().tolist() == [True, False]
    assert flow["latency_ms"].iloc[1] == pytest.approx((45 - 30) / 1e6)


def test_the_window_bounds_request_times_but_replies_after_it_still_pair():
    store = EventStore(chunk_events=2)
    store.append(Event(10, "program.start", None, 1, None, "qa", "t", None, None))
    exchanges = [(20, 30), (40, 55), (60, 70)]
    for i, (sent, answered) in enumerate(exchanges):
        store.append(Event(sent, "lm.request", None, 10 + i, 1, "lm:x/y", "t", f"c{i}", {"messages": [i]}))
        store.append(Event(answered, "lm.response", None, 10 + i, 1, "lm:x/y", "t", f"c{i}", {"text": f"r{i}"}))
    flow = get_message_flow("qa", "lm:x/y", since=30, until=50, store=store)

    assert flow.index.tolist() == [40]
    assert flow["text"].tolist() == ["r1"]
    assert flow["reply_ts"].tolist() == [55]


def test_a_program_name_covers_the_modules_inside_it_and_nothing_else():
    store = EventStore()
    store.append(Event(10, "program.start", None, 1, None, "qa.inner.generate", "t", None, None))
    store.append(Event(11, "program.start", None, 2, None, "qa_other", "t", None, None))
    store.append(Event(20, "lm.request", None, 3, 1, "lm:x/y", "t", "c1", None))
    store.append(Event(21, "lm.request", None, 4, 2, "lm:x/y", "t", "c2", None))
    assert get_message_flow("qa", "lm:x/y", store=store)["correlation_id"].tolist() == ["c1"]
    assert get_message_flow("qa.inner", "lm:x/y", store=store)["correlation_id"].tolist() == ["c1"]
    assert get_message_flow("qa_other", "lm:x/y", store=store)["correlation_id"].tolist() == ["c2"]


def test_spans_the_client_opens_around_its_call_are_looked_past():
    store = EventStore()
    store.append(Event(10, "program.start", None, 1, None, "qa", "t", None, None))
    store.append(Event(11, "lm.attempt.start", None, 2, 1, "lm:x/y", "t", None, None))
    store.append(Event(12, "lm.request", None, 3, 2, "lm:x/y", "t", "c1", None))
    assert get_message_flow("qa", "lm:x/y", store=store)["correlation_id"].tolist() == ["c1"]


@pytest.mark.parametrize("spans", [True, False])
def test_no_messages_is_an_empty_frame_with_the_columns(spans):
    store = EventStore()
    store.append(
        Event(10, "program.start" if spans else "note", None, 1 if spans else None, None, "qa", "t", None, None)
    )
    flow = get_message_flow("qa", "lm:x/y", store=store)
    assert len(flow) == 0
    assert {"caller", "callee", "answered", "latency_ms", "text"} <= set(flow.columns)
    assert "messages" not in flow.columns, "contents are decoded only when asked for"


def test_components_can_be_given_as_objects():
    class Named:
        component = "lm:x/y"

    store = EventStore()
    with pytest.raises(TypeError, match="pass its name"):
        get_message_flow(object(), Named(), store=store)


# --- with a real client over HTTP ----------------------------------------------------------------
class QA(dx.Module):
    name = "qa"

    def __init__(self, signature):
        self.generate = dx.Predict(signature)

    def forward(self, **inputs):
        return self.generate(**inputs)


def test_a_real_client_called_concurrently_by_two_programs_pairs_each_request_with_its_reply(trace_store):
    with ProviderServer(latency=0.02) as server:
        lm = dx.LM("openai/loopback", api_base=server.url, api_key="sk-loopback-key-123456")
        qa, other = QA("question -> answer"), QA("question -> summary")
        other.name = "other"

        async def main():
            asks = [qa.acall(question=f"q{i}") for i in range(4)] + [other.acall(question=f"o{i}") for i in range(4)]
            return await asyncio.gather(*asks)

        with dx.context(lm=lm):
            predictions = asyncio.run(main())
            again = qa(question="q0")

    flow = get_message_flow(qa, lm, store=trace_store, content=True)
    asked = [m[-1]["content"].split("\n")[1] for m in flow["messages"]]
    assert sorted(asked[:4]) == ["q0", "q1", "q2", "q3"]
    assert flow.index[1] < flow["reply_ts"].iloc[0], "the requests were in flight together"
    assert asked[4] == "q0"
    raw = {f"q{i}": prediction.raw for i, prediction in enumerate(predictions[:4])}
    assert flow["text"].tolist() == [raw[question] for question in asked]
    assert flow["text"].iloc[4] == again.raw
    assert flow["cache_hit"].tolist() == [False] * 4 + [True]
    assert flow["caller"].unique().tolist() == ["qa.generate"]
    assert (flow["prompt_tokens"] > 0).all()
    assert "sk-loopback-key-123456" not in repr(trace_store.records())
    other_flow = get_message_flow("other", lm, store=trace_store, content=True)
    assert sorted(m[-1]["content"].split("\n")[1] for m in other_flow["messages"]) == ["o0", "o1", "o2", "o3"]
