"""Token and cost accounting: per call, per LM, and per program run."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field


@dataclass(slots=True)
class Usage:
    """Tokens (and cost, when the price is known) of one or more LM calls.

    `truncated` counts the replies cut off at max_tokens (finish reason "length")
    that a program used for its answer (`Predict` counts them).

    `by_lm` breaks a run's total down per model (DSPy's `get_lm_usage()`).
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float | None = None
    calls: int = 0
    cache_hits: int = 0
    truncated: int = 0
    by_lm: dict[str, Usage] | None = field(default=None, compare=False, repr=False)

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def add(self, other: Usage) -> None:
        """Add `other` into this total, in place."""
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.calls += other.calls
        self.cache_hits += other.cache_hits
        self.truncated += other.truncated
        if other.cost is not None:
            self.cost = (self.cost or 0.0) + other.cost
        if other.by_lm:
            for model, part in other.by_lm.items():
                self._part(model).add(part)

    def _part(self, model: str) -> Usage:
        if self.by_lm is None:
            self.by_lm = {}
        part = self.by_lm.get(model)
        if part is None:
            part = self.by_lm[model] = Usage()
        return part

    def __add__(self, other: Usage) -> Usage:
        total = Usage()
        total.add(self)
        total.add(other)
        return total

    def to_dict(self) -> dict[str, float | int | None]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
            "cost": self.cost,
            "calls": self.calls,
            "cache_hits": self.cache_hits,
            "truncated": self.truncated,
        }


_scope: ContextVar[Usage | None] = ContextVar("dspex_usage_scope", default=None)


class track_usage:
    """Collect the usage of every LM call made in the block (nested blocks roll up).

    Used like a function: `with track_usage() as usage:`.

    A small class rather than a generator context manager: it wraps every program call.
    """

    __slots__ = ("_outer", "_token", "total")

    def __enter__(self) -> Usage:
        self._outer = _scope.get()
        self.total = Usage()
        self._token = _scope.set(self.total)
        return self.total

    def __exit__(self, *exc: object) -> None:
        _scope.reset(self._token)
        if self._outer is not None:
            self._outer.add(self.total)


def current_usage() -> Usage | None:
    """The total of the innermost `track_usage()` block so far, or None outside one."""
    return _scope.get()


def record(usage: Usage, model: str | None = None) -> None:
    """Count one call's usage (of `model`) in the innermost `track_usage()` block, if any."""
    scope = _scope.get()
    if scope is not None:
        scope.add(usage)
        if model is not None:
            scope._part(model).add(usage)
