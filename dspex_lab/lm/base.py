"""The interface every LM client shares, and the one pipeline around every provider call.

A provider implements one public coroutine, `agenerate(messages, params)`, returning an
`LMResponse` or raising `LMError` (marked retryable or not). Everything else
happens here, once for every provider:

    cache lookup -> circuit breaker (new calls only) -> rate limiter -> provider -> retry with backoff
                 -> cost -> cache store -> trace span, history, usage totals

`lm(messages)` runs in the calling thread when the provider has a synchronous
path (the HTTP providers over the default transport): the pipeline is the same
coroutine, run by `dspex_lab.loop.run_blocking` with no loop turning unless it
waits. Other providers hand a miss to the private event loop. `await lm.acall(messages)`
runs in the caller's loop. All emit the same `LMRequest` / `LMResponse` span.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from dspex_lab.errors import LMError
from dspex_lab.lm.cache import Entry, ResponseCache, get_cache, request_key
from dspex_lab.lm.circuit import CLOSED, CircuitBreaker
from dspex_lab.lm.history import HistoryEntry, excerpt, inspect_history, remember
from dspex_lab.lm.pricing import Price, cost, price_of
from dspex_lab.lm.rate_limit import RateLimiter
from dspex_lab.lm.retry import RetryPolicy
from dspex_lab.lm.stream import TextSink, current_listener
from dspex_lab.lm.usage import Usage, record
from dspex_lab.loop import run_blocking, run_sync
from dspex_lab.options import check_number
from dspex_lab.trace import events, schema

Message = dict[str, Any]

CALL_OPTIONS = ("cache", "rollout_id")
"""Per-call options that steer the client and are never sent to the provider."""

CONSTRUCTOR_OPTIONS = frozenset(
    {
        "api_key",
        "api_base",
        "timeout",
        "num_retries",
        "rpm",
        "tpm",
        "circuit_threshold",
        "circuit_cooldown",
        "price",
        "headers",
        "max_reply_bytes",
        "http_client",
        "proxy",
        "verify",
    }
)
"""Client options fixed when the LM is made; passing one per call is an error."""

_ROLES = frozenset({"system", "developer", "user", "assistant", "tool"})

__all__ = ["CALL_OPTIONS", "BaseLM", "HistoryEntry", "LMResponse", "Message"]


@dataclass(slots=True)
class LMResponse:
    """One completion: its text, usage, and how it was obtained."""

    text: str
    usage: Usage
    model: str
    finish_reason: str | None = None
    cache_hit: bool = False
    latency_ms: float = 0.0
    tool_calls: list[dict[str, Any]] | None = None
    """Native function calls the model made: `[{"id", "name", "args"}]` (see `dspex_lab.lm.tool_wire`)."""


class _Shared:
    """What an LM shares with its copies: retry policy, rate limiter and circuit breaker."""

    __slots__ = ("breaker", "limiter", "retry")

    def __init__(self, lm: BaseLM, options: dict[str, Any]) -> None:
        component = lm.component

        def announce(state: str, failures: int) -> None:
            events.emit(schema.LMCircuit(state=state, failures=failures), component)

        self.retry = RetryPolicy(options["num_retries"])
        rpm, tpm = options["rpm"], options["tpm"]
        self.limiter = RateLimiter(rpm, tpm) if rpm is not None or tpm is not None else None
        self.breaker = CircuitBreaker(
            lm.model, options["circuit_threshold"], options["circuit_cooldown"], on_change=announce
        )


class BaseLM:
    """Base class of LM clients: `await lm.acall(messages, **kw)` or `lm(messages, **kw)`.

    `model` is the full "provider/model" name; `kwargs` are default sampling
    parameters (temperature, max_tokens, stop, ...), overridable per call.
    Client options: `cache` (default on; per call too), `num_retries` (retries
    after the first attempt), `rpm`/`tpm` (rate limits over any sliding 60 s
    window, shared by this LM and its copies in this process),
    `circuit_threshold` consecutive failures open the circuit for
    `circuit_cooldown` seconds (calls inside an evaluation or a compile wait
    for it, see `dspex_lab.lm.circuit`), `price` = (USD per million input
    tokens, per million output tokens) when the built-in table lacks the model.
    Per call, `rollout_id=` asks for a fresh sample (a separate cache entry).

    A client for another provider subclasses this and implements `agenerate`;
    the cache, retries, rate limits, circuit breaker, usage, cost, history and
    the trace come with it::

        class Shout(dx.BaseLM):
            provider = "shout"

            async def agenerate(self, messages, params):
                text = messages[-1]["content"].upper()
                return dx.LMResponse(text, dx.Usage(len(text.split()), 1, calls=1), self.model)

        lm = Shout("shout/v1", num_retries=2)
        lm("hello")  # LMResponse(text='HELLO', ...); a second call is a cache hit
    """

    provider: str = "base"
    supports_structured_output: bool = False
    supports_tool_calls: bool = False
    """True when the client sends `tools=` natively and returns `LMResponse.tool_calls`."""
    max_demos: int = 16
    """The demos in all an optimizer gives a program on this model when `max_labeled_demos` is not set:
    DSPy's 16; a model that follows fewer demos better says so (the embedded model: 8)."""
    history_size: int = 100

    def __init__(
        self,
        model: str,
        *,
        cache: bool = True,
        num_retries: int = 3,
        rpm: float | None = None,
        tpm: float | None = None,
        circuit_threshold: int = 5,
        circuit_cooldown: float = 5.0,
        price: Price | None = None,
        **kwargs: Any,
    ) -> None:
        if not isinstance(model, str) or not model:
            raise TypeError(f"model must be a non-empty string like 'openai/gpt-4o-mini', got {model!r}")
        misplaced = sorted(kwargs.keys() & CONSTRUCTOR_OPTIONS)
        if misplaced:
            raise TypeError(f"{type(self).__name__} does not take {misplaced}; use dx.LM(model, ...) for them")
        self.model = model
        self.kwargs: dict[str, Any] = kwargs
        self.cache = bool(cache)
        self.price: Price | None = tuple(price) if price is not None else price_of(model)  # type: ignore[assignment]
        self.history: deque[HistoryEntry] = deque(maxlen=self.history_size)
        self.usage = Usage()
        self._options = {
            "num_retries": check_number("num_retries", num_retries, minimum=0, integer=True),
            "rpm": check_number("rpm", rpm, above=0, optional=True, unit="requests per minute"),
            "tpm": check_number("tpm", tpm, above=0, optional=True, unit="tokens per minute"),
            "circuit_threshold": check_number("circuit_threshold", circuit_threshold, minimum=1, integer=True),
            "circuit_cooldown": check_number("circuit_cooldown", circuit_cooldown, minimum=0, unit="seconds"),
        }
        self._shared = _Shared(self, self._options)

    @property
    def component(self) -> str:
        """The name this LM has in trace events."""
        return "lm:" + self.model

    @property
    def retry(self) -> RetryPolicy:
        return self._shared.retry

    @property
    def rate_limiter(self) -> RateLimiter | None:
        return self._shared.limiter

    @property
    def circuit_breaker(self) -> CircuitBreaker:
        return self._shared.breaker

    def __repr__(self) -> str:
        params = ", ".join(f"{key}={value!r}" for key, value in sorted(self.kwargs.items()))
        return f"{type(self).__name__}({self.model!r}{', ' + params if params else ''})"

    # -- copies -------------------------------------------------------------------------------------

    def copy(self, **kwargs: Any) -> BaseLM:
        """The same client with other default parameters (e.g. `temperature=1.0`) or `cache=`.

        The copy shares this LM's rate limiter, circuit breaker, retry policy and
        cache; it has its own history and usage totals.
        """
        fixed = sorted(kwargs.keys() & CONSTRUCTOR_OPTIONS)
        if fixed:
            raise TypeError(f"copy() changes sampling parameters and cache only; make a new LM to change {fixed}")
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        if "cache" in kwargs:
            new.cache = bool(kwargs.pop("cache"))
        new.kwargs = {**self.kwargs, **kwargs}
        new.history = deque(maxlen=self.history_size)
        new.usage = Usage()
        return new

    def __copy__(self) -> BaseLM:
        return self.copy()

    def __deepcopy__(self, memo: dict[int, Any]) -> BaseLM:
        # An LM is a handle on a shared client (limiter, breaker, connections): copies of a
        # program keep pointing at the same one.
        return self

    def __getstate__(self) -> dict[str, Any]:
        # The shared runtime (locks, breaker state) and the history stay with this process.
        state = {k: v for k, v in self.__dict__.items() if k != "_shared"}
        state["history"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.history = deque(maxlen=self.history_size)
        self._shared = _Shared(self, self._options)

    # -- calls --------------------------------------------------------------------------------------

    async def acall(self, messages: list[Message] | str, **kwargs: Any) -> LMResponse:
        """Send `messages` (OpenAI-style role/content dicts, or one user prompt) and return the completion."""
        messages, params, cache, key = self._prepare(messages, kwargs)
        with self._span(messages, params) as span:
            response = self._lookup(cache, key) if key is not None else None
            if response is None:
                response = await self._fetch(messages, params, cache, key, span)
            elif (listener := current_listener()) is not None:
                listener()(response.text)
            self._finish(span, response)
        self._account(messages, params, response)
        return response

    def __call__(self, messages: list[Message] | str, **kwargs: Any) -> LMResponse:
        """The synchronous form of `acall`; works in scripts and in a running Jupyter kernel.

        A cache hit is served right here; a miss too when the provider has a
        synchronous path, else it goes to the private event loop.
        """
        messages, params, cache, key = self._prepare(messages, kwargs)
        with self._span(messages, params) as span:
            response = self._lookup(cache, key) if key is not None else None
            if response is None:
                if self._sync_path():
                    response = run_blocking(self._fetch(messages, params, cache, key, span, blocking=True))
                else:
                    response = run_sync(self._fetch(messages, params, cache, key, span))
            elif (listener := current_listener()) is not None:
                listener()(response.text)
            self._finish(span, response)
        self._account(messages, params, response)
        return response

    def inspect_history(self, n: int = 1) -> None:
        """Print this LM's last `n` exchanges."""
        inspect_history(n, lm=self)

    async def agenerate(self, messages: list[Message], params: dict[str, Any]) -> LMResponse:
        """Ask the provider once: what a client for a new provider implements (see the class docstring).

        Args:
            messages: OpenAI-style chat messages ({"role", "content"} dicts), checked.
            params: the sampling parameters (the LM's defaults with the call's
                overrides), client options such as `cache` and `rollout_id` removed.

        Returns an `LMResponse` with the text, the usage (`calls=1`), the model
        and the finish reason. Raise `dx.LMError` on failure, with
        `retryable=True` (and `retry_after=` seconds, when the provider said)
        for a failure worth retrying; the pipeline retries, opens the circuit
        and records it. Do not call it directly: `acall` and `__call__` run it
        behind the cache and the rest of the pipeline.
        """
        raise NotImplementedError(f"{type(self).__name__} must define `async def agenerate(self, messages, params)`")

    def _sync_path(self) -> bool:
        """True when `_generate_sync` can make the provider call in the calling thread."""
        return False

    def _generate_sync(self, messages: list[Message], params: dict[str, Any]) -> LMResponse:
        """The provider call from the calling thread (for providers whose `_sync_path()` is True)."""
        raise NotImplementedError

    async def _agenerate_stream(self, messages: list[Message], params: dict[str, Any], sink: TextSink) -> LMResponse:
        """The provider call, its text going to `sink` as it arrives (here: all at once at the end)."""
        response = await self.agenerate(messages, params)
        sink(response.text)
        return response

    def _generate_stream_sync(self, messages: list[Message], params: dict[str, Any], sink: TextSink) -> LMResponse:
        """`_agenerate_stream` from the calling thread."""
        response = self._generate_sync(messages, params)
        sink(response.text)
        return response

    async def _ask(
        self, messages: list[Message], params: dict[str, Any], sink: TextSink | None, blocking: bool
    ) -> LMResponse:
        """One provider call: from this thread or awaited, streamed to `sink` or not."""
        if blocking:
            if sink is None:
                return self._generate_sync(messages, params)
            return self._generate_stream_sync(messages, params, sink)
        if sink is None:
            return await self.agenerate(messages, params)
        return await self._agenerate_stream(messages, params, sink)

    # -- the pipeline -------------------------------------------------------------------------------

    def _prepare(
        self, messages: list[Message] | str, overrides: dict[str, Any]
    ) -> tuple[list[Message], dict[str, Any], ResponseCache | None, str | None]:
        if isinstance(messages, str):
            messages = [{"role": "user", "content": messages}]
        else:
            _check_messages(messages)
        if overrides and not overrides.keys().isdisjoint(CONSTRUCTOR_OPTIONS):
            fixed = sorted(overrides.keys() & CONSTRUCTOR_OPTIONS)
            raise TypeError(f"{fixed} are set when the LM is made (dx.LM(model, ...)), not per call")
        params = {**self.kwargs, **overrides}
        use_cache = params.pop("cache", self.cache)
        rollout_id = params.pop("rollout_id", None)
        if not use_cache:
            return messages, params, None, None
        return messages, params, get_cache(), request_key(self.model, messages, params, rollout_id)

    def _span(self, messages: list[Message], params: dict[str, Any]) -> events.Span:
        return events.span(
            schema.LMRequest(messages=messages, params=params),
            self.component,
            correlation_id=f"{self.model}#{events.new_id()}",
        )

    def _lookup(self, cache: ResponseCache | None, key: str) -> LMResponse | None:
        start = time.perf_counter()
        found = cache.get(key) if cache is not None else None
        if found is None:
            return None
        entry = found[0]
        usage = Usage(
            entry.prompt_tokens,
            entry.completion_tokens,
            None if entry.cost is None else 0.0,  # a hit costs nothing
            calls=1,
            cache_hits=1,
        )
        latency = (time.perf_counter() - start) * 1000
        return LMResponse(entry.text, usage, entry.model, entry.finish_reason, True, latency)

    async def _fetch(
        self,
        messages: list[Message],
        params: dict[str, Any],
        cache: ResponseCache | None,
        key: str | None,
        span: events.Span,
        blocking: bool = False,
    ) -> LMResponse:
        """The provider call with breaker, limiter, retries, cost and cache store.

        With `blocking`, the provider call and the retry waits block the calling
        thread (see `dspex_lab.loop.run_blocking`).
        """
        shared = self._shared
        breaker, limiter, retry = shared.breaker, shared.limiter, shared.retry
        listener = current_listener()
        sink = listener() if listener is not None else None
        retry_sleep = _blocking_sleep if blocking and retry.sleep is asyncio.sleep else retry.sleep
        start = time.perf_counter()
        attempt = tries = 0
        wait_until: float | None = None
        try:
            while True:
                attempt += 1
                tries += 1
                if attempt == 1 and breaker.state != CLOSED:
                    # Only a new call meets the breaker: a retry finishes its own budget even
                    # when its own failures (or its neighbours') opened the circuit meanwhile.
                    wait_until = await breaker.admit(wait_until)
                grant = None
                if limiter is not None:
                    grant = await limiter.acquire(_prompt_chars(messages), params.get("max_tokens"))
                try:
                    response = await self._ask(messages, params, sink, blocking)
                except LMError as error:
                    if limiter is not None and grant is not None:
                        limiter.settle(grant, 0, 0)
                    _judge(breaker, error)
                    delay = retry.delay(attempt, error)
                    if delay is None and error.retryable and breaker.state != CLOSED and breaker.waits():
                        # Inside a run, a call whose retries met an outage waits for the breaker
                        # (bounded by circuit_wait) and starts a fresh retry budget after it.
                        attempt = 0
                        continue
                    if delay is None:
                        reason = retry.give_up_reason(attempt, error)
                        if not reason:
                            raise
                        raise LMError(
                            f"{error} ({reason})",
                            provider=error.provider,
                            status=error.status,
                            retryable=error.retryable,
                            retry_after=error.retry_after,
                        ) from error
                    events.emit(
                        schema.LMRetry(attempt=attempt, delay_s=round(delay, 3), status=error.status, error=str(error)),
                        self.component,
                    )
                    await retry_sleep(delay)
                    continue
                except BaseException:
                    if limiter is not None and grant is not None:
                        limiter.cancel(grant)
                    breaker.released()
                    raise
                if limiter is not None and grant is not None:
                    usage = response.usage
                    limiter.settle(grant, usage.prompt_tokens, usage.completion_tokens)
                breaker.succeeded()
                break
        finally:
            span.set(attempts=tries)
        response.latency_ms = (time.perf_counter() - start) * 1000
        usage = response.usage
        usage.calls = 1
        usage.cache_hits = 0
        if usage.cost is None:
            usage.cost = cost(self.price, usage.prompt_tokens, usage.completion_tokens)
        if cache is not None and key is not None and not response.tool_calls:
            # The cache keeps text replies; a reply with tool calls is asked for again.
            cache.put(
                key,
                Entry(
                    response.text,
                    response.model,
                    response.finish_reason,
                    usage.prompt_tokens,
                    usage.completion_tokens,
                    usage.cost,
                ),
            )
        return response

    @staticmethod
    def _finish(span: events.Span, response: LMResponse) -> None:
        if span.span_id is None:
            return  # not traced: nothing will read the end event's payload
        usage = response.usage
        if response.cache_hit:
            span.set(attempts=0)
        span.set(
            text=response.text,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            cost=usage.cost,
            cache_hit=response.cache_hit,
            finish_reason=response.finish_reason,
        )
        if response.tool_calls:
            span.set(tool_calls=response.tool_calls)

    def _account(self, messages: list[Message], params: dict[str, Any], response: LMResponse) -> None:
        self.usage.add(response.usage)
        record(response.usage, self.model)
        entry = HistoryEntry(messages, params, excerpt(response))
        self.history.append(entry)
        remember(entry)


async def _blocking_sleep(seconds: float) -> None:
    time.sleep(seconds)


def _judge(breaker: CircuitBreaker, error: LMError) -> None:
    """Tell the breaker what a failed attempt says about the provider."""
    if error.retryable:
        if error.status == 429:
            breaker.released()  # rate limiting is flow control, not an outage
        else:
            breaker.failed(error)
    elif error.status == 200:
        breaker.failed(error)  # the provider answered something unreadable
    else:
        breaker.succeeded()  # a 4xx or a refusal: the provider is up


def _check_messages(messages: Any) -> None:
    if type(messages) is not list or not messages:
        raise TypeError(
            "messages must be a non-empty list of {'role': ..., 'content': ...} dicts (or one prompt string), "
            f"got {type(messages).__name__}"
        )
    for index, message in enumerate(messages):
        if type(message) is not dict or message.get("role") not in _ROLES or "content" not in message:
            raise TypeError(
                f"messages[{index}] must be a dict with 'role' (one of {sorted(_ROLES)}) and 'content', "
                f"got {message!r}"[:300]
            )


def _prompt_chars(messages: list[Message]) -> int:
    """The prompt's length in characters, from which the rate limiter estimates its tokens."""
    return sum(len(str(message.get("content", ""))) for message in messages)
