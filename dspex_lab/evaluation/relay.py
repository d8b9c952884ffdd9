"""Events recorded in another process, carried into this one's trace as if they happened here.

A Dask worker records the events of its work in a `RelayStore` and ships what
it holds every few milliseconds (`take()` hands over the rows and empties it).
On the client, `Ingest.deliver` puts them into the current store and in front
of the live listeners, after three changes that make one trace of many
processes:

- span ids and correlation ids are numbers from each process's own counter, so
  they are replaced by fresh ids of this process (a worker's span 7 and the
  client's span 7 never meet);
- a worker's top-level events get the span that was current where the work was
  started as their parent, so the item spans nest under the run as they do locally;
- the `task` column names the worker ("worker:0"), one lane per worker in the
  timeline's lanes-by-task view.

The rows are the store's own (the values of `events.FIELDS`, payloads already
frozen), so nothing is encoded twice on the way.
"""

from __future__ import annotations

import logging
from typing import Any

from dspex_lab.trace import events
from dspex_lab.trace.events import FIELDS, Event
from dspex_lab.trace.payload import thaw
from dspex_lab.trace.store import EventStore

log = logging.getLogger(__name__)

WIDTH = len(FIELDS)
_SPAN, _PARENT, _TASK, _CORRELATION = (FIELDS.index(key) for key in ("span_id", "parent_id", "task", "correlation_id"))


class RelayStore(EventStore):
    """A worker's store of events waiting to be shipped: never sealed, emptied by `take()`."""

    def __init__(self) -> None:
        super().__init__(chunk_events=1 << 40)

    def take(self) -> list[Any]:
        """The buffered events, flat (WIDTH values per event, oldest first), removed from the store."""
        with self._lock:
            flat = self._flat
            # Writers only append, one whole event at a time: the first len() values are whole events.
            taken = flat[: len(flat)]
            del flat[: len(taken)]
        return taken


class Ingest:
    """Delivers the events of other processes into this process's trace; one per run.

    `source` names one process's stream of events (a batch attempt on a worker):
    ids are mapped per source.
    """

    def __init__(self, parent: int | None) -> None:
        self.parent = parent or 0
        self._spans: dict[tuple[str, int], int] = {}
        self._correlations: dict[tuple[str, str], str] = {}
        self.delivered = 0

    def deliver(self, source: str, worker: str, flat: list[Any]) -> None:
        """Add `flat` (as `RelayStore.take` returned it) to the current store and listeners."""
        if not flat:
            return
        rows = [flat[start : start + WIDTH] for start in range(0, len(flat), WIDTH)]
        for row in rows:
            row[_SPAN] = self._span(source, row[_SPAN]) if row[_SPAN] else 0
            row[_PARENT] = self._span(source, row[_PARENT]) if row[_PARENT] else self.parent
            row[_TASK] = worker
            if row[_CORRELATION] is not None:
                row[_CORRELATION] = self._correlation(source, row[_CORRELATION])
        self.delivered += len(rows)
        store = events.get_store()
        if store is not None:
            store.extend({name: [row[i] for row in rows] for i, name in enumerate(FIELDS)})
        listeners = events._sink().listeners
        if listeners:
            for row in rows:
                event = Event(*row[:-1], thaw(row[-1]) if row[-1] is not None else None)
                event = event._replace(span_id=event.span_id or None, parent_id=event.parent_id or None)
                for listener in listeners:
                    try:
                        listener(event)
                    except Exception:
                        log.warning("trace listener %r failed on a worker's event", listener, exc_info=True)

    def _span(self, source: str, span_id: int) -> int:
        key = (source, span_id)
        mapped = self._spans.get(key)
        if mapped is None:
            mapped = self._spans[key] = events.new_id()
        return mapped

    def _correlation(self, source: str, correlation: str) -> str:
        key = (source, correlation)
        mapped = self._correlations.get(key)
        if mapped is None:
            # "openai/gpt-4o-mini#12" keeps its form, with a number from this process's counter.
            stem = correlation.rpartition("#")[0] or correlation
            mapped = self._correlations[key] = f"{stem}#{events.new_id()}"
        return mapped

    def forget(self, source: str) -> None:
        """Drop the id maps of a finished source."""
        self._spans = {key: value for key, value in self._spans.items() if key[0] != source}
        self._correlations = {key: value for key, value in self._correlations.items() if key[0] != source}
