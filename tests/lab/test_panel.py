"""Paced redraws and the text form every panel falls back to."""

from __future__ import annotations

import threading

from dspex_lab.lab.panel import Pacer, Panel


class Counter:
    def __init__(self):
        self.count = 0
        self.drawn = threading.Event()

    def __call__(self):
        self.count += 1
        self.drawn.set()


def test_requests_inside_the_interval_wait_for_one_trailing_redraw():
    counter = Counter()
    pacer = Pacer(counter, interval=3600)

    pacer.request()
    for _ in range(50):
        pacer.request()

    assert counter.count == 1
    assert pacer.pending
    pacer.flush()
    assert counter.count == 2
    assert not pacer.pending
    pacer.flush()
    assert counter.count == 2


def test_a_forced_request_redraws_at_once_and_drops_the_pending_one():
    counter = Counter()
    pacer = Pacer(counter, interval=3600)
    pacer.request()
    pacer.request()

    pacer.request(now=True)

    assert counter.count == 2
    assert not pacer.pending


def test_the_trailing_redraw_happens_by_itself():
    counter = Counter()
    pacer = Pacer(counter, interval=0.01)
    pacer.request(now=True)
    counter.drawn.clear()

    pacer.request()

    assert counter.drawn.wait(10)
    assert counter.count == 2


def test_close_drops_a_pending_redraw():
    counter = Counter()
    pacer = Pacer(counter, interval=3600)
    pacer.request()
    pacer.request()

    pacer.close()

    assert not pacer.pending
    assert counter.count == 1


class Hello(Panel):
    def _build(self):
        import ipywidgets as w

        return w.HTML("hello")

    def text(self):
        return "Hello panel"


def test_a_panel_is_its_text_outside_a_kernel_and_its_widget_carries_css_hooks():
    panel = Hello()

    assert panel._repr_mimebundle_() == {"text/plain": "Hello panel"}
    assert repr(panel) == "Hello panel"
    assert {"dspex-panel", "dspex-hello"} <= set(panel.widget._dom_classes)
    assert panel.widget is panel.widget
