"""The panels in a real IPython kernel: shown in the running cell, and a Stop click that arrives while the cell runs.

A frontend clicks a widget button by sending a `comm_msg` on the shell
channel. JupyterLab >= 4.4 sends it to a kernel subshell (created over the
control channel), so it is handled while the main shell is busy with the
cell; these tests send it exactly so, with jupyter_client.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from dspex_lab.lab.evaluation import STOP_REASON

pytestmark = pytest.mark.slow

SETUP = """
%load_ext dspex_lab
import asyncio
import dspex_lab as dx

class Held(dx.Module):
    def __init__(self, first_held):
        self.predict = dx.Predict("question -> answer", lm=dx.ScriptedLM(lambda messages: {"answer": "a"}))
        self.first_held = first_held

    async def aforward(self, question):
        if int(question[1:]) >= self.first_held:
            print("holding", question, flush=True)
            await asyncio.Event().wait()
        return await self.predict.acall(question=question)

dev = [dx.Example(question=f"q{i}", answer="a").with_inputs("question") for i in range(10)]
metric = lambda example, prediction: example.answer == prediction.answer
"""


@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name="python3", cwd=str(tmp_path_factory.mktemp("kernel")))
    run_cell(kc, SETUP)
    yield km, kc
    kc.stop_channels()
    km.shutdown_kernel(now=True)


def run_cell(kc: Any, code: str, on_message: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
    """Execute `code`; returns the iopub messages it caused, raising if the cell failed."""
    msg_id = kc.execute(code)
    seen = []
    while True:
        msg = kc.get_iopub_msg(timeout=120)
        if on_message is not None:
            on_message(msg)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        seen.append(msg)
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            break
    reply = kc.get_shell_msg(timeout=60)
    while reply["parent_header"].get("msg_id") != msg_id:
        reply = kc.get_shell_msg(timeout=60)
    assert reply["content"]["status"] == "ok", printed(seen)
    return seen


def printed(messages: list[dict[str, Any]]) -> str:
    return "".join(
        m["content"]["text"] if m["msg_type"] == "stream" else "\n".join(m["content"]["traceback"])
        for m in messages
        if m["msg_type"] in ("stream", "error")
    )


def displays(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m["content"]["data"] for m in messages if m["msg_type"] in ("display_data", "execute_result")]


def create_subshell(kc: Any) -> str:
    kc.control_channel.send(kc.session.msg("create_subshell_request", {}))
    return kc.control_channel.get_msg(timeout=30)["content"]["subshell_id"]


class ClickStop:
    """Watches iopub for the Stop button's comm; clicks it once a held example is waiting."""

    def __init__(self, kc: Any, subshell_id: str | None) -> None:
        self.kc = kc
        self.subshell_id = subshell_id
        self.comm_id: str | None = None
        self.clicked = False

    def __call__(self, msg: dict[str, Any]) -> None:
        content = msg["content"]
        if msg["msg_type"] == "comm_open":
            state = content.get("data", {}).get("state", {})
            if state.get("_model_name") == "ButtonModel" and state.get("description") == "Stop":
                self.comm_id = content["comm_id"]
        elif msg["msg_type"] == "stream" and "holding" in content["text"] and not self.clicked:
            assert self.comm_id is not None, "the Stop button was not shown before the run held"
            click = self.kc.session.msg(
                "comm_msg", {"comm_id": self.comm_id, "data": {"method": "custom", "content": {"event": "click"}}}
            )
            if self.subshell_id is not None:
                click["header"]["subshell_id"] = self.subshell_id
            self.kc.shell_channel.send(click)
            self.clicked = True


def test_stop_clicked_while_a_synchronous_evaluate_blocks_the_cell_stops_the_run(kernel):
    _, kc = kernel
    clicker = ClickStop(kc, create_subshell(kc))

    seen = run_cell(
        kc,
        "result = dx.evaluate(Held(3), dev, metric, concurrency=1)\n"
        "print('result', result.status, result.finished, result.reason)",
        clicker,
    )

    assert clicker.clicked
    assert f"result cancelled 3 {STOP_REASON}" in printed(seen)


def test_stop_clicked_while_a_cell_awaits_the_evaluation_stops_it_from_the_main_shell(kernel):
    _, kc = kernel
    clicker = ClickStop(kc, None)

    seen = run_cell(
        kc,
        "result = await dx.aevaluate(Held(4), dev, metric, concurrency=1, progress=True)\n"
        "print('result', result.status, result.finished)",
        clicker,
    )

    assert clicker.clicked
    assert "result cancelled 4" in printed(seen)


def test_evaluate_and_compile_show_their_panels_in_the_cell_that_runs_them(kernel):
    _, kc = kernel

    seen = run_cell(
        kc,
        "result = dx.evaluate(Held(99), dev[:4], metric)\n"
        "optimizer = dx.BootstrapFewShot(metric, max_bootstrapped_demos=1, max_labeled_demos=1)\n"
        "compiled = optimizer.compile(Held(99), trainset=dev[:3])\n"
        "print('compiled', optimizer.report.status)",
    )

    shown = displays(seen)
    assert [data["text/plain"].split()[0] for data in shown] == ["EvaluationPanel", "OptimizationPanel"]
    assert all("application/vnd.jupyter.widget-view+json" in data for data in shown)
    assert shown[0]["text/plain"].startswith("EvaluationPanel  evaluate Held  run eval-")
    assert "\n" not in shown[0]["text/plain"]
    assert "compiled completed" in printed(seen)
