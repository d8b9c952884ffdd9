"""ipykernel's `Comm._reply_subshell_id`: the shell a widget's replies are routed to.

ipykernel 7 remembers, on each comm, the subshell that last published on it
and routes the frontend's widget messages there; for a widget made by a
running cell that is the busy main shell, so a Stop button's click would wait
for the cell to end. Forgetting the remembered shell lets the frontend's
subshell (JupyterLab >= 4.4, Notebook >= 7.4) deliver the click at once.
Checked with ipykernel 7.0 through 7.4; ipykernel 6 has no subshells and the
attribute is absent, which is fine (the click then waits, as it always did).
"""

from __future__ import annotations

from typing import Any

ATTRIBUTE = "_reply_subshell_id"
CHECKED = ((7, 0), (7, 4))
"""The ipykernel versions (oldest, newest) this shim was checked against."""


def forget_reply_subshell(comm: Any) -> None:
    """Let the frontend choose the subshell for `comm`'s messages again (nothing when there is none)."""
    if comm is not None and hasattr(comm, ATTRIBUTE):
        delattr(comm, ATTRIBUTE)


def check() -> None:
    """Raise when the installed ipykernel no longer routes widget replies through the attribute this shim drops."""
    import inspect
    from importlib.metadata import version

    installed = version("ipykernel")
    if tuple(int(part) for part in installed.split(".")[:2]) < (7, 0):
        return  # no subshells: nothing to undo
    import ipykernel.comm.comm

    if f'"{ATTRIBUTE}"' not in inspect.getsource(ipykernel.comm.comm):
        raise AssertionError(
            f"ipykernel {installed} no longer reads Comm.{ATTRIBUTE} (checked up to "
            f"{'.'.join(map(str, CHECKED[1]))}): update dspex_lab/compat/ipykernel_subshell.py"
        )
