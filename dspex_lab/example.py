"""Examples: one data point of a task, as an immutable mapping that knows its input keys."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from dspex_lab.fields import FieldMap


class Example(FieldMap):
    """A data point: `dx.Example(question="2+2?", answer="4").with_inputs("question")`.

    Fields are read as attributes or keys. Examples are immutable: `copy`,
    `without` and `with_inputs` return new ones.
    """

    __slots__ = ("_input_keys",)

    _input_keys: frozenset[str] | None

    def __init__(self, base: Mapping[str, Any] | None = None, /, **fields: Any) -> None:
        data = dict(base) if base is not None else {}
        data.update(fields)
        inputs = base._input_keys if isinstance(base, Example) else None
        object.__setattr__(self, "_fields", data)
        object.__setattr__(self, "_input_keys", inputs)

    @classmethod
    def _make(cls, fields: dict[str, Any], input_keys: frozenset[str] | None) -> Example:
        example = cls.__new__(cls)
        object.__setattr__(example, "_fields", fields)
        object.__setattr__(example, "_input_keys", input_keys)
        return example

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"examples are immutable; use example.copy({name}=...) for a changed copy")

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuilt through _make: unpickling must not go through the read-only __setattr__.
        return (type(self)._make, (self._fields, self._input_keys))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Example):
            return self._fields == other._fields and self._input_keys == other._input_keys
        if isinstance(other, Mapping):
            return self._fields == dict(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.to_json())

    def __repr__(self) -> str:
        body = ", ".join(f"{key}={_short(value)}" for key, value in self._fields.items())
        marks = f"; inputs={sorted(self._input_keys)}" if self._input_keys is not None else ""
        return f"{type(self).__name__}({body}{marks})"

    # --- inputs and labels ----------------------------------------------------------------------
    @property
    def input_keys(self) -> frozenset[str] | None:
        """The keys marked as inputs, or None when `with_inputs` was never called."""
        return self._input_keys

    def with_inputs(self, *keys: str) -> Example:
        """A copy with `keys` marked as the inputs; the other fields are labels."""
        missing = [key for key in keys if key not in self._fields]
        if missing:
            raise KeyError(f"with_inputs: no field(s) {missing} in this example; its fields are {list(self._fields)}")
        return self._make(dict(self._fields), frozenset(keys))

    def inputs(self) -> Example:
        """The input fields only (as an Example)."""
        keys = self._require_inputs("inputs")
        return self._make({k: v for k, v in self._fields.items() if k in keys}, keys)

    def labels(self) -> Example:
        """The fields that are not inputs (as an Example)."""
        keys = self._require_inputs("labels")
        return self._make({k: v for k, v in self._fields.items() if k not in keys}, frozenset())

    def _require_inputs(self, what: str) -> frozenset[str]:
        if self._input_keys is None:
            raise ValueError(
                f"{what}(): this example has no input keys yet; mark them with "
                f"example.with_inputs('question', ...) (fields: {list(self._fields)})"
            )
        return self._input_keys

    # --- copies --------------------------------------------------------------------------------
    def copy(self, **changes: Any) -> Example:
        """A copy with some fields changed or added."""
        fields = dict(self._fields)
        fields.update(changes)
        return self._make(fields, self._input_keys)

    def without(self, *keys: str) -> Example:
        """A copy without the given fields."""
        inputs = None if self._input_keys is None else self._input_keys.difference(keys)
        return self._make({k: v for k, v in self._fields.items() if k not in keys}, inputs)

    # --- JSON ----------------------------------------------------------------------------------
    def to_json(self) -> str:
        """JSON with the fields and, when set, the input keys under `"_inputs"`."""
        data = self.to_dict()
        if self._input_keys is not None:
            data["_inputs"] = sorted(self._input_keys)
        return json.dumps(data, ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], inputs: Iterable[str] | None = None) -> Example:
        """Build from a dict; an `"_inputs"` entry (as written by `to_json`) marks the inputs."""
        fields = dict(data)
        stored = fields.pop("_inputs", None)
        keys = inputs if inputs is not None else stored
        example = cls._make(fields, None)
        return example.with_inputs(*keys) if keys is not None else example

    @classmethod
    def from_json(cls, text: str) -> Example:
        return cls.from_dict(json.loads(text))


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
