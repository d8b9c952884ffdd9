"""FieldMap: a read-only mapping of named fields that also reads them as attributes.

The shared base of `Example` and `Prediction`: `ex.question` and `ex["question"]`
are the same value, and a misspelt name says which fields exist.
"""

from __future__ import annotations

import datetime
import enum
from collections.abc import Iterator, Mapping
from typing import Any


def jsonable(value: Any) -> Any:
    """A JSON-ready form of a field value (pydantic models, Enums, tuples, sets, datetimes handled)."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()  # as pydantic (and so DSPy) writes them
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if isinstance(value, enum.Enum):
        return jsonable(value.value)
    return str(value)


class FieldMap(Mapping[str, Any]):
    """Fields in `_fields`, read as keys or attributes; subclasses decide what may be set."""

    __slots__ = ("_fields",)

    _fields: dict[str, Any]

    def __getitem__(self, key: str) -> Any:
        return self._fields[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)

    def __contains__(self, key: object) -> bool:
        return key in self._fields

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return self._fields[name]
        except KeyError:
            raise AttributeError(
                f"{type(self).__name__} has no field {name!r}; its fields are {list(self._fields)}"
            ) from None

    def to_dict(self) -> dict[str, Any]:
        """The fields as a plain dict of JSON-ready values."""
        return {key: jsonable(value) for key, value in self._fields.items()}
