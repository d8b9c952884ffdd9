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

What travels is `schema.Event`s, their payloads the plain fields of the
schema's classes (already cleaned of secrets and cut to size on the worker):
they pickle, and `event.data` reads one back as its typed class.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from dspex_lab.trace import events
from dspex_lab.trace.payload import thaw
from dspex_lab.trace.schema import Event
from dspex_lab.trace.store import WIDTH, EventStore

log = logging.getLogger(__name__)


class RelayStore(EventStore):
    """A worker's store of events waiting to be shipped: never sealed, emptied by `take()`."""

    def __init__(self) -> None:
        super().__init__(chunk_events=1 << 40)

    def take(self) -> list[Event]:
        """The buffered events, oldest first, removed from the store."""
        with self._append_lock:
            flat = self._flat[:]
            del self._flat[:]
        return [
            Event(ts, kind, run_id, span or None, parent or None, component, task, correlation, thaw(payload))
            for ts, kind, run_id, span, parent, component, task, correlation, payload in (
                flat[start : start + WIDTH] for start in range(0, len(flat), WIDTH)
            )
        ]


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

    def deliver(self, source: str, worker: str, shipped: Sequence[Event]) -> None:
        """Add `shipped` (as `RelayStore.take` returned it) to the current store and listeners."""
        if not shipped:
            return
        delivered = [
            event._replace(
                span_id=self._span(source, event.span_id) if event.span_id else None,
                parent_id=self._span(source, event.parent_id) if event.parent_id else self.parent or None,
                task=worker,
                correlation_id=(
                    self._correlation(source, event.correlation_id) if event.correlation_id is not None else None
                ),
            )
            for event in shipped
        ]
        self.delivered += len(delivered)
        store = events.get_store()
        if store is not None:
            store.extend(delivered)
        for listener in events._sink().listeners:
            for event in delivered:
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
