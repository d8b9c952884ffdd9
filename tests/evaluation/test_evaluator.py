"""dx.evaluate / dx.aevaluate / dx.Evaluate over real programs, with a scripted LM for control flow."""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import sys
import threading
from typing import Any

import pytest

import dspex_lab as dx
from dspex_lab.evaluation import CancelToken, RunMismatchError, RunStore
from dspex_lab.testing import ProviderServer

from .helpers import Recorder

QUESTION = re.compile(r"\[\[ ## question ## \]\]\n(.*?)\n")


def devset(n: int) -> list[dx.Example]:
    return [dx.Example(question=f"q{i}", answer=f"a{i}").with_inputs("question") for i in range(n)]


def oracle(wrong: set[str] = frozenset(), garbled: set[str] = frozenset()) -> dx.ScriptedLM:
    """Answers `a<i>` to `q<i>`, a wrong answer to questions in `wrong`, unparseable text to `garbled`."""

    def reply(messages: list[dict[str, Any]]) -> Any:
        question = QUESTION.search(messages[-1]["content"]).group(1)
        if question in garbled:
            return "I would rather not say."
        return {"answer": "wrong" if question in wrong else "a" + question[1:]}

    return dx.ScriptedLM(reply)


def exact_match(example, prediction, trace=None):
    return example.answer == prediction.answer


class Gated(dx.Module):
    """Predict, except that the questions in `hold` wait until released (or forever)."""

    def __init__(self, lm: dx.BaseLM, hold: set[str] = frozenset(), fail: set[str] = frozenset()) -> None:
        self.predict = dx.Predict("question -> answer", lm=lm)
        self.hold = hold
        self.fail = fail

    async def aforward(self, question: str) -> dx.Prediction:
        if question in self.fail:
            raise RuntimeError(f"cannot answer {question}")
        if question in self.hold:
            await asyncio.Event().wait()
        return await self.predict.acall(question=question)


def test_predict_over_a_devset_is_scored_example_by_example():
    lm = oracle(wrong={"q1", "q4"})
    program = dx.Predict("question -> answer", lm=lm)

    result = dx.evaluate(program, devset(10), exact_match, concurrency=4, progress=False)

    assert result.status == "completed"
    assert result.score == 0.8
    assert result.scores == {"exact_match": 0.8}
    assert [record.score for record in result.results] == [1, 0, 1, 1, 0, 1, 1, 1, 1, 1]
    assert result.table.loc[4, "predicted_answer"] == "wrong"
    assert result.usage.calls == 10 == len(lm.requests)
    assert all(record.usage.calls == 1 for record in result.results)


def test_a_parse_failure_and_an_exception_stay_on_their_own_examples():
    lm = oracle(garbled={"q2"})
    program = Gated(lm, fail={"q5"})

    result = dx.evaluate(program, devset(8), exact_match, failure_score=0.25, progress=False)

    assert result.status == "completed"
    assert result.finished == 8
    errors = {record.index: record for record in result.errors}
    assert sorted(errors) == [2, 5]
    assert errors[2].error.startswith("AdapterParseError")
    assert "I would rather not say." in errors[2].error
    assert errors[2].usage.calls == 2  # the chat reply, then the JSON fallback
    assert errors[5].error == "RuntimeError: cannot answer q5"
    assert "in aforward" in errors[5].traceback
    assert errors[5].usage.calls == 0
    assert [record.score for record in result.results] == [1, 1, 0.25, 1, 1, 0.25, 1, 1]


def test_a_straggler_times_out_and_the_rest_are_scored():
    program = Gated(oracle(), hold={"q3"})

    result = dx.evaluate(program, devset(6), exact_match, timeout=0.3, progress=False)

    [late] = result.errors
    assert (late.index, late.timed_out) == (3, True)
    assert "timeout=0.3 s" in late.error
    assert result.score == 5 / 6
    assert "(1 timed out)" in repr(result)


