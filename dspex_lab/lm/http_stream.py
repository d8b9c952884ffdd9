"""A streamed HTTP call: send the provider's streaming request, read its server-sent events as they arrive.

Each piece of text goes to the call's sink at once; the provider's own class
says what its events mean (`HTTPLM.read_event`) and what they add up to
(`HTTPLM.finish_stream`). Leaving early, because the sink raised or the caller
was cancelled or interrupted, closes the iterator and with it the connection.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

from dspex_lab.errors import LMError
from dspex_lab.lm.http_reply import HTTPReply, TransportError
from dspex_lab.lm.secret import redact_key
from dspex_lab.lm.stream import SSEDecoder, StreamState, TextSink

if TYPE_CHECKING:
    from dspex_lab.lm.base import LMResponse, Message
    from dspex_lab.lm.http import HTTPLM

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


async def astream(lm: HTTPLM, messages: list[Message], params: dict[str, Any], sink: TextSink) -> LMResponse:
    """The streamed call from async code."""
    url, payload = lm.stream_request(messages, params)
    body = _dumps(payload).encode("utf-8")
    state, decoder = StreamState(), SSEDecoder()
    chunks: AsyncIterator[bytes] | None = None
    try:
        status, headers, chunks = await lm.transport.stream(url, lm._headers(), body, lm.timeout, lm._route)
        if status != 200:
            raise lm._status_error(HTTPReply(status, headers, b"".join([chunk async for chunk in chunks])))
        async for chunk in chunks:
            _take(lm, url, decoder.feed(chunk), state, sink)
    except TransportError as exc:
        raise _broken(lm, url, exc, state) from None
    finally:
        if chunks is not None:
            await chunks.aclose()  # type: ignore[attr-defined]
    return _finished(lm, state)


def stream_sync(lm: HTTPLM, messages: list[Message], params: dict[str, Any], sink: TextSink) -> LMResponse:
    """The streamed call from the calling thread."""
    url, payload = lm.stream_request(messages, params)
    body = _dumps(payload).encode("utf-8")
    state, decoder = StreamState(), SSEDecoder()
    chunks: Iterator[bytes] | None = None
    try:
        status, headers, chunks = lm.transport.stream_sync(url, lm._headers(), body, lm.timeout, lm._route)
        if status != 200:
            raise lm._status_error(HTTPReply(status, headers, b"".join(chunks)))
        for chunk in chunks:
            _take(lm, url, decoder.feed(chunk), state, sink)
    except TransportError as exc:
        raise _broken(lm, url, exc, state) from None
    finally:
        if chunks is not None:
            chunks.close()  # type: ignore[attr-defined]
    return _finished(lm, state)


def _finished(lm: HTTPLM, state: StreamState) -> LMResponse:
    response = lm.finish_stream(state)
    # As for a whole reply: a key a proxy echoed back never reaches the cache or a result.
    response.text = redact_key(response.text, lm._api_key)
    return response


def _take(lm: HTTPLM, url: str, events: list[tuple[str | None, str]], state: StreamState, sink: TextSink) -> None:
    for event, data in events:
        try:
            text = lm.read_event(event, data, state)
        except (ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
            raise LMError(
                f"{lm.provider} at {url} streamed an event the {lm.provider} format does not have "
                f"({type(exc).__name__}: {exc}): {data[:300]!r}",
                provider=lm.provider,
                status=200,
            ) from None
        if text:
            state.texts.append(text)
            sink(text)


def _broken(lm: HTTPLM, url: str, exc: TransportError, state: StreamState) -> LMError:
    """The error for a stream that broke; retried only when no text had gone out yet."""
    error = lm._transport_error(url, exc)
    if not state.texts:
        return error
    return LMError(f"{error} (after {len(state.text)} characters had streamed; not retried)", provider=lm.provider)
