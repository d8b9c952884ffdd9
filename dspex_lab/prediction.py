"""Predictions: a program's typed output fields, plus the raw LM text and usage behind them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dspex_lab.fields import FieldMap
from dspex_lab.lm.usage import Usage


class Prediction(FieldMap):
    """Output fields read as attributes or keys: `pred.answer`, `pred["answer"]`.

    `raw` is the LM text the fields were parsed from (None for predictions a
    program built itself), `usage` the tokens spent producing it,
    `finish_reason` why the LM stopped ("stop", or "length" when the reply was
    cut off at max_tokens; None when no LM reply is behind it).
    """

    __slots__ = ("finish_reason", "raw", "usage")

    def __init__(
        self,
        fields: Mapping[str, Any] | None = None,
        /,
        *,
        raw: str | None = None,
        usage: Usage | None = None,
        finish_reason: str | None = None,
        **more: Any,
    ) -> None:
        data = dict(fields) if fields is not None else {}
        data.update(more)
        object.__setattr__(self, "_fields", data)
        object.__setattr__(self, "raw", raw)
        object.__setattr__(self, "usage", usage if usage is not None else Usage())
        object.__setattr__(self, "finish_reason", finish_reason)

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "usage":
            object.__setattr__(self, name, value)
            return
        raise AttributeError("predictions are read-only; build a new dx.Prediction(...) to change fields")

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            return self._fields == dict(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        body = ", ".join(f"{key}={value!r}" for key, value in self._fields.items())
        return f"Prediction({body})"
