"""`dx.DaskExecutor`: an evaluation's or an optimizer's items run on a Dask cluster; trace and run store stay here.

    from dask.distributed import Client, LocalCluster

    client = Client(LocalCluster(n_workers=2, threads_per_worker=1))
    result = dx.evaluate(program, devset, metric, executor=dx.DaskExecutor(client))

How a run goes:

- the work (the function run on each item, so the program, its LMs and the
  metric, plus the settings in effect) is pickled once with cloudpickle; what
  cannot be pickled is named before anything is sent (`shipping.py`). API keys
  never travel: an LM's key is read again from the worker's environment;
- items go out in batches (a few per worker thread in flight, each big enough
  to keep a worker's engine busy); each worker runs its batch with the local
  engine at the run's `concurrency` (`dask_worker.py`);
- workers stream outcomes and events back while they run, on a topic of the
  scheduler's event log this client subscribes to; outcomes reach the engine's
  `on_outcome` (which writes the run store) as they arrive, events go into this
  process's EventStore with fresh span ids and the worker as their task
  (`relay.py`);
- a worker that dies takes its batch with it; Dask runs the batch again on
  another worker, and that attempt runs only the items whose outcomes never
  arrived: every item is reported exactly once;
- stopping the run (Stop, Ctrl-C, `max_errors`) cancels the queued batches and
  stops the running ones on every worker; what was reported stays.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import math
import pickle
import uuid
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from dspex_lab import settings
from dspex_lab.errors import ClusterError, ConfigurationError
from dspex_lab.evaluation import shipping
from dspex_lab.evaluation.dask_worker import BatchSpec, cancel_run, run_batch
from dspex_lab.evaluation.executor import IsolatedJob, OnOutcome, Outcome
from dspex_lab.evaluation.relay import Ingest
from dspex_lab.trace import events

CONNECT_TIMEOUT_S = 5.0
"""How long to wait for a scheduler to answer before saying it cannot be reached."""

FLUSH_INTERVAL_S = 0.05
"""How often a worker ships what it has finished and recorded."""

BATCHES_PER_THREAD = 2
"""Batches in flight per worker thread: one running, one ready to start when it ends."""

ITEMS_PER_SLOT = 4
"""An automatic batch holds up to this many times the run's concurrency."""

CLEANUP_TIMEOUT_S = 10.0


class DaskExecutor:
    """Runs an evaluation's (or an optimizer's) items on a Dask cluster; see the module docstring.

    `client` is a `dask.distributed.Client` or a scheduler address ("tcp://10.0.0.5:8786",
    for which a client is made and closed with `close()`). `batch_size` fixes the
    items per batch (default: sized from the run's length, the cluster's threads
    and the run's concurrency). `flush_interval` is how often workers ship
    results and events home.
    """

    def __init__(
        self,
        client: Any,
        *,
        batch_size: int | None = None,
        flush_interval: float = FLUSH_INTERVAL_S,
        connect_timeout: float = CONNECT_TIMEOUT_S,
    ) -> None:
        distributed = _distributed()
        if batch_size is not None and (
            isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1
        ):
            raise ValueError(f"batch_size must be a whole number >= 1, or None to size batches, got {batch_size!r}")
        for name, value in (("flush_interval", flush_interval), ("connect_timeout", connect_timeout)):
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise ValueError(f"{name} must be a number of seconds > 0, got {value!r}")
        self.batch_size = batch_size
        self.flush_interval = float(flush_interval)
        self.connect_timeout = float(connect_timeout)
        self._owned = False
        if isinstance(client, str):
            self.client = _connect(distributed, client, self.connect_timeout)
            self._owned = True
        elif isinstance(client, distributed.Client):
            _check_open(client)
            if client.asynchronous:
                # The run is driven from another thread; a synchronous client of its own serves it.
                self.client = _connect(distributed, client.scheduler.address, self.connect_timeout)
                self._owned = True
            else:
                self.client = client
        else:
            raise TypeError(
                "DaskExecutor needs a dask.distributed.Client or a scheduler address such as "
                f"'tcp://10.0.0.5:8786', got {type(client).__name__}"
            )

    async def ready(self) -> int:
        """Check the cluster answers, before any work starts; returns its worker threads (at least 1)."""
        _check_open(self.client)
        try:
            threads = await asyncio.wait_for(asyncio.to_thread(self.client.nthreads), self.connect_timeout)
        except (OSError, TimeoutError) as exc:
            raise ClusterError(
                f"the Dask scheduler at {self.address} does not answer ({type(exc).__name__}: {exc}); "
                "check that it is running and reachable, or pass another client"
            ) from None
        return max(1, sum(threads.values()))

    async def run(
        self,
        job: Any,
        items: Iterable[tuple[int, Any]],
        *,
        concurrency: int,
        on_outcome: OnOutcome,
    ) -> None:
        """Run `job` on every item on the cluster, calling `on_outcome` here as outcomes arrive (see `Executor`)."""
        if not isinstance(job, IsolatedJob):
            raise TypeError(f"DaskExecutor runs the engine's IsolatedJob, got {type(job).__name__}")
        work = shipping.dumps(
            {"fn": job.fn, "timeout": job.timeout, "component": job.component, "settings": settings.snapshot()}
        )
        threads = await self.ready()
        run = _ClusterRun(self, work, concurrency, on_outcome, threads)
        await run.drive(iter(items))

    @property
    def address(self) -> str:
        scheduler = getattr(self.client, "scheduler", None)
        return str(getattr(scheduler, "address", None) or "?")

    def close(self) -> None:
        """Close the client this executor made (one given to it is left open)."""
        if self._owned:
            self.client.close()

    def __enter__(self) -> DaskExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __reduce__(self) -> tuple[Any, ...]:
        raise TypeError(
            "a DaskExecutor stays in the process that made it and cannot be sent to workers; "
            "keep it out of programs and metrics"
        )

    def __repr__(self) -> str:
        return f"DaskExecutor({self.address!r})"


