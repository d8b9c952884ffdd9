"""`asyncio._get_running_loop`: the running loop or None, without the exception `get_running_loop` raises.

Emitting an event asks for the running loop (to label the event with its task)
on every call, also from plain threads where there is none: the private
function answers in one C call where `asyncio.get_running_loop()` would raise
and catch a RuntimeError. Present and unchanged in CPython 3.7 through 3.14.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable

CHECKED = ((3, 11), (3, 14))
"""The Python versions (oldest, newest) this shim was checked against."""


def _find() -> Callable[[], asyncio.AbstractEventLoop | None]:
    found = getattr(asyncio, "_get_running_loop", None)
    if found is None:
        version = ".".join(map(str, sys.version_info[:3]))
        raise ImportError(
            f"asyncio._get_running_loop is gone in Python {version} (checked up to "
            f"{'.'.join(map(str, CHECKED[1]))}): update dspex_lab/compat/asyncio_loop.py"
        )
    return found


running_loop_or_none: Callable[[], asyncio.AbstractEventLoop | None] = _find()
"""The loop running in this thread, or None."""


def check() -> None:
    """Raise when the private function no longer behaves as this module assumes."""
    if running_loop_or_none() is not None:
        raise AssertionError("asyncio._get_running_loop() returned a loop outside any running loop")

    async def probe() -> bool:
        return running_loop_or_none() is asyncio.get_running_loop()

    if not asyncio.run(probe()):
        raise AssertionError("asyncio._get_running_loop() does not return the running loop")
