"""A progress consumer shared by the evaluation tests."""

from __future__ import annotations

from typing import Any

from dspex_lab.trace.events import Event


class Recorder:
    """A progress consumer that keeps every event and runs `action` when `when_done` examples are done."""

    def __init__(self, when_done: int | None = None, action: Any = None) -> None:
        self.events: list[Event] = []
        self.when_done = when_done
        self.action = action

    def on_event(self, event: Event) -> None:
        self.events.append(event)
        if event.kind == "evaluate.example" and self.done == self.when_done:
            self.action()

    @property
    def done(self) -> int:
        return sum(event.kind == "evaluate.example" for event in self.events)

    @property
    def kinds(self) -> list[str]:
        return [event.kind for event in self.events]
