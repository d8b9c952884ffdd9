"""The Jupyter workbench: panels fed by the event store, and the `%dspex` magics.

- `EvaluationPanel`: an evaluation's live progress and Stop button, then its examples.
- `OptimizationPanel`: a compile's phases, teacher runs and candidate scores.
- `DemoInspector(program)`: each predictor's demos, their origins, and their history.
- `TimelineExplorer(store_or_query)`: every span on a timeline, with filters and details.
- `dx.compare(run_a, run_b)` (`ComparePanel`): two runs example by example, as a DataFrame and a panel.

Every panel's output also holds a self-contained document of what it shows
(`document`, `static`), so saved notebooks and HTML exports keep the results.

Inside a Jupyter kernel `dx.evaluate(...)` and `compile(...)` show their
panels on their own (`disable()` turns that off, `enable()` back on);
`%load_ext dspex_lab` registers the `%dspex` magics. Widgets are drawn
inside a Jupyter kernel; elsewhere each panel prints as text.
Names are imported on first use, so importing this package loads neither
ipywidgets nor plotly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dspex_lab.lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "EvaluationPanel": "dspex_lab.lab.evaluation",
    "OptimizationPanel": "dspex_lab.lab.optimization",
    "DemoInspector": "dspex_lab.lab.demos",
    "TimelineExplorer": "dspex_lab.lab.timeline",
    "ComparePanel": "dspex_lab.lab.compare",
    "enable": "dspex_lab.lab.hooks",
    "disable": "dspex_lab.lab.hooks",
    "load_ipython_extension": "dspex_lab.lab.magics",
    "unload_ipython_extension": "dspex_lab.lab.magics",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)


if TYPE_CHECKING:
    from dspex_lab.lab.compare import ComparePanel  # noqa: F401
    from dspex_lab.lab.demos import DemoInspector  # noqa: F401
    from dspex_lab.lab.evaluation import EvaluationPanel  # noqa: F401
    from dspex_lab.lab.hooks import disable, enable  # noqa: F401
    from dspex_lab.lab.magics import load_ipython_extension, unload_ipython_extension  # noqa: F401
    from dspex_lab.lab.optimization import OptimizationPanel  # noqa: F401
    from dspex_lab.lab.timeline import TimelineExplorer  # noqa: F401