def test_max_errors_stops_early_with_a_clear_summary():
    program = Gated(oracle(), fail={f"q{i}" for i in range(20)})

    result = dx.evaluate(program, devset(20), exact_match, concurrency=1, max_errors=3, progress=False)

    assert result.status == "stopped"
    assert result.cancelled
    assert result.finished == 4
    assert "4 failed examples (more than max_errors=3)" in result.reason
    assert "RuntimeError: cannot answer q0" in result.reason
    assert "reason" in repr(result)


def test_async_and_named_metrics_with_feedback():
    async def judged(example, prediction, trace=None):
        await asyncio.sleep(0)
        ok = example.answer == prediction.answer
        return (1.0 if ok else 0.0), ("matches" if ok else f"expected {example.answer}")

    def length(example, prediction):
        return len(prediction.answer) / 10

    result = dx.evaluate(
        dx.Predict("question -> answer", lm=oracle(wrong={"q0"})),
        devset(4),
        {"judge": judged, "length": length},
        progress=False,
    )

    assert result.metrics == ["judge", "length"]
    assert result.score == 0.75
    assert result.scores["length"] == pytest.approx((0.5 + 0.2 * 3) / 4)
    assert result.results[0].feedback == {"judge": "expected a0"}
    assert result.table.loc[1, "feedback"] == "matches"


def test_progress_events_arrive_in_order_and_every_event_of_the_run_carries_its_id(trace_store):
    recorder = Recorder()

    program = dx.Predict("question -> answer", lm=oracle())

    result = asyncio.run(dx.aevaluate(program, devset(5), exact_match, run_id="tagged", progress=recorder))

    kinds = [event.kind for event in recorder.events]
    assert kinds == ["evaluate.start"] + ["evaluate.example"] * 5 + ["evaluate.end"]
    assert recorder.events[0].payload["total"] == 5
    assert recorder.events[0].payload["metrics"] == ["exact_match"]
    assert [e.payload["score"] for e in recorder.events[1:-1]] == [1.0] * 5
    assert recorder.events[-1].payload["status"] == "completed"
    during = [r for r in trace_store.records() if r["kind"].startswith(("lm.", "program.", "adapter."))]
    assert len([r for r in during if r["kind"] == "lm.request"]) == 5
    assert {r["run_id"] for r in during} == {"tagged"} == {result.run_id}


def test_ctrl_c_mid_run_returns_the_partial_result():
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    main = threading.main_thread().ident
    recorder = Recorder(when_done=3, action=lambda: signal.pthread_kill(main, signal.SIGINT))
    program = Gated(oracle(), hold={f"q{i}" for i in range(3, 10)})

    result = dx.evaluate(program, devset(10), exact_match, concurrency=2, progress=recorder)

    assert result.status == "cancelled"
    assert result.reason.startswith("interrupted")
    assert [record.index for record in result.results] == [0, 1, 2]
    assert result.score == 1.0
    assert recorder.events[-1].kind == "evaluate.end"
    assert recorder.events[-1].payload["status"] == "cancelled"


def test_cancelling_the_task_awaiting_aevaluate_cancels_it_and_keeps_the_partial_result():
    program = Gated(oracle(), hold={f"q{i}" for i in range(3, 10)})

    async def main() -> tuple[asyncio.Task[Any], dx.Interrupted]:
        holder: list[asyncio.Task[Any]] = []
        recorder = Recorder(when_done=3, action=lambda: holder[0].cancel())
        task = asyncio.create_task(dx.aevaluate(program, devset(10), exact_match, concurrency=2, progress=recorder))
        holder.append(task)
        with pytest.raises(dx.Interrupted) as raised:
            await task
        return task, raised.value

    task, stop = asyncio.run(main())

    assert task.cancelled()
    result = stop.partial
    assert isinstance(result, dx.EvaluationResult)
    assert (result.status, result.finished, result.score) == ("cancelled", 3, 1.0)


