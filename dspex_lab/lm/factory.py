"""`dx.LM("provider/model", **kwargs)`: the client for a model name."""

from __future__ import annotations

import importlib
from typing import Any

from dspex_lab.errors import ConfigurationError
from dspex_lab.lm.base import BaseLM

PROVIDERS = {
    "openai": ("dspex_lab.lm.openai", "OpenAILM"),
    "anthropic": ("dspex_lab.lm.anthropic", "AnthropicLM"),
    "gemini": ("dspex_lab.lm.gemini", "GeminiLM"),
    "local": ("dspex_lab.lm.local", "LocalLM"),
}


def LM(model: str, **kwargs: Any) -> BaseLM:
    """The client for `model`, written "provider/model".

    - `openai/<model>`: OpenAI Chat Completions; with `api_base=` any compatible
      server (vLLM, Ollama, llama.cpp server, LM Studio, hosted ones).
    - `anthropic/<model>`: Anthropic Messages.  - `gemini/<model>`: Gemini generateContent.
    - `local/smollm2-135m`: the embedded default model, run in-process.

    Keyword arguments are default sampling parameters (`temperature`,
    `max_tokens`, `stop`, ...) and client options (`api_key`, `api_base`,
    `timeout`, `cache`, `num_retries`, `rpm`, `tpm`, `circuit_threshold`,
    `circuit_cooldown`, `price`, `max_reply_bytes`; for HTTP providers `headers`,
    `http_client` (an httpx.Client or AsyncClient to carry the requests), `proxy`
    and `verify` (see `dspex_lab.lm.network`); for local models `n_ctx`,
    `instances`, `n_threads`, `seed`). Numeric options are checked here: a NaN, an infinity,
    a negative count or a string is refused naming the option.
    API keys default to the provider's environment variable; proxies and CA
    bundles to HTTPS_PROXY/HTTP_PROXY/NO_PROXY and SSL_CERT_FILE/REQUESTS_CA_BUNDLE.
    """
    if not isinstance(model, str) or "/" not in model:
        raise ConfigurationError(
            f"model {model!r} must be written 'provider/model', e.g. 'openai/gpt-4o-mini' or "
            f"'local/smollm2-135m'; providers: {sorted(PROVIDERS)}"
        )
    provider, name = model.split("/", 1)
    if provider not in PROVIDERS:
        raise ConfigurationError(
            f"unknown provider {provider!r} in {model!r}; known providers are {sorted(PROVIDERS)} "
            "(for any OpenAI-compatible server use 'openai/<model>' with api_base=...)"
        )
    if not name:
        raise ConfigurationError(f"model {model!r} names no model after '{provider}/'")
    module, cls = PROVIDERS[provider]
    return getattr(importlib.import_module(module), cls)(model, **kwargs)
