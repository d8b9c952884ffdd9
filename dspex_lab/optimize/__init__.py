"""Optimizers (teleprompters) that compile programs from data.

- `labeled`: `LabeledFewShot`, training examples as demos.
- `bootstrap`: `BootstrapFewShot`, passing teacher traces as demos (DSPy's semantics).
- `random_search`: `BootstrapFewShotWithRandomSearch`, the best of several candidates.
- `base`, `attempt`: what they share (compile runs and events, demo installation, one teacher run).

Names are imported on first use, so importing this package stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dspex_lab.lazy import lazy_exports

_EXPORTS = {
    "LabeledFewShot": "dspex_lab.optimize.labeled",
    "BootstrapFewShot": "dspex_lab.optimize.bootstrap",
    "BootstrapFewShotWithRandomSearch": "dspex_lab.optimize.random_search",
    "Candidate": "dspex_lab.optimize.random_search",
    "Attempt": "dspex_lab.optimize.attempt",
    "CompileReport": "dspex_lab.optimize.base",
    "DemoOrigin": "dspex_lab.optimize.base",
    "OptimizationError": "dspex_lab.optimize.base",
    "Optimizer": "dspex_lab.optimize.base",
}

__all__ = [
    "Attempt",
    "BootstrapFewShot",
    "BootstrapFewShotWithRandomSearch",
    "Candidate",
    "CompileReport",
    "DemoOrigin",
    "LabeledFewShot",
    "OptimizationError",
    "Optimizer",
]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)


if TYPE_CHECKING:
    from dspex_lab.optimize.attempt import Attempt
    from dspex_lab.optimize.base import CompileReport, DemoOrigin, OptimizationError, Optimizer
    from dspex_lab.optimize.bootstrap import BootstrapFewShot
    from dspex_lab.optimize.labeled import LabeledFewShot
    from dspex_lab.optimize.random_search import BootstrapFewShotWithRandomSearch, Candidate
