"""What a Dask worker runs: one batch of items through the local engine, with its events and outcomes streamed home.

`run_batch(spec)` is the task `DaskExecutor` submits. It

1. tells a first attempt from a rerun: Dask runs a task again elsewhere when
   its worker dies, but the client already has the outcomes the dead attempt
   streamed. A first attempt sets a marker (a Dask `Event`) before it runs
   anything; an attempt that finds the marker set asks the client which of its
   items are still unreported (the answer comes as a Dask `Variable`) and runs
   only those;
2. loads the work (unpickled once per worker process and kept, with the
   embedded model the program's LM loads once and reuses), with the client's
   settings and trace context set up around it;
3. runs the items on this process's event loop with `LocalExecutor` at the
   run's concurrency, recording events in a `RelayStore`;
4. every `flush_interval` seconds ships what finished (outcomes, then the events
   recorded so far, so an outcome never arrives before its own events) as one
   `log_event` message on the run's topic, which the client has subscribed to.

The client stops a run everywhere with `cancel_run` (through `Client.run`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import pickle
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cloudpickle

from dspex_lab import settings
from dspex_lab.evaluation.cancel import CancelToken
from dspex_lab.evaluation.executor import IsolatedJob, LocalExecutor, Outcome
from dspex_lab.evaluation.relay import RelayStore
from dspex_lab.loop import background_loop
from dspex_lab.trace import events

RERUN_WAIT_S = 60.0
"""How long a rerun waits for the client to say which items are left (then it gives up: the client is gone)."""

KEPT_WORK = 4
"""Work blobs kept unpickled per worker process (a run, its optimizer's candidates)."""


@dataclass(slots=True)
class BatchSpec:
    """One batch: what to run, on which items, and where to report."""

    run_key: str
    run_id: str | None
    batch: int
    topic: str
    work: bytes
    digest: str
    items: list[tuple[int, Any]]
    concurrency: int
    flush_interval: float

    @property
    def marker(self) -> str:
        return f"{self.topic}-b{self.batch}"


_work: OrderedDict[str, tuple[IsolatedJob, dict[str, Any]]] = OrderedDict()
_work_lock = threading.Lock()
_running: dict[str, dict[CancelToken, threading.Event]] = {}
"""Per run: the batches running in this process (their stop token, and the flag set when they end)."""
_running_lock = threading.Lock()
_stopped: OrderedDict[str, None] = OrderedDict()
"""Runs stopped here (the newest KEPT_STOPPED): a batch of one of them that starts late does not run."""
KEPT_STOPPED = 1024

STOP_WAIT_S = 10.0


def run_batch(spec: BatchSpec) -> dict[str, Any]:
    """Run one batch (see the module docstring); returns a summary: attempt id, items run, status."""
    from distributed import Event, Variable, get_client, get_worker

    worker = get_worker()
    attempt = uuid.uuid4().hex[:12]
    label = f"worker:{worker.name}"
    client = get_client()
    marker = Event(spec.marker, client=client)
    items = spec.items
    if not marker.is_set():
        marker.set()
    else:
        # A rerun: the worker of an earlier attempt died. Only the client knows what that attempt reported.
        _send(worker, spec.topic, {"attempt": attempt, "batch": spec.batch, "worker": label, "rerun": True})
        left = set(Variable(f"{spec.marker}-{attempt}", client=client).get(timeout=RERUN_WAIT_S))
        items = [(index, item) for index, item in items if index in left]
    job, captured = _load(spec.work, spec.digest, str(worker.address))
    token, ended = CancelToken(), threading.Event()
    with _running_lock:
        if spec.run_key in _stopped:
            # Stopped while this batch waited on the worker: the scheduler's cancel did not reach it in time.
            return {"attempt": attempt, "worker": label, "items": 0, "status": "cancelled"}
        _running.setdefault(spec.run_key, {})[token] = ended
    try:
        drive = _Drive(spec, job, captured, items, token, worker, label, attempt)
        return asyncio.run_coroutine_threadsafe(drive.run(), background_loop()).result()
    finally:
        ended.set()
        with _running_lock:
            batches = _running.get(spec.run_key)
            if batches is not None:
                batches.pop(token, None)
                if not batches:
                    del _running[spec.run_key]


async def cancel_run(run_key: str, reason: str) -> int:
    """Stop every batch of `run_key` running in this process and wait until they have; returns how many."""
    with _running_lock:
        _stopped[run_key] = None
        while len(_stopped) > KEPT_STOPPED:
            _stopped.popitem(last=False)
        batches = dict(_running.get(run_key, {}))
    for token in batches:
        token.cancel(reason)

    def wait() -> None:
        for ended in batches.values():
            ended.wait(STOP_WAIT_S)

    await asyncio.to_thread(wait)
    return len(batches)


def running_batches() -> dict[str, int]:
    """How many batches of each run are running in this process."""
    with _running_lock:
        return {run_key: len(batches) for run_key, batches in _running.items()}


class WorkLoadError(RuntimeError):
    """The work could not be unpickled on a worker (a module the client has and the worker lacks, say)."""


def _load(blob: bytes, digest: str, where: str) -> tuple[IsolatedJob, dict[str, Any]]:
    with _work_lock:
        found = _work.get(digest)
        if found is not None:
            _work.move_to_end(digest)
            return found
    if hashlib.blake2b(blob, digest_size=16).hexdigest() != digest:
        raise WorkLoadError(f"the work sent to {where} arrived damaged (its digest does not match)")
    try:
        roots = cloudpickle.loads(blob)
    except Exception as exc:
        raise WorkLoadError(
            f"worker {where} could not load the work: {type(exc).__name__}: {exc}. Install on the workers every "
            "module the program, its LM and its metric import (the same versions as the client), or define "
            "the missing functions and classes in the notebook or script, which sends them by value"
        ) from None
    captured = dict(roots["settings"])
    configured = captured.get("cache_dir")
    if configured is not None and not _usable(Path(configured)):
        del captured["cache_dir"]  # a path of the client's machine; the worker keeps its own
    loaded = (IsolatedJob(roots["fn"], roots["timeout"], roots["component"]), captured)
    with _work_lock:
        _work[digest] = loaded
        while len(_work) > KEPT_WORK:
            _work.popitem(last=False)
    return loaded


def _usable(path: Path) -> bool:
    try:
        path.expanduser().mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return True


def _send(worker: Any, topic: str, message: dict[str, Any]) -> None:
    worker.log_event(topic, pickle.dumps(message, protocol=5))


class _Drive:
    """One batch attempt on this process's event loop: the engine, and the flusher that ships its results."""

    def __init__(
        self,
        spec: BatchSpec,
        job: IsolatedJob,
        captured: dict[str, Any],
        items: list[tuple[int, Any]],
        token: CancelToken,
        worker: Any,
        label: str,
        attempt: str,
    ) -> None:
        self.spec = spec
        self.job = job
        self.captured = captured
        self.items = items
        self.token = token
        self.worker = worker
        self.label = label
        self.attempt = attempt
        self.relay = RelayStore()
        self.finished: list[tuple[int, bytes]] = []
        self.reported = 0

    async def run(self) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        spec = self.spec
        status = "completed"
        with contextlib.ExitStack() as scope:
            scope.enter_context(settings.context(**self.captured))
            scope.enter_context(events.use_store(self.relay))
            if spec.run_id is not None:
                scope.enter_context(events.run(spec.run_id))
            flusher = loop.create_task(self._flush_every(spec.flush_interval))
            work = loop.create_task(
                LocalExecutor().run(
                    self.job,
                    iter(self.items),
                    concurrency=max(1, min(spec.concurrency, len(self.items))),
                    on_outcome=self._finished,
                )
            )

            def cancel(reason: str) -> None:
                loop.call_soon_threadsafe(work.cancel)

            remove = self.token.on_cancel(cancel)
            try:
                await work
            except asyncio.CancelledError:
                if not self.token.cancelled:
                    raise
                status = "cancelled"
            finally:
                remove()
                flusher.cancel()
                await asyncio.wait([flusher])
            self._flush(end=status)
        return {"attempt": self.attempt, "worker": self.label, "items": len(self.items), "status": status}

    def _finished(self, outcome: Outcome) -> None:
        try:
            blob = cloudpickle.dumps(outcome, protocol=5)
        except Exception as exc:
            failed = Outcome(
                outcome.index,
                error=f"the result could not be sent back from the worker: {type(exc).__name__}: {exc}",
                latency_ms=outcome.latency_ms,
                usage=outcome.usage,
            )
            blob = cloudpickle.dumps(failed, protocol=5)
        self.finished.append((outcome.index, blob))

    async def _flush_every(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            self._flush()

    def _flush(self, end: str | None = None) -> None:
        # Outcomes first, events second: every outcome taken here was recorded after its own events.
        outcomes, self.finished = self.finished, []
        shipped = self.relay.take()
        if not outcomes and not shipped and end is None:
            return
        self.reported += len(outcomes)
        message: dict[str, Any] = {
            "attempt": self.attempt,
            "batch": self.spec.batch,
            "worker": self.label,
            "events": shipped,
            "outcomes": outcomes,
        }
        if end is not None:
            message["end"] = end
        _send(self.worker, self.spec.topic, message)
