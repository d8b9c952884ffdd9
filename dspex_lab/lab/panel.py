"""What every panel shares: a widget built on first use, a document of its state that outlives the kernel, text.

In a Jupyter kernel a panel displays as one output holding its ipywidgets
tree, its document (`document.Document`: a custom MIME type and an offline
HTML form) and its text. The widget is what a running kernel draws; the
document is what a saved notebook, an HTML export, nbviewer or GitHub shows,
and `publish()` refreshes it in place when the panel's run ends. In a
terminal or a script a panel is its text.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from dspex_lab.lab.document import Document
from dspex_lab.lab.kernel import in_kernel, widgets_available

Widget = Any
"""An ipywidgets widget (ipywidgets ships no type information)."""

P = TypeVar("P")


class Panel(Generic[P]):
    """Base class: subclasses implement `_build()` (the widget tree) and `text()` (the readable form).

    `P` is the panel's widgets as a dataclass with one attribute per widget
    (`EvaluationParts`, ...): `panel.parts.bar`, `panel.parts.table`.
    """

    _widget: Any = None
    _handle: Any = None
    parts: P | None = None
    """The panel's widgets by name, once it has been drawn (None before)."""

    def _build(self) -> Any:
        raise NotImplementedError

    def text(self) -> str:
        """The panel as plain text: what a terminal shows, and what a saved notebook keeps beside the widget."""
        raise NotImplementedError

    def document(self) -> Document:
        """What the panel shows now, as a self-contained document (see `dspex_lab.lab.document`)."""
        raise NotImplementedError

    @property
    def widget(self) -> Any:
        """The panel's ipywidgets tree, built on first use."""
        if self._widget is None:
            widget = self._build()
            # CSS hooks for styling and for finding a panel in the page: dspex-panel, dspex-timelineexplorer, ...
            widget.add_class("dspex-panel")
            widget.add_class(f"dspex-{type(self).__name__.lower()}")
            self._widget = widget
        return self._widget

    def draw(self) -> Panel:
        """Build the widget tree now (displaying the panel does it too); returns the panel."""
        _ = self.widget
        return self

    def show(self) -> None:
        """Display the live panel in the current cell (print its text outside a kernel).

        The output's plain-text form is the panel's first line only: the figures
        change after the output is made, and a saved notebook should not show
        a stale "running". The output is refreshed by `publish()`.
        """
        if in_kernel():
            from IPython.display import display

            self._handle = display(self._shown(), raw=True, display_id=True)
        else:
            print(self.text())

    def publish(self) -> None:
        """Refresh the displayed output's document with the panel's state now (a run ended).

        The widget part is the same model, so a running kernel keeps the live
        panel; what changes is the document the notebook saves beside it.
        """
        if self._handle is not None:
            self._handle.update(self._shown(), raw=True)

    def _shown(self) -> dict[str, Any]:
        bundle = self._repr_mimebundle_()
        bundle["text/plain"] = self.text().splitlines()[0]
        return bundle

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        if not in_kernel():
            return {"text/plain": self.text()}
        bundle = self.document().bundle()
        if widgets_available():
            bundle.update(self.widget._repr_mimebundle_())
        bundle["text/plain"] = self.text()
        return bundle

    def __repr__(self) -> str:
        return self.text()


class Pacer:
    """Calls `redraw` at most once per `interval` seconds, and once more after the last request.

    Live panels get an event per finished example, which can be thousands a
    second; each redraw sends widget messages to the browser, so redraws are
    paced. A request inside the interval schedules one trailing redraw, so the
    panel never stays behind the run when events stop arriving. `interval=0`
    redraws on every request.
    """

    def __init__(self, redraw: Callable[[], None], interval: float) -> None:
        self._redraw = redraw
        self.interval = interval
        self._lock = threading.Lock()
        self._drawing = threading.Lock()
        self._last = float("-inf")
        self._timer: threading.Timer | None = None

    @property
    def pending(self) -> bool:
        """Whether a trailing redraw is scheduled."""
        return self._timer is not None

    def flush(self) -> None:
        """Do the scheduled trailing redraw now, if there is one."""
        with self._lock:
            if self._timer is None:
                return
            self._cancel()
            self._last = time.monotonic()
        self._draw()

    def request(self, *, now: bool = False) -> None:
        """Redraw now if the interval has passed (or `now`), else once the interval is over."""
        with self._lock:
            wait = self.interval - (time.monotonic() - self._last)
            if not now and wait > 0:
                if self._timer is None:
                    self._timer = threading.Timer(wait, self._trailing)
                    self._timer.daemon = True
                    self._timer.start()
                return
            self._cancel()
            self._last = time.monotonic()
        self._draw()

    def _trailing(self) -> None:
        with self._lock:
            self._timer = None
            self._last = time.monotonic()
        self._draw()

    def _draw(self) -> None:
        # The trailing timer and the run's thread may both redraw: one at a time.
        with self._drawing:
            self._redraw()

    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def close(self) -> None:
        """Drop a pending trailing redraw."""
        with self._lock:
            self._cancel()
