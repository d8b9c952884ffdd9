"""Predictions: a program's typed output fields, plus the raw LM text and usage behind them."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from dspex_lab.fields import FieldMap
from dspex_lab.lm.usage import Usage


class Prediction(FieldMap):
    """Output fields read as attributes or keys: `pred.answer`, `pred["answer"]`.

    `raw` is the LM text the fields were parsed from (None for predictions a
    program built itself), `usage` the tokens spent producing it,
    `finish_reason` why the LM stopped ("stop", or "length" when the reply was
    cut off at max_tokens; None when no LM reply is behind it). With `n=`
    completions, `completions` holds them all (the fields are the first's);
    otherwise it holds this prediction's fields alone.
    """

    __slots__ = ("_completions", "finish_reason", "raw", "usage")

    def __init__(
        self,
        fields: Mapping[str, Any] | None = None,
        /,
        *,
        raw: str | None = None,
        usage: Usage | None = None,
        finish_reason: str | None = None,
        completions: Sequence[Mapping[str, Any]] | None = None,
        **more: Any,
    ) -> None:
        data = dict(fields) if fields is not None else {}
        data.update(more)
        object.__setattr__(self, "_fields", data)
        object.__setattr__(self, "_completions", completions)
        object.__setattr__(self, "raw", raw)
        object.__setattr__(self, "usage", usage if usage is not None else Usage())
        object.__setattr__(self, "finish_reason", finish_reason)

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "usage":
            object.__setattr__(self, name, value)
            return
        raise AttributeError("predictions are read-only; build a new dx.Prediction(...) to change fields")

    @property
    def completions(self) -> Completions:
        """Every completion of an `n=` call; otherwise this prediction's fields alone."""
        return Completions(self._completions if self._completions is not None else [self._fields])

    def get_lm_usage(self) -> dict[str, dict[str, float | int | None]]:
        """The usage behind this prediction per model, as DSPy's `get_lm_usage()` gives it."""
        return {model: usage.to_dict() for model, usage in (self.usage.by_lm or {}).items()}

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuilt field by field: unpickling must not go through the read-only __setattr__.
        return (_rebuild, (type(self), self._fields, self._completions, self.raw, self.usage, self.finish_reason))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            return self._fields == dict(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        body = ", ".join(f"{key}={value!r}" for key, value in self._fields.items())
        return f"Prediction({body})"


class Completions(Sequence[dict[str, Any]]):
    """Several completions of one call: `pred.completions[1]` is one, `pred.completions.answer` every answer."""

    __slots__ = ("_items",)

    def __init__(self, items: Sequence[Mapping[str, Any]]) -> None:
        self._items = [item if isinstance(item, dict) else dict(item) for item in items]

    def __getitem__(self, index: int) -> dict[str, Any]:  # type: ignore[override]
        return self._items[index]

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self._items)

    def __getattr__(self, name: str) -> list[Any]:
        if name.startswith("_"):
            raise AttributeError(name)
        if not self._items or name not in self._items[0]:
            known = list(self._items[0]) if self._items else []
            raise AttributeError(f"completions have no field {name!r}; their fields are {known}")
        return [item.get(name) for item in self._items]

    def __repr__(self) -> str:
        return f"Completions({self._items!r})"


def _rebuild(
    cls: type[Prediction],
    fields: dict[str, Any],
    completions: list[dict[str, Any]] | None,
    raw: str | None,
    usage: Usage,
    finish_reason: str | None,
) -> Prediction:
    prediction = cls.__new__(cls)
    object.__setattr__(prediction, "_fields", fields)
    object.__setattr__(prediction, "_completions", completions)
    object.__setattr__(prediction, "raw", raw)
    object.__setattr__(prediction, "usage", usage)
    object.__setattr__(prediction, "finish_reason", finish_reason)
    return prediction
