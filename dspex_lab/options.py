"""One check for every numeric option a public entry point takes (timeouts, limits, counts, scores).

A bad number is rejected where it is given, with a message naming the argument,
the value it got and what it accepts: NaN and infinity never slip through as
"no limit", a bool is not a number, a string is not one either, and counts are
whole numbers.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

__all__ = ["check_number"]


def check_number(
    name: str,
    value: Any,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    above: float | None = None,
    integer: bool = False,
    optional: bool = False,
    unit: str = "",
) -> Any:
    """`value` as an int (`integer=True`) or a float, or a ValueError/TypeError naming `name`.

    `minimum`/`maximum` are inclusive bounds, `above` an exclusive lower bound;
    `optional` lets None through (returned as None); `unit` ("seconds", ...)
    only shapes the message.
    """
    if value is None and optional:
        return None
    accepts = _accepts(minimum, maximum, above, integer, optional, unit)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be {accepts}, got {value!r} ({type(value).__name__})")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{name} must be {accepts}, got {value!r}")
    if integer and not number.is_integer():
        raise ValueError(f"{name} must be {accepts}, got {value!r} (not a whole number)")
    if (
        (minimum is not None and number < minimum)
        or (maximum is not None and number > maximum)
        or (above is not None and number <= above)
    ):
        raise ValueError(f"{name} must be {accepts}, got {value!r}")
    return int(number) if integer else number


def _accepts(
    minimum: float | None, maximum: float | None, above: float | None, integer: bool, optional: bool, unit: str
) -> str:
    parts = ["a whole number" if integer else "a finite number"]
    if unit:
        parts.append(f"of {unit}")
    bounds = []
    if above is not None:
        bounds.append(f"> {above:g}")
    if minimum is not None:
        bounds.append(f">= {minimum:g}")
    if maximum is not None:
        bounds.append(f"<= {maximum:g}")
    if bounds:
        parts.append(" and ".join(bounds))
    text = " ".join(parts)
    return text + " or None" if optional else text
