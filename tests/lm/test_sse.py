"""Server-sent events, decoded from bytes however they are cut."""

from __future__ import annotations

from dspex_lab.lm.stream import SSEDecoder


def test_sse_events_split_anywhere_are_put_back_together():
    decoder = SSEDecoder()
    stream = 'event: a\ndata: {"x": 1}\n\n: comment\r\ndata: line one\r\ndata: line twö\r\n\r\n'.encode()
    events = []
    for i in range(len(stream)):
        events += decoder.feed(stream[i : i + 1])
    assert events == [("a", '{"x": 1}'), (None, "line one\nline twö")]
