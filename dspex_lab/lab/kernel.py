"""Where a panel is being shown: a Jupyter kernel that can draw widgets, or somewhere that reads text.

Also the one piece of kernel plumbing the Stop button needs (`deliver_while_busy`).
"""

from __future__ import annotations

import importlib.util
import sys
from typing import Any

from dspex_lab.compat.ipykernel_subshell import forget_reply_subshell


def in_kernel() -> bool:
    """True inside a running Jupyter kernel (not a terminal IPython, not a plain script)."""
    if "IPython" not in sys.modules:
        return False
    from IPython import get_ipython

    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def widgets_available() -> bool:
    """True when panels can be drawn as widgets: inside a kernel, with ipywidgets installed."""
    return in_kernel() and importlib.util.find_spec("ipywidgets") is not None


def deliver_while_busy(widget: Any) -> None:
    """Let the frontend deliver `widget`'s events while the cell that made it is still running.

    JupyterLab >= 4.4 and Notebook >= 7.4 send widget messages to a kernel
    subshell, which runs them in its own thread while the main shell is busy
    with the cell. ipykernel 7 overrides that choice with the shell that last
    published on the widget's comm, which for a widget made by a running cell
    is the busy main shell: the click would wait for the cell to end. Dropping
    the remembered shell lets the frontend's subshell stand. With another
    kernel or frontend this does nothing, and the widget's events arrive when
    the cell ends (or at once in a cell that awaits, e.g. `await dx.aevaluate(...)`).
    """
    forget_reply_subshell(getattr(widget, "comm", None))
