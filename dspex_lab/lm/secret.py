"""API keys: held in a wrapper that never shows, pickles or copies its value into anything else."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from dspex_lab.trace.events import register_secret


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


def redact(text: str, secret: Secret | None) -> str:
    """`text` with every occurrence of the key replaced by a placeholder."""
    if secret is None or not secret.reveal() or secret.reveal() not in text:
        return text
    return text.replace(secret.reveal(), "[redacted]")
