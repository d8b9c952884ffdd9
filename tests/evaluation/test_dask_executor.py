"""DaskExecutor on a real cluster: a LocalCluster of two worker processes on 127.0.0.1, one for the module.

The program talks to the loopback provider server (in this process) over HTTP
from the workers. The test that SIGKILLs a worker runs last: the nanny restarts
the worker, and the tests before it see the cluster as it started.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
from collections import Counter
from collections.abc import Iterator

import pytest

import dspex_lab as dx
from dspex_lab.evaluation.cancel import CancelToken
from dspex_lab.evaluation.dask_worker import running_batches
from dspex_lab.testing import ProviderServer
from dspex_lab.trace.query import get_events
from dspex_lab.trace.store import EventStore

from .helpers import Recorder

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def cluster() -> Iterator[distributed.LocalCluster]:
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=":0",
        scheduler_port=0,
    ) as running:
        yield running


@pytest.fixture(scope="module")
def client(cluster: distributed.LocalCluster) -> Iterator[distributed.Client]:
    with distributed.Client(cluster, set_as_default=False) as connected:
        yield connected


@pytest.fixture(scope="module")
def server() -> Iterator[ProviderServer]:
    with ProviderServer() as running:
        yield running


@pytest.fixture
def slow(server: ProviderServer) -> Iterator[ProviderServer]:
    """The server answering after 50 ms, so a run is still going when the test acts on it."""
    server.latency = 0.05
    yield server
    server.latency = 0.0


def qa(server: ProviderServer) -> dx.Predict:
    return dx.Predict("question -> answer", lm=dx.LM("openai/loopback", api_base=server.url, cache=False))


def questions(n: int) -> list[dx.Example]:
    return [dx.Example(question=f"What is {i} + {i}?", answer=str(2 * i)).with_inputs("question") for i in range(n)]


def answered(example, prediction):
    return prediction.answer.startswith("answer ")


def rows(result: dx.EvaluationResult) -> list[tuple]:
    return sorted((r.index, dict(r.prediction or {}), r.scores, r.error) for r in result.results)


def test_results_match_a_local_run_and_the_workers_events_land_in_this_store(client, server, trace_store):
    program, devset = qa(server), questions(24)
    with dx.trace.use_store(EventStore()):
        local = dx.evaluate(program, devset, answered, progress=False)
    recorder = Recorder()

    remote = dx.evaluate(program, devset, answered, progress=recorder, executor=dx.DaskExecutor(client))

    assert remote.status == "completed"
    assert rows(remote) == rows(local)
    assert recorder.done == 24
    frame = get_events(store=trace_store).reset_index()
    frame = frame[frame["run_id"] == remote.run_id]
    items = frame[frame["kind"] == "evaluate.item.start"]
    assert sorted(payload["index"] for payload in items["payload"]) == list(range(24))
    assert set(items["task"].astype(str)) == {"worker:0", "worker:1"}
    # One span id per span, every parent a span of this trace, every request paired with its reply.
    starts = frame[frame["kind"].astype(str).str.endswith((".start", "lm.request"))]
    assert starts["span_id"].is_unique
    known = set(frame["span_id"].dropna())
    assert set(frame["parent_id"].dropna()) <= known
    requests = Counter(frame[frame["kind"] == "lm.request"]["correlation_id"])
    replies = Counter(frame[frame["kind"] == "lm.response"]["correlation_id"])
    assert requests == replies
    assert len(requests) == 24
    assert set(requests.values()) == {1}
    assert frame["ts"].is_monotonic_increasing


def test_the_optimizers_run_their_teachers_and_candidates_on_the_cluster(client, server, trace_store):
    train = questions(8)
    executor = dx.DaskExecutor(client)
    with dx.trace.use_store(EventStore()):
        local = dx.BootstrapFewShot(max_bootstrapped_demos=3, max_labeled_demos=0, progress=False)
        expected = local.compile(qa(server), trainset=train)
    optimizer = dx.BootstrapFewShot(max_bootstrapped_demos=3, max_labeled_demos=0, progress=False, executor=executor)

    compiled = optimizer.compile(qa(server), trainset=train)

    assert [dict(demo) for demo in compiled.demos] == [dict(demo) for demo in expected.demos]
    # The teacher runs on the cluster passed at least one example per demo.
    assert sum(a.passed for a in optimizer.attempts) >= 3
    attempts = get_events(kind="optimize.attempt", store=trace_store)
    assert set(attempts["task"].astype(str)) <= {"worker:0", "worker:1"}

    search = dx.BootstrapFewShotWithRandomSearch(
        answered, max_bootstrapped_demos=2, max_labeled_demos=0, num_candidate_programs=1, progress=False
    )
    with dx.trace.use_store(EventStore()):
        search.compile(qa(server), trainset=train, valset=train)
    remote = dx.BootstrapFewShotWithRandomSearch(
        answered,
        max_bootstrapped_demos=2,
        max_labeled_demos=0,
        num_candidate_programs=1,
        progress=False,
        executor=executor,
    )
    remote.compile(qa(server), trainset=train, valset=train)
    assert [(c.kind, c.score, c.demo_counts) for c in remote.candidates] == [
        (c.kind, c.score, c.demo_counts) for c in search.candidates
    ]


def test_stop_cancels_the_work_on_the_cluster_and_keeps_what_finished(client, slow):
    token = CancelToken()
    recorder = Recorder(when_done=4, action=lambda: token.cancel("enough for this test"))

    result = dx.evaluate(
        qa(slow),
        questions(40),
        answered,
        progress=recorder,
        cancel=token,
        concurrency=2,
        executor=dx.DaskExecutor(client, batch_size=5),
    )

    assert result.status == "cancelled"
    assert 4 <= len(result.results) < 40
    assert len({r.index for r in result.results}) == len(result.results)
    assert all(count == 0 for per_worker in client.run(running_batches).values() for count in per_worker.values())


METRIC = textwrap.dedent(
    """
    def answered(example, prediction):
        return prediction.answer.startswith("answer ")
    """
)

CLIENT_SCRIPT = METRIC + textwrap.dedent(
    """
    import os, signal, sys
    from distributed import Client
    import dspex_lab as dx

    address, url, db = sys.argv[1:4]

    class DieAfterFive:
        done = 0

        def on_event(self, event):
            if event.kind == "evaluate.example":
                self.done += 1
                if self.done == 5:
                    os.kill(os.getpid(), signal.SIGKILL)

    program = dx.Predict("question -> answer", lm=dx.LM("openai/loopback", api_base=url, cache=False))
    devset = [dx.Example(question=f"What is {i} + {i}?", answer=str(2 * i)).with_inputs("question") for i in range(20)]
    client = Client(address)
    dx.evaluate(program, devset, answered, run_id="resumable", db_path=db, progress=DieAfterFive(),
                concurrency=2, executor=dx.DaskExecutor(client, batch_size=4))
    """
)


def test_a_run_resumes_with_its_run_id_after_the_client_is_killed(client, cluster, slow, tmp_path):
    db = tmp_path / "runs.sqlite3"
    script = tmp_path / "client.py"
    script.write_text(CLIENT_SCRIPT)
    killed = subprocess.run(
        [sys.executable, str(script), cluster.scheduler_address, slow.url, str(db)],
        capture_output=True,
        timeout=120,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()[-2000:]
    script_globals = {"__name__": "__main__"}  # the script's metric, as running the script again defines it
    exec(METRIC, script_globals)

    resumed = dx.evaluate(
        qa(slow),
        questions(20),
        script_globals["answered"],
        run_id="resumable",
        db_path=db,
        progress=False,
        executor=dx.DaskExecutor(client),
    )

    assert resumed.status == "completed"
    assert sum(r.resumed for r in resumed.results) == 5
    assert sorted(r.index for r in resumed.results) == list(range(20))
    with dx.trace.use_store(EventStore()):
        local = dx.evaluate(qa(slow), questions(20), answered, progress=False, concurrency=20)
    assert rows(resumed) == rows(local)


def test_an_executor_that_cannot_serve_fails_before_any_work(cluster, server, trace_store):
    closed = distributed.Client(cluster, set_as_default=False)
    closed.close()
    with pytest.raises(dx.ClusterError, match="the Dask client is closed"):
        dx.DaskExecutor(closed)

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(dx.ClusterError, match=f"no Dask scheduler answers at 'tcp://127.0.0.1:{port}'"):
        dx.DaskExecutor(f"tcp://127.0.0.1:{port}", connect_timeout=1)
    assert len(trace_store) == 0


def test_work_that_cannot_be_pickled_is_named_with_the_fix(client, server):
    lock = threading.Lock()

    def guarded(example, prediction):
        with lock:
            return True

    with pytest.raises(dx.ShippingError) as caught:
        dx.evaluate(qa(server), questions(2), guarded, progress=False, executor=dx.DaskExecutor(client))

    message = str(caught.value)
    assert "-> lock (a _thread.lock)" in message
    assert "The function test_work_that_cannot_be_pickled_is_named_with_the_fix.<locals>.guarded uses it" in message
    assert "make the object inside the function" in message


def test_an_lm_holding_an_open_file_is_named_with_the_fix(client, server, tmp_path):
    lm = dx.LM("openai/loopback", api_base=server.url, cache=False)
    lm.transcript = open(tmp_path / "transcript.txt", "w")  # noqa: SIM115
    try:
        with pytest.raises(dx.ShippingError) as caught:
            dx.evaluate(
                dx.Predict("question -> answer", lm=lm), questions(2), answered, executor=dx.DaskExecutor(client)
            )
    finally:
        lm.transcript.close()

    message = str(caught.value)
    assert "program.lm.transcript (a _io.TextIOWrapper)" in message
    assert "give OpenAILM __getstate__/__setstate__ that leave the resource out" in message


def test_a_worker_killed_mid_run_loses_nothing_and_reports_nothing_twice(client, slow, trace_store):
    pids = client.run(os.getpid)
    address_of = {str(info["name"]): address for address, info in client.scheduler_info()["workers"].items()}
    reported_before_kill: list[int] = []

    class KillTheThirdOnesWorker(Recorder):
        def on_event(self, event):
            super().on_event(event)
            if event.kind == "evaluate.example" and self.done == 3:
                items = get_events(kind="evaluate.item.start", store=trace_store)
                index = event.payload["index"]
                worker = next(task for task, p in zip(items["task"], items["payload"]) if p["index"] == index)
                reported_before_kill.extend(e.payload["index"] for e in self.events if e.kind == "evaluate.example")
                os.kill(pids[address_of[str(worker).removeprefix("worker:")]], signal.SIGKILL)

    recorder = KillTheThirdOnesWorker()
    result = dx.evaluate(
        qa(slow),
        questions(32),
        answered,
        progress=recorder,
        concurrency=2,
        executor=dx.DaskExecutor(client, batch_size=8),
    )

    assert result.status == "completed"
    assert sorted(r.index for r in result.results) == list(range(32))
    assert all(r.error is None for r in result.results)
    assert recorder.done == 32
    items = get_events(kind="evaluate.item.start", store=trace_store)
    starts = Counter(payload["index"] for payload in items["payload"])
    assert len(reported_before_kill) == 3
    assert all(starts[index] == 1 for index in reported_before_kill)