@dataclass(slots=True)
class _Batch:
    number: int
    items: list[tuple[int, Any]]
    future: Any
    left: set[int] = field(default_factory=set)


class _ClusterRun:
    """One run on the cluster: submits batches, takes in what workers stream back, cleans up."""

    def __init__(self, executor: DaskExecutor, work: bytes, concurrency: int, on_outcome: OnOutcome, threads: int):
        self.executor = executor
        self.client = executor.client
        self.work = work
        self.digest = hashlib.blake2b(work, digest_size=16).hexdigest()
        self.concurrency = concurrency
        self.on_outcome = on_outcome
        self.slots = threads * BATCHES_PER_THREAD
        self.loop = asyncio.get_running_loop()
        self.key = uuid.uuid4().hex[:16]
        self.topic = f"dspex-{self.key}"
        self.run_id = events.current_run_id()
        self.ingest = Ingest(events.current_span_id())
        self.inbox: deque[tuple[str, Any]] = deque()
        self.wake = asyncio.Event()
        self.batches: dict[int, _Batch] = {}
        self.submitted = 0
        self.reported: set[int] = set()
        self.markers: list[str] = []
        self.variables: list[str] = []
        self.replies: set[asyncio.Task[None]] = set()
        self.lookahead: deque[tuple[int, Any]] = deque()
        self.size = 1

    def _post(self, entry: tuple[str, Any]) -> None:
        # Called on the Dask client's own thread.
        self.inbox.append(entry)
        with contextlib.suppress(RuntimeError):  # the run's loop is gone: nothing is waiting any more
            self.loop.call_soon_threadsafe(self.wake.set)

    async def drive(self, pending: Iterator[tuple[int, Any]]) -> None:
        self.client.subscribe_topic(self.topic, lambda event: self._post(("message", event[1])))
        finished = False
        try:
            self._plan(pending)
            self._refill(pending)
            while self.batches:
                await self.wake.wait()
                self.wake.clear()
                while self.inbox:
                    kind, value = self.inbox.popleft()
                    if kind == "message":
                        self._message(pickle.loads(value))
                    else:
                        self._settled(value)
                self._refill(pending)
            finished = True
        finally:
            await self._close(stop=not finished)

    # --- batches ---------------------------------------------------------------------------------
    def _plan(self, pending: Iterator[tuple[int, Any]]) -> None:
        """Choose the batch size: the given one, or an even split of a short run, or ITEMS_PER_SLOT x concurrency."""
        if self.executor.batch_size is not None:
            self.size = self.executor.batch_size
            return
        cap = ITEMS_PER_SLOT * self.concurrency
        self.lookahead.extend(islice(pending, cap * self.slots))
        whole = len(self.lookahead) < cap * self.slots
        self.size = max(1, math.ceil(len(self.lookahead) / self.slots)) if whole else cap

    def _take(self, pending: Iterator[tuple[int, Any]]) -> list[tuple[int, Any]]:
        chunk = [self.lookahead.popleft() for _ in range(min(self.size, len(self.lookahead)))]
        chunk.extend(islice(pending, self.size - len(chunk)))
        return chunk

    def _refill(self, pending: Iterator[tuple[int, Any]]) -> None:
        while len(self.batches) < self.slots:
            chunk = self._take(pending)
            if not chunk:
                return
            self._submit(chunk)

    def _submit(self, chunk: list[tuple[int, Any]]) -> None:
        number = self.submitted
        self.submitted += 1
        spec = BatchSpec(
            run_key=self.key,
            run_id=self.run_id,
            batch=number,
            topic=self.topic,
            work=self.work,
            digest=self.digest,
            items=chunk,
            concurrency=self.concurrency,
            flush_interval=self.executor.flush_interval,
        )
        self.markers.append(spec.marker)
        future = self.client.submit(run_batch, spec, key=f"dspex-batch-{self.key}-{number}", pure=False)
        self.batches[number] = _Batch(number, chunk, future, {index for index, _ in chunk})
        future.add_done_callback(lambda _, number=number: self._post(("settled", number)))

    def _settled(self, number: int) -> None:
        """A batch's task ended: normally after its last message; otherwise say what happened to its items."""
        batch = self.batches.get(number)
        if batch is None:
            return
        future = batch.future
        if future.status == "finished":
            del self.batches[number]
            if batch.left:
                # Finished without reporting some items (its messages were lost): run those again.
                self._submit([(index, item) for index, item in batch.items if index in batch.left])
            return
        if future.status == "cancelled":
            raise ClusterError(f"batch {number} of the run was cancelled on the cluster (was the scheduler restarted?)")
        exc = future.exception()
        del self.batches[number]
        if isinstance(exc, _distributed().KilledWorker):
            # The batch took down every worker it ran on: its items fail, the run goes on.
            for index in sorted(batch.left):
                self._report(
                    Outcome(index, error=f"KilledWorker: the workers running this example's batch died ({exc})")
                )
            return
        raise ClusterError(f"the Dask workers could not run the work: {type(exc).__name__}: {exc}") from exc

    # --- what workers send -----------------------------------------------------------------------
    def _message(self, message: dict[str, Any]) -> None:
        batch = self.batches.get(message["batch"])
        source = message["attempt"]
        if message.get("rerun"):
            if batch is not None:
                reply = self.loop.create_task(self._answer_rerun(batch, source))
                self.replies.add(reply)
                reply.add_done_callback(self.replies.discard)
            return
        self.ingest.deliver(source, message["worker"], message["events"])
        for index, blob in message["outcomes"]:
            if batch is not None and index in batch.left:
                self._report(_outcome(index, blob))
        if "end" in message:
            self.ingest.forget(source)

    def _report(self, outcome: Outcome) -> None:
        for batch in self.batches.values():
            batch.left.discard(outcome.index)
        if outcome.index in self.reported:
            return
        self.reported.add(outcome.index)
        self.on_outcome(outcome)

    async def _answer_rerun(self, batch: _Batch, attempt: str) -> None:
        """Tell a rerun of `batch` which items are still unreported."""
        from distributed import Variable

        name = f"{self.topic}-b{batch.number}-{attempt}"
        self.variables.append(name)
        left = sorted(batch.left)
        await asyncio.to_thread(lambda: Variable(name, client=self.client).set(left))

    # --- the end ---------------------------------------------------------------------------------
    async def _close(self, stop: bool) -> None:
        self.client.unsubscribe_topic(self.topic)
        for reply in list(self.replies):
            reply.cancel()
        futures = [batch.future for batch in self.batches.values()]
        client, key, topic = self.client, self.key, self.topic
        markers, variables = list(self.markers), list(self.variables)

        def clean() -> None:
            from distributed import Event, Variable

            if stop:
                if futures:
                    client.cancel(futures)
                client.run(cancel_run, key, "the run was stopped", on_error="ignore")
            for name in markers:
                Event(name, client=client).clear()
            for name in variables:
                Variable(name, client=client).delete()
            client.run_on_scheduler(_forget_topic, topic)

        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.to_thread(clean), CLEANUP_TIMEOUT_S)


