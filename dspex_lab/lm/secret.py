"""API keys: held in a wrapper that never shows, pickles or copies its value into anything else.

`redact_text` is the one redaction every text passes through before it reaches
an error, an evaluation result, a file or a trace: it removes every key an LM
was given (and keys found in the environment), and whatever follows an
Authorization, x-api-key or Bearer marker, as a proxy echoing the request's
headers would write it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import Any

from dspex_lab.trace.payload import REDACTED, redact_registered, register_secret

_MARKERS = ("auth", "key", "bearer", "token")
_ECHOED = re.compile(
    r"""(?ix)
    \b(authorization|proxy-authorization|x-api-key|x-goog-api-key|api[-_]?key|access[-_]?token)
    (["']?\s*[:=]\s*["']?)            # the separator, as JSON, a header or a query string writes it
    (bearer\s+|basic\s+|token\s+)?
    [^\s"',;&}\]]{6,}
    """
)
_BEARER = re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]{6,}")


class Secret:
    """An API key. `repr`/`str` show a placeholder; pickling keeps only where it came from.

    A key read from an environment variable is read again from that variable
    when unpickled (in a worker process, say); a key passed as an argument is not
    carried over at all, so no pickle, cache or saved file ever holds it.
    """

    __slots__ = ("_env", "_value")

    def __init__(self, value: str, env: str | None = None) -> None:
        self._value = value
        self._env = env
        register_secret(value)  # the trace store redacts it wherever it might turn up

    def reveal(self) -> str:
        """The key itself, for the request header only."""
        return self._value

    @property
    def source(self) -> str:
        return f"${self._env}" if self._env else "api_key="

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_from_env, (self._env,))

    def __deepcopy__(self, memo: dict[int, Any]) -> Secret:
        return self


def _from_env(env: str | None) -> Secret | None:
    value = os.environ.get(env) if env else None
    return Secret(value, env) if value else None


def resolve_key(explicit: str | Secret | None, env_names: Sequence[str]) -> Secret | None:
    """The key passed in, else the first of `env_names` that is set, else None."""
    if isinstance(explicit, Secret):
        return explicit
    if explicit:
        return Secret(explicit)
    for name in env_names:
        value = os.environ.get(name)
        if value:
            return Secret(value, name)
    return None


MIN_KEY_LENGTH = 6
"""Shorter "keys" (a placeholder such as "x" for a local server) are not searched for: they would
redact ordinary text."""


def redact_key(text: str, secret: Secret | None) -> str:
    """`text` with every occurrence of `secret` (at least MIN_KEY_LENGTH characters) replaced."""
    if secret is None:
        return text
    value = secret.reveal()
    if len(value) < MIN_KEY_LENGTH or value not in text:
        return text
    return text.replace(value, REDACTED)


def redact_text(text: str, *secrets: Secret | None) -> str:
    """`text` without API keys: registered ones, `secrets`, and values after credential markers."""
    text = redact_registered(text)
    for secret in secrets:
        text = redact_key(text, secret)
    lowered = text.lower()
    if any(marker in lowered for marker in _MARKERS):
        text = _ECHOED.sub(lambda m: f"{m.group(1)}{m.group(2)}{m.group(3) or ''}{REDACTED}", text)
        text = _BEARER.sub(lambda m: m.group(1) + REDACTED, text)
    return text
