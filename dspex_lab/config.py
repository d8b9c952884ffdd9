"""`dx.configure` and `dx.context`: the settings as users give them, checked and resolved.

An LM may be given by name, as DSPy users write it (`configure(lm="openai/gpt-4o-mini")`),
and callbacks start listening to the trace when set. `dspex_lab.settings` stores the
result; it sits below the LM clients, so resolving names happens here, above both.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from dspex_lab import callbacks, settings
from dspex_lab.lm.base import BaseLM
from dspex_lab.lm.factory import LM


def resolve(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The settings with an LM name built into a client and callbacks checked (and listening)."""
    if "callbacks" in kwargs:
        kwargs = {**kwargs, "callbacks": callbacks.check(kwargs["callbacks"])}
        if kwargs["callbacks"]:
            callbacks.install()
    lm = kwargs.get("lm")
    if isinstance(lm, str):
        kwargs = {**kwargs, "lm": LM(lm)}
    elif lm is not None and not isinstance(lm, BaseLM):
        raise TypeError(
            f"lm must be an LM client such as dx.LM('openai/gpt-4o-mini') or its name as a string, "
            f"got {type(lm).__name__}"
        )
    return kwargs


def configure(**kwargs: Any) -> None:
    """Set process-wide defaults, e.g. `dx.configure(lm=dx.LM("local/smollm2-135m"))` or `lm="openai/gpt-4o-mini"`.

    Args:
        **kwargs: `lm`, `adapter`, `cache_dir`, `progress`, `callbacks`.
    """
    settings.configure(**resolve(kwargs))


@contextlib.contextmanager
def context(**kwargs: Any) -> Iterator[None]:
    """Override settings for the enclosed block, in this thread or task only (same arguments as `configure`)."""
    with settings.context(**resolve(kwargs)):
        yield
