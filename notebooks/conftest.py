"""nbval: panel documents (application/vnd.dspex.*+json) are JSON that sanitizing cannot reach; tests/lab checks them."""

from __future__ import annotations

from typing import Any

from dspex_lab.lab.document import PANELS, mime_type


def pytest_collectstart(collector: Any) -> None:
    if collector.fspath and collector.fspath.ext == ".ipynb":
        collector.skip_compare += tuple(mime_type(panel) for panel in PANELS)
