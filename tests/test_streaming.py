"""dx.streamify: a program's output fields arrive as text pieces, then the Prediction; leaving early cancels."""

from __future__ import annotations

import asyncio

import pytest

import dspex_lab as dx
from dspex_lab.streaming import FieldReader, StreamChunk
from dspex_lab.testing import ProviderServer

WORDS = " ".join(f"word{i}" for i in range(200))


@pytest.fixture
def server():
    with ProviderServer() as running:
        yield running


def make_lm(server, **kwargs):
    kwargs.setdefault("cache", False)
    return dx.LM("openai/m", api_base=server.url + "/v1", api_key="sk-streamify-5555", **kwargs)


def fields_of(items):
    """Each predictor's fields as the chunks spelled them."""
    joined: dict[tuple[str, str], str] = {}
    for item in items:
        if isinstance(item, StreamChunk):
            joined[item.predictor, item.field] = joined.get((item.predictor, item.field), "") + item.text
    return joined


def test_chunks_spell_each_field_then_the_prediction_comes_last(server):
    program = dx.ChainOfThought("question -> answer", lm=make_lm(server))
    items = list(dx.streamify(program)(question="Why is the sky blue?"))
    prediction = items[-1]
    assert isinstance(prediction, dx.Prediction)
    assert all(isinstance(item, StreamChunk) for item in items[:-1])
    assert len(items) > 3
    assert fields_of(items) == {
        ("chain_of_thought.predict", "reasoning"): prediction.reasoning,
        ("chain_of_thought.predict", "answer"): prediction.answer,
    }
    assert prediction == program(question="Why is the sky blue?")


def test_the_async_form_yields_the_same(server):
    program = dx.Predict("question -> answer", lm=make_lm(server))

    async def collect():
        return [item async for item in dx.streamify(program).astream(question="q")]

    items = asyncio.run(collect())
    assert items == list(dx.streamify(program)(question="q"))


def test_json_replies_stream_their_string_fields(server):
    program = dx.Predict("question -> answer, note", lm=make_lm(server), adapter=dx.JSONAdapter())
    items = list(dx.streamify(program, fields=["answer"])(question="q"))
    assert fields_of(items) == {("predict", "answer"): items[-1].answer}


def test_a_cache_hit_streams_each_field_at_once(server):
    program = dx.Predict("question -> answer", lm=make_lm(server, cache=True))
    first = program(question="cached question")
    items = list(dx.streamify(program)(question="cached question"))
    assert items == [StreamChunk("predict", "answer", first.answer), first]


def long_reply(request):
    return f"[[ ## answer ## ]]\n{WORDS}\n\n[[ ## completed ## ]]"


@pytest.fixture
def slow_stream():
    with ProviderServer(responder=long_reply, stream_interval=0.02) as running:
        yield running


class SyncOnly(dx.Module):
    """A program with only `forward`: its LM calls are synchronous ones, made in a worker thread."""

    def __init__(self, lm):
        self.answer = dx.Predict("question -> answer", lm=lm)

    def forward(self, question):
        return self.answer(question=question)


@pytest.mark.parametrize("kind", ["async program", "sync program"])
def test_leaving_the_loop_early_cancels_the_program_and_closes_the_connection(slow_stream, kind):
    lm = make_lm(slow_stream)
    program = dx.Predict("question -> answer", lm=lm) if kind == "async program" else SyncOnly(lm)
    stream = dx.streamify(program)(question="tell me everything")
    first = next(stream)
    assert first.text == "word0"
    stream.close()
    assert slow_stream.wait_for_cut_stream()
    assert slow_stream.streams_cut == 1


def test_leaving_an_async_stream_early_closes_the_connection(slow_stream):
    program = dx.Predict("question -> answer", lm=make_lm(slow_stream))

    async def first_only():
        async for item in dx.streamify(program).astream(question="tell me everything"):
            return item

    assert asyncio.run(first_only()).text == "word0"
    assert slow_stream.wait_for_cut_stream()


@pytest.mark.local_model
@pytest.mark.slow
def test_the_embedded_model_streams_token_by_token_and_can_be_left_early():
    lm = dx.LM("local/smollm2-135m", cache=False, max_tokens=24)
    program = dx.Predict("question -> answer", lm=lm)
    items = list(dx.streamify(program)(question="Describe the sea in one sentence."))
    prediction = items[-1]
    assert len(items) > 2
    assert fields_of(items) == {("predict", "answer"): prediction.answer}
    assert prediction == program(question="Describe the sea in one sentence.")
    stream = dx.streamify(program)(question="Describe the sea in one sentence.")
    assert isinstance(next(stream), StreamChunk)
    stream.close()  # generation stops; the model is free for the next call
    assert program(question="Describe the sea in one sentence.") == prediction


@pytest.mark.parametrize(
    ("pieces", "expected"),
    [
        (["[[ ## answer ## ]]\nPar", "is is the ", "capital\n\n[[ ## comp", "leted ## ]]"], "Paris is the capital"),
        (["[[ ## answer ## ]]\na [", "list] item\n\n[", "[ ## completed ## ]]"], "a [list] item"),
        (['{"answer": "Par', "is \\u00e", '9t\\u00e9 \\"q', 'uoted\\"", "n": 3}'], 'Paris été "quoted"'),
        (['```json\n{"n": [1, {"a": "}"}], "answer": "x', 'y"}\n```'], "xy"),
    ],
)
def test_the_field_reader_holds_back_what_may_still_change(pieces, expected):
    reader = FieldReader()
    sent = ""
    for piece in pieces:
        for name, text in reader.feed(piece):
            assert name == "answer"
            sent += text
            assert expected.startswith(sent)
    assert sent == expected


def test_streamify_takes_a_program():
    with pytest.raises(TypeError, match=r"streamify\(\) takes a program"):
        dx.streamify(lambda question: question)