def test_a_cancelled_run_resumes_where_it_stopped(tmp_path):
    db = tmp_path / "runs.sqlite3"
    token = CancelToken()
    first_lm = oracle(wrong={"q7"})
    recorder = Recorder(when_done=4, action=lambda: threading.Thread(target=token.cancel).start())

    first = dx.evaluate(
        Gated(first_lm, hold={f"q{i}" for i in range(4, 12)}),
        devset(12),
        exact_match,
        concurrency=3,
        run_id="resumable",
        db_path=db,
        cancel=token,
        progress=recorder,
    )
    second_lm = oracle(wrong={"q7"})
    resumed = Recorder()
    second = dx.evaluate(Gated(second_lm), devset(12), exact_match, run_id="resumable", db_path=db, progress=resumed)

    assert (first.status, first.finished) == ("cancelled", 4)
    assert second.status == "completed"
    assert [record.index for record in second.results] == list(range(12))
    assert [record.resumed for record in second.results] == [True] * 4 + [False] * 8
    assert len(second_lm.requests) == 8
    assert second.score == 11 / 12
    assert second.results[0].prediction.answer == "a0"
    assert resumed.events[0].payload["resumed"] == 4
    assert resumed.done == 8
    assert "4 resumed from an earlier session" in repr(second)


def test_failed_examples_are_run_again_on_resume(tmp_path):
    db = tmp_path / "runs.sqlite3"
    first = dx.evaluate(Gated(oracle(), fail={"q1"}), devset(3), exact_match, run_id="retry", db_path=db,
                        progress=False)  # fmt: skip
    lm = oracle()
    second = dx.evaluate(Gated(lm), devset(3), exact_match, run_id="retry", db_path=db, progress=False)

    assert [record.index for record in first.errors] == [1]
    assert len(lm.requests) == 1
    assert second.errors == []
    assert second.score == 1.0


def test_running_a_finished_run_again_calls_nothing_and_gives_the_same_result(tmp_path):
    db = tmp_path / "runs.sqlite3"
    first = dx.evaluate(dx.Predict("question -> answer", lm=oracle(wrong={"q2"})), devset(5), exact_match,
                        run_id="done", db_path=db, progress=False)  # fmt: skip
    lm = oracle()
    again = dx.evaluate(dx.Predict("question -> answer", lm=lm), devset(5), exact_match, run_id="done", db_path=db,
                        progress=False)  # fmt: skip

    assert lm.requests == []
    assert again.score == first.score == 0.8
    assert again.table["predicted_answer"].tolist() == first.table["predicted_answer"].tolist()


def test_resuming_against_a_changed_devset_is_refused_clearly(tmp_path):
    db = tmp_path / "runs.sqlite3"
    dx.evaluate(dx.Predict("question -> answer", lm=oracle()), devset(3), exact_match, run_id="fixed", db_path=db,
                progress=False)  # fmt: skip
    changed = devset(3)
    changed[1] = changed[1].copy(answer="something else")

    with pytest.raises(RunMismatchError, match=r"run 'fixed' .* different devset.*: 1\. Resume with the devset"):
        dx.evaluate(dx.Predict("question -> answer", lm=oracle()), changed, exact_match, run_id="fixed", db_path=db)


def test_a_run_id_alone_keeps_results_in_the_cache_dir(tmp_path):
    with dx.context(cache_dir=str(tmp_path / "cache")):
        dx.evaluate(dx.Predict("question -> answer", lm=oracle()), devset(2), exact_match, run_id="cached",
                    progress=False)  # fmt: skip

    assert (tmp_path / "cache" / "evaluations.sqlite3").exists()


def test_evaluate_dspy_style():
    evaluator = dx.Evaluate(devset=devset(6), metric=exact_match, num_threads=2, display_progress=False)

    result = evaluator(dx.Predict("question -> answer", lm=oracle(wrong={"q0", "q1", "q2"})))

    assert result.score == 0.5
    assert repr(evaluator) == "Evaluate(devset=<6 examples>, num_threads=2)"
    assert evaluator(dx.Predict("question -> answer", lm=oracle()), devset=devset(2)).score == 1.0


