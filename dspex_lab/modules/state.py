"""Predictor state as events: every change to demos, instructions or signature is recorded.

The trace store folds these `state.change` events to answer "what did this
predictor look like at time t". `DemoList` is a list that reports its own
mutations, so `predictor.demos.append(x)` is recorded as surely as
`predictor.demos = [...]`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Self, SupportsIndex

from dspex_lab.example import Example
from dspex_lab.trace import events, schema

if TYPE_CHECKING:
    from dspex_lab.modules.predict import Predict


def as_demo(value: Any) -> Example:
    """Demos are Examples; plain mappings are accepted and converted."""
    if isinstance(value, Example):
        return value
    if isinstance(value, Mapping):
        return Example.from_dict(value)
    raise TypeError(f"a demo must be a dx.Example or a dict of fields, got {type(value).__name__}")


def demo_to_dict(demo: Example) -> dict[str, Any]:
    """A demo as plain JSON-ready data, keeping its input keys under `_inputs`."""
    data = demo.to_dict()
    if demo.input_keys is not None:
        data["_inputs"] = sorted(demo.input_keys)
    return data


def record(predictor: Predict, op: str, field: str, value: Any, origin: str | None = None) -> None:
    """Emit one `StateChange` event for `predictor` (nothing when tracing is off)."""
    if not events.tracing_active():
        return
    events.emit(
        schema.StateChange(op=op, field=field, value=value, origin=origin, path=predictor.state_path),
        predictor.state_component,
    )


def record_init(predictor: Predict, origin: str | None) -> None:
    if events.tracing_active():
        record(predictor, "init", "*", predictor.state_snapshot(), origin)


class DemoList(list[Example]):
    """The demos of one predictor; each mutation emits a state.change event."""

    __slots__ = ("_owner",)

    def __init__(self, owner: Predict, items: Iterable[Any] = ()) -> None:
        super().__init__(as_demo(item) for item in items)
        self._owner = owner

    def _changed(self) -> None:
        record(self._owner, "set", "demos", [demo_to_dict(d) for d in self])

    def append(self, item: Any) -> None:
        demo = as_demo(item)
        super().append(demo)
        record(self._owner, "append", "demos", demo_to_dict(demo))

    def extend(self, items: Iterable[Any]) -> None:
        super().extend(as_demo(item) for item in items)
        self._changed()

    def insert(self, index: SupportsIndex, item: Any) -> None:
        super().insert(index, as_demo(item))
        self._changed()

    def remove(self, item: Any) -> None:
        super().remove(item)
        self._changed()

    def pop(self, index: SupportsIndex = -1) -> Example:
        demo = super().pop(index)
        self._changed()
        return demo

    def clear(self) -> None:
        super().clear()
        self._changed()

    def sort(self, *args: Any, **kwargs: Any) -> None:
        super().sort(*args, **kwargs)
        self._changed()

    def reverse(self) -> None:
        super().reverse()
        self._changed()

    def __setitem__(self, index: Any, value: Any) -> None:
        if isinstance(index, slice):
            super().__setitem__(index, [as_demo(item) for item in value])
        else:
            super().__setitem__(index, as_demo(value))
        self._changed()

    def __delitem__(self, index: Any) -> None:
        super().__delitem__(index)
        self._changed()

    def __iadd__(self, items: Iterable[Example]) -> Self:  # type: ignore[override, misc]  # list subclasses: a typeshed quirk
        self.extend(items)
        return self

    def __imul__(self, times: SupportsIndex) -> Self:
        super().__imul__(times)
        self._changed()
        return self

    def __reduce_ex__(self, protocol: SupportsIndex) -> Any:
        # Copies and pickles become plain lists: ownership belongs to one predictor.
        return (list, (list(self),))
