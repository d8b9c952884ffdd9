"""dx.LM resolves "provider/model" to a client, and explains names it cannot resolve."""

from __future__ import annotations

import pytest

import dspex_lab as dx
from dspex_lab.errors import ConfigurationError
from dspex_lab.lm.anthropic import AnthropicLM
from dspex_lab.lm.gemini import GeminiLM
from dspex_lab.lm.openai import OpenAILM


def test_each_provider_prefix_gives_its_client():
    assert type(dx.LM("openai/gpt-4o-mini", api_key="k")) is OpenAILM
    assert type(dx.LM("anthropic/claude-3-5-haiku-latest", api_key="k")) is AnthropicLM
    assert type(dx.LM("gemini/gemini-2.0-flash", api_key="k")) is GeminiLM


def test_sampling_defaults_and_client_options_are_told_apart():
    lm = dx.LM("openai/gpt-4o-mini", api_key="k", temperature=0.0, max_tokens=100, timeout=5, num_retries=1)
    assert lm.kwargs == {"temperature": 0.0, "max_tokens": 100}
    assert lm.timeout == 5
    assert lm.retry.num_retries == 1
    assert repr(lm) == "OpenAILM('openai/gpt-4o-mini', max_tokens=100, temperature=0.0)"


def test_the_default_endpoints_are_the_providers_public_ones():
    assert dx.LM("openai/m", api_key="k").url() == "https://api.openai.com/v1/chat/completions"
    assert dx.LM("anthropic/m", api_key="k").url() == "https://api.anthropic.com/v1/messages"
    assert (
        dx.LM("gemini/m", api_key="k").url()
        == "https://generativelanguage.googleapis.com/v1beta/models/m:generateContent"
    )


@pytest.mark.parametrize(
    ("name", "complaint"),
    [
        ("gpt-4o-mini", "must be written 'provider/model'"),
        ("mistral/large", "unknown provider 'mistral'.*api_base"),
        ("openai/", "names no model"),
        ("local/gpt-9", "unknown local model 'gpt-9'"),
    ],
)
def test_names_that_cannot_be_resolved_are_explained(name, complaint):
    with pytest.raises(ConfigurationError, match=complaint):
        dx.LM(name)


def test_client_options_given_to_a_provider_class_by_mistake_are_refused():
    from dspex_lab.lm.base import BaseLM

    with pytest.raises(TypeError, match=r"use dx\.LM"):
        BaseLM("base/m", api_key="k")