def test_bad_arguments_are_refused_with_the_fix():
    program = dx.Predict("question -> answer", lm=oracle())
    with pytest.raises(TypeError, match=r"devset\[0\] is a dict, not a dx.Example \(wrap it"):
        dx.evaluate(program, [{"question": "q", "answer": "a"}], exact_match)
    with pytest.raises(ValueError, match=r"devset\[1\]: inputs\(\): this example has no input keys"):
        dx.evaluate(program, [devset(1)[0], dx.Example(question="q")], exact_match)
    with pytest.raises(TypeError, match=r"program must be a dx\.Module or a function of the inputs"):
        dx.evaluate("not a program", devset(1), exact_match)
    with pytest.raises(ValueError, match="pass run_id= with it"):
        dx.evaluate(program, devset(1), exact_match, db_path="x.sqlite3")
    with pytest.raises(TypeError, match=r"failure_score must be a finite number, got '0' \(str\)"):
        dx.evaluate(program, devset(1), exact_match, failure_score="0")
    with pytest.raises(ValueError, match=r"failure_score must be a finite number, got nan"):
        dx.evaluate(program, devset(1), exact_match, failure_score=float("nan"))
    with pytest.raises(ValueError, match=r"timeout must be a finite number of seconds > 0 or None, got nan"):
        dx.evaluate(program, devset(1), exact_match, timeout=float("nan"))
    with pytest.raises(TypeError, match=r"concurrency must be a whole number >= 1, got True \(bool\)"):
        dx.evaluate(program, devset(1), exact_match, concurrency=True)
    with pytest.raises(ValueError, match=r"timeout must be a finite number of seconds > 0 or None, got inf"):
        dx.Evaluate(devset=devset(1), timeout=float("inf"))
    with pytest.raises(TypeError, match="Evaluate needs a metric"):
        dx.Evaluate(devset=devset(1))(program)


