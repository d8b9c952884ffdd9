"""The exceptions dspex_lab raises, in one place so callers can catch them precisely."""

from __future__ import annotations

import asyncio
from typing import Any


class DspexError(Exception):
    """Base class of every error raised by dspex_lab."""


class SignatureError(DspexError, ValueError):
    """A signature (string or class) is malformed.

    For string signatures `text`, `token` and `position` point at the offending part.
    """

    def __init__(
        self,
        message: str,
        *,
        text: str | None = None,
        token: str | None = None,
        position: int | None = None,
    ) -> None:
        self.text = text
        self.token = token
        self.position = position
        if text is not None and position is not None:
            caret = " " * position + "^" * max(1, len(token or " "))
            message = f"{message}\n    {text}\n    {caret}"
        super().__init__(message)


class InputError(DspexError, ValueError):
    """A program was called with inputs that do not match its signature."""


class AdapterParseError(DspexError, ValueError):
    """An LM reply could not be parsed into the signature's output fields.

    Keeps the raw reply so it can be inspected and traced.
    """

    def __init__(
        self,
        message: str,
        *,
        adapter: str,
        raw: str,
        expected: list[str],
        found: dict[str, object] | None = None,
    ) -> None:
        self.adapter = adapter
        self.raw = raw
        self.expected = list(expected)
        self.found = dict(found or {})
        shown = raw if len(raw) <= 600 else raw[:600] + f"... [{len(raw) - 600} more chars]"
        super().__init__(
            f"{adapter} could not parse the LM reply: {message}\n"
            f"  expected fields: {self.expected}\n"
            f"  found fields:    {sorted(self.found)}\n"
            f"  raw reply:\n{shown}"
        )


class ConfigurationError(DspexError, RuntimeError):
    """Something needed is not configured (no LM, unknown provider, missing package)."""


class LMError(DspexError, RuntimeError):
    """An LM call failed. `status` is the HTTP status when there was one.

    The message passes through `redact_text` (see `dspex_lab.lm.secret`): an
    API key a provider or a proxy echoes back never reaches it.
    """

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        status: int | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
    ) -> None:
        self.provider = provider
        self.status = status
        self.retryable = retryable
        self.retry_after = retry_after
        super().__init__(redact_text(message))


def redact_text(text: str) -> str:
    from dspex_lab.lm.secret import redact_text as redact

    return redact(text)


class CircuitOpenError(LMError):
    """The circuit breaker of an LM is open: calls fail fast until the cool-down ends."""


class TruncatedReplyError(LMError):
    """An LM reply was cut off at max_tokens; an evaluation records such an example as an error."""


class Interrupted(asyncio.CancelledError):
    """The task awaiting a run was cancelled: it is cancelled, and what finished is in `partial`.

    `await dx.aevaluate(...)` raises it with the `EvaluationResult` of the
    examples finished so far, so `asyncio.wait_for`, task groups and anyio see
    an ordinary cancellation while a caller who wants the partial result can
    catch it::

        try:
            result = await dx.aevaluate(program, devset, metric)
        except dx.Interrupted as stop:
            result = stop.partial

    The synchronous forms (`dx.evaluate`, interrupted with Ctrl-C or the
    kernel's stop) return `partial` instead. A run stopped by a `CancelToken`,
    `cancel_run` or a Stop button is not a cancellation of the awaiting task:
    it returns normally, with status "cancelled".
    """

    def __init__(self, partial: Any = None, message: str = "the run was cancelled") -> None:
        super().__init__(message)
        self.partial = partial


class ClusterError(DspexError, RuntimeError):
    """A Dask cluster cannot serve a run: the client is closed, no scheduler answers, or the workers fail the work."""


class ShippingError(DspexError, TypeError):
    """Something a run needs cannot be sent to another process; the message names it and the fix."""