def _outcome(index: int, blob: bytes) -> Outcome:
    import cloudpickle

    try:
        outcome: Outcome = cloudpickle.loads(blob)
    except Exception as exc:
        return Outcome(index, error=f"the worker's result could not be read here: {type(exc).__name__}: {exc}")
    return outcome


def _forget_topic(topic: str, dask_scheduler: Any = None) -> None:
    """Drop the run's messages the scheduler keeps in its event log (they are in the client's store now)."""
    broker = getattr(dask_scheduler, "_broker", None)
    if broker is not None:
        broker.truncate(topic)


def _distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise ConfigurationError("DaskExecutor needs Dask distributed: pip install 'dspex_lab[distributed]'") from None
    return distributed


def _connect(distributed: Any, address: str, timeout: float) -> Any:
    try:
        return distributed.Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise ClusterError(
            f"no Dask scheduler answers at {address!r} within {timeout:g} s ({type(exc).__name__}: {exc}); "
            "start one (dask scheduler, LocalCluster, a dask-jobqueue or Kubernetes cluster) or fix the address"
        ) from None


def _check_open(client: Any) -> None:
    if client.status in ("closing", "closed"):
        raise ClusterError(
            "the Dask client is closed; make a new one (Client(cluster) or Client('tcp://host:8786')) "
            "and pass it to DaskExecutor"
        )