def test_dx_evaluate_evaluates_even_after_its_package_was_imported_first():
    code = (
        "import dspex_lab.evaluation.progress\n"
        "import dspex_lab as dx\n"
        "lm = dx.ScriptedLM(lambda m: {'answer': 'a'})\n"
        "ex = [dx.Example(question='q', answer='a').with_inputs('question')]\n"
        "r = dx.evaluate(dx.Predict('question -> answer', lm=lm), ex, lambda e, p: e.answer == p.answer, "
        "progress=False)\n"
        "print(r.score)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout

    assert out.strip() == "1.0"


# --- against the loopback provider server, through the real OpenAI-compatible client ------------

ORACLE_QUESTION = re.compile(r"\[\[ ## question ## \]\]\n(.*?)\n")


def answer_correctly(request: Any) -> str:
    """The server's reply: the right answer to "question <n>" is "answer <n>"."""
    number = ORACLE_QUESTION.search(request.last_user_message).group(1).split()[-1]
    return f"[[ ## answer ## ]]\nanswer {number}\n\n[[ ## completed ## ]]"


def numbered(n: int) -> list[dx.Example]:
    return [dx.Example(question=f"question {i}", answer=f"answer {i}").with_inputs("question") for i in range(n)]


def test_a_provider_error_on_one_request_fails_only_its_example():
    with ProviderServer(responder=answer_correctly) as server:
        lm = dx.LM("openai/test", api_base=server.url, api_key="x", cache=False, num_retries=0)
        server.inject(400, count=1, message="this prompt is not allowed")

        result = dx.evaluate(dx.Predict("question -> answer", lm=lm), numbered(12), exact_match, concurrency=4,
                             progress=False)  # fmt: skip

    [failed] = result.errors
    assert "this prompt is not allowed" in failed.error
    assert result.finished == 12
    assert result.score == 11 / 12
    assert result.usage.calls == 11


# -- faults at the provider -----------------------------------------------------------------------------


class ServerClock:
    """The loopback server's clock, moved by the test: an outage ends when the test says so."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_short_outage_with_default_settings_is_ridden_out_without_errors():
    with ProviderServer(responder=answer_correctly) as server:
        lm = dx.LM("openai/test", api_base=server.url, api_key="x", cache=False)
        server.outage(0.3)  # every request answers 503 for the next 0.3 s
        result = dx.evaluate(dx.Predict("question -> answer", lm=lm), numbered(24), exact_match, concurrency=8,
                             progress=False)  # fmt: skip
    # Before: retries in flight failed at the breaker their failures opened, and every later example with them.
    assert (result.status, len(result.errors), result.score) == ("completed", 0, 1.0)
    assert sum(record["fault"] == "503" for record in server.requests()) >= 8


class EndOutageWhenWaiting(Recorder):
    """Records progress; the moment the run starts waiting for the breaker, the provider comes back."""

    def __init__(self, clock: ServerClock) -> None:
        super().__init__()
        self.clock = clock

    def on_event(self, event) -> None:
        super().on_event(event)
        if event.kind == "evaluate.wait" and event.payload["waiting"]:
            self.clock.now = 7200


def test_calls_that_meet_an_open_breaker_wait_for_it_and_the_wait_shows_in_progress():
    clock = ServerClock()
    with ProviderServer(responder=answer_correctly) as server:
        server.clock = clock
        lm = dx.LM("openai/test", api_base=server.url, api_key="x", cache=False, num_retries=0,
                   circuit_threshold=1, circuit_cooldown=0.2)  # fmt: skip
        server.outage(3600)
        recorder = EndOutageWhenWaiting(clock)
        result = dx.evaluate(dx.Predict("question -> answer", lm=lm), numbered(20), exact_match, concurrency=4,
                             progress=recorder)  # fmt: skip
    # No retries at all, yet no example failed: the calls the outage met waited for the breaker and went again.
    assert (result.status, len(result.errors), result.score) == ("completed", 0, 1.0)
    assert sum(record["fault"] == "503" for record in server.requests()) >= 1
    waits = [event.payload for event in recorder.events if event.kind == "evaluate.wait"]
    assert [wait["waiting"] for wait in waits] == [True, False]
    assert "circuit breaker of openai/test open" in waits[0]["reason"]


def test_a_real_outage_stops_the_run_after_circuit_wait_and_says_how_to_wait_longer(tmp_path):
    with ProviderServer(responder=answer_correctly) as server:
        server.clock = ServerClock()
        lm = dx.LM("openai/test", api_base=server.url, api_key="x", cache=False, num_retries=0,
                   circuit_threshold=2, circuit_cooldown=0.05)  # fmt: skip
        server.outage(3600)
        result = dx.evaluate(dx.Predict("question -> answer", lm=lm), numbered(40), exact_match, concurrency=4,
                             circuit_wait=0.3, run_id="down", db_path=tmp_path / "runs", progress=False)  # fmt: skip
    assert result.status == "stopped"
    assert "circuit_wait=0.3" in result.reason
    assert "pass a larger circuit_wait=" in result.reason
    assert result.finished < 40


def test_a_reply_cut_at_max_tokens_is_an_error_row_unless_allowed():
    def reply(request: Any) -> str:
        return answer_correctly(request).replace("\n\n[[ ## completed", " and some more words\n\n[[ ## completed")

    with ProviderServer(responder=reply) as server:
        lm = dx.LM("openai/test", api_base=server.url, api_key="x", cache=False)
        program = dx.Predict("question -> answer", lm=lm)
        contains = lambda example, prediction: example.answer in prediction.answer  # noqa: E731
        server.inject("length")
        strict = dx.evaluate(program, numbered(4), contains, concurrency=1, progress=False)
        server.inject("length")
        with pytest.warns(RuntimeWarning, match="1 examples were scored on LM replies cut off at max_tokens"):
            lenient = dx.evaluate(program, numbered(4), contains, concurrency=1, progress=False, allow_truncated=True)
    [cut] = strict.errors
    assert cut.index == 0
    assert cut.error.startswith("TruncatedReplyError: 1 LM reply of this example were cut off at max_tokens")
    assert "allow_truncated=True" in cut.error
    assert lenient.errors == []
    assert lenient.results[0].usage.truncated == 1


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_a_nan_or_infinite_metric_value_is_an_error_row_naming_the_metric(bad):
    def shaky(example, prediction):
        return bad if example.question == "q1" else 1.0

    result = dx.evaluate(dx.Predict("question -> answer", lm=oracle()), devset(3), shaky, progress=False)
    [failed] = result.errors
    assert failed.index == 1
    assert f"metric 'shaky' returned {bad!r}; a score must be a finite number" in failed.error
    assert result.score == pytest.approx(2 / 3)


def test_resuming_a_run_with_another_program_or_lm_is_refused_naming_what_differs(tmp_path):
    db = tmp_path / "runs"
    first = dx.Predict("question -> answer", lm=oracle())
    dx.evaluate(first, devset(3), exact_match, run_id="r", db_path=db, progress=False)

    other_instructions = dx.Predict("question -> answer", lm=oracle())
    other_instructions.instructions = "Answer in French."
    with pytest.raises(RunMismatchError, match=r"recorded with another program .*use a new run_id .*resume=\"force\""):
        dx.evaluate(other_instructions, devset(3), exact_match, run_id="r", db_path=db, progress=False)

    with_demos = dx.Predict("question -> answer", lm=oracle())
    with_demos.demos = [devset(1)[0]]
    with pytest.raises(
        RunMismatchError, match=r"another program \(program: recorded Predict with 1 predictor\(s\) and 0"
    ):
        dx.evaluate(with_demos, devset(3), exact_match, run_id="r", db_path=db, progress=False)

    other_lm = dx.Predict("question -> answer", lm=dx.ScriptedLM(lambda m: {"answer": "x"}, model="scripted/other"))
    with pytest.raises(RunMismatchError, match=r"another LM \(LM: recorded scripted/lm\(\), now scripted/other\(\)\)"):
        dx.evaluate(other_lm, devset(3), exact_match, run_id="r", db_path=db, progress=False)

    forced = dx.evaluate(other_lm, devset(3), exact_match, run_id="r", db_path=db, progress=False, resume="force")
    assert all(record.resumed for record in forced.results)


CHILD = """
import sys
import dspex_lab as dx

url, db, n = sys.argv[1], sys.argv[2], int(sys.argv[3])


class Lines:
    def on_event(self, event):
        if event.kind == "evaluate.example":
            print("done", event.payload["index"], flush=True)


def exact_match(example, prediction, trace=None):
    return example.answer == prediction.answer


lm = dx.LM("openai/test", api_base=url, api_key="x", cache=False)
devset = [dx.Example(question=f"question {i}", answer=f"answer {i}").with_inputs("question") for i in range(n)]
result = dx.evaluate(dx.Predict("question -> answer", lm=lm), devset, exact_match, concurrency=4,
                     run_id="killed", db_path=db, progress=Lines())
print("result", result.status, result.finished, result.score, sum(r.resumed for r in result.results), flush=True)
"""


def test_a_run_killed_with_sigkill_resumes_and_scores_every_example_exactly_once(tmp_path):
    total, answered_before_kill = 40, 10
    db = tmp_path / "runs.sqlite3"
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    stalled = threading.Event()
    in_flight = threading.Event()

    def answer_then_stall(request: Any) -> str:
        # From the request after the 10th on, replies are held for an hour: the
        # child is killed with requests in flight and nothing more finished.
        if server.served == answered_before_kill and not stalled.is_set():
            stalled.set()
            server.latency = 3600
        elif server.served > answered_before_kill:
            in_flight.set()
        return answer_correctly(request)

    with ProviderServer(responder=answer_then_stall) as server:
        command = [sys.executable, str(script), server.url, str(db), str(total)]
        child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        done_lines = []
        while len(done_lines) < answered_before_kill:
            line = child.stdout.readline()
            assert line, f"the child exited early: {child.wait()} {child.stderr.read()}"
            done_lines.append(line)
        assert in_flight.wait(timeout=60)
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
        child.stderr.close()

        with RunStore(db) as store:
            after_kill = store.rows("killed")
        assert child.returncode == -signal.SIGKILL
        assert server.served > answered_before_kill  # requests were in flight at the kill
        assert sorted(row["idx"] for row in after_kill) == sorted(int(line.split()[1]) for line in done_lines)
        assert len(after_kill) == answered_before_kill

        server.latency = 0
        served_before = server.served
        resumed = subprocess.run(command, capture_output=True, text=True, check=True, timeout=120)

        assert resumed.stdout.splitlines()[-1] == f"result completed {total} 1.0 {answered_before_kill}"
        assert server.served - served_before == total - answered_before_kill
        with RunStore(db) as store:
            rows = store.rows("killed")
        assert [row["idx"] for row in rows] == list(range(total))
        assert all(row["error"] is None and row["scores"] == {"exact_match": 1.0} for row in rows)


KERNEL_CELL = """
import asyncio
import dspex_lab as dx

lm = dx.ScriptedLM(lambda messages: {"answer": "a"})


class Held(dx.Module):
    def __init__(self):
        self.predict = dx.Predict("question -> answer", lm=lm)

    async def aforward(self, question):
        if int(question[1:]) >= 3:
            await asyncio.Event().wait()
        return await self.predict.acall(question=question)


class Progress:
    done = 0

    def on_event(self, event):
        if event.kind == "evaluate.example":
            self.done += 1
            if self.done == 3:
                print("ready", flush=True)


devset = [dx.Example(question=f"q{i}", answer="a").with_inputs("question") for i in range(10)]
result = dx.evaluate(Held(), devset, lambda e, p: e.answer == p.answer, concurrency=2, progress=Progress())
print("result", result.status, result.finished, result.score, flush=True)
"""


@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    """A real IPython kernel (ipykernel), shared by the tests of this module that need one."""
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name="python3", cwd=str(tmp_path_factory.mktemp("kernel")))
    yield km, kc
    kc.stop_channels()
    km.shutdown_kernel(now=True)


def run_cell(kernel, code: str, on_output: Any = None) -> str:
    """Execute `code` in the kernel; returns its output, raising if the cell failed."""
    _, kc = kernel
    msg_id = kc.execute(code)
    output = ""
    while True:
        msg = kc.get_iopub_msg(timeout=120)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "stream":
            output += msg["content"]["text"]
            if on_output is not None:
                on_output(msg["content"]["text"])
        elif msg["msg_type"] == "error":
            output += "\n".join(msg["content"]["traceback"])
        elif msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            break
    while True:
        reply = kc.get_shell_msg(timeout=60)
        if reply["parent_header"].get("msg_id") == msg_id:
            break
    assert reply["content"]["status"] == "ok", output
    return output


@pytest.mark.slow
def test_a_kernel_interrupt_returns_the_partial_result_in_jupyter(kernel):
    km, _ = kernel

    def interrupt_when_ready(text: str) -> None:
        if "ready" in text:
            km.interrupt_kernel()

    output = run_cell(kernel, KERNEL_CELL, interrupt_when_ready)

    assert "result cancelled 3 1.0" in output


@pytest.mark.slow
def test_progress_true_picks_the_registered_notebook_panel_inside_a_kernel(kernel):
    output = run_cell(
        kernel,
        "import dspex_lab.lab\n"
        "from dspex_lab.evaluation import progress\n"
        "class Panel:\n"
        "    def on_event(self, event):\n"
        "        pass\n"
        "print('default', type(progress.resolve(True)).__name__)\n"
        "dspex_lab.lab.disable()\n"
        "print('disabled', type(progress.resolve(True)).__name__)\n"
        "progress.register_notebook_progress(Panel)\n"
        "print('with', type(progress.resolve(True)).__name__)\n",
    )

    assert "default EvaluationPanel" in output
    assert "disabled TerminalProgress" in output
    assert "with Panel" in output
