"""Watch a program's reply arrive: `dx.streamify(program)` yields output fields' text as tokens come in.

    stream = dx.streamify(dx.ChainOfThought("question -> answer"))
    for item in stream(question="Why is the sky blue?"):
        if isinstance(item, dx.StreamChunk):
            print(item.text, end="", flush=True)       # item.predictor, item.field say whose text
        else:
            prediction = item                          # the last item: the Prediction

    async for item in stream.astream(question=...):   # the same from async code
        ...

Every LM call the program makes streams (OpenAI, Anthropic and Gemini over
server-sent events; the embedded model token by token). The program runs as it
always does: the cache stores each final reply, and a cache hit arrives as one
chunk per field. Leaving the loop early (`break`, an exception, Ctrl-C) cancels
the program and closes the connection of the reply being streamed.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import queue
import re
import threading
from collections.abc import AsyncIterator, Collection, Iterator
from dataclasses import dataclass
from typing import Any

from dspex_lab.lm import stream
from dspex_lab.loop import background_loop, in_background_loop
from dspex_lab.modules.module import Module, running_component
from dspex_lab.prediction import Prediction

__all__ = ["StreamChunk", "StreamingProgram", "streamify"]


@dataclass(frozen=True, slots=True)
class StreamChunk:
    """New text of one output field: `field` of the predictor at `predictor` (its path in the program)."""

    predictor: str
    field: str
    text: str


class StreamCancelledError(Exception):
    """Raised inside a streamed LM call whose consumer has left, to stop it and close its connection."""


class StreamingProgram:
    """A program whose calls yield `StreamChunk`s as the reply arrives, then the `Prediction`."""

    def __init__(self, program: Module, fields: Collection[str] | None = None) -> None:
        if not isinstance(program, Module):
            raise TypeError(
                f"streamify() takes a program (a dx.Module such as dx.Predict), got {type(program).__name__}"
            )
        self.program = program
        self.fields = frozenset(fields) if fields is not None else None

    def __repr__(self) -> str:
        return f"streamify({self.program!r})"

    def __call__(self, **inputs: Any) -> Iterator[StreamChunk | Prediction]:
        """Run the program on the private loop; yield its fields' text as it arrives, then the Prediction."""
        if in_background_loop():
            raise RuntimeError("a synchronous stream was read from inside an async task; use `astream` instead")
        return self._stream(inputs)

    def _stream(self, inputs: dict[str, Any]) -> Iterator[StreamChunk | Prediction]:
        items: queue.SimpleQueue[Any] = queue.SimpleQueue()
        cancelled = threading.Event()
        context = self._context(items.put, cancelled)
        loop = background_loop()
        tasks: list[asyncio.Task[Any]] = []

        def launch() -> None:
            task = loop.create_task(self.program.acall(**inputs), context=context)
            task.add_done_callback(items.put)
            tasks.append(task)

        loop.call_soon_threadsafe(launch)
        finished = False
        try:
            while True:
                item = items.get()
                if isinstance(item, asyncio.Task):
                    finished = True
                    result = item.result()
                    yield result
                    return
                yield item
        finally:
            if not finished:
                cancelled.set()
                loop.call_soon_threadsafe(lambda: tasks and tasks[0].cancel())
                while not isinstance(items.get(), asyncio.Task):
                    pass  # wait for the program to end: its connection is closed by then

    async def astream(self, **inputs: Any) -> AsyncIterator[StreamChunk | Prediction]:
        """The async form: `async for item in stream.astream(question=...)`."""
        loop = asyncio.get_running_loop()
        items: asyncio.Queue[Any] = asyncio.Queue()
        cancelled = threading.Event()

        def put(item: Any) -> None:
            loop.call_soon_threadsafe(items.put_nowait, item)

        task = loop.create_task(self.program.acall(**inputs), context=self._context(put, cancelled))
        task.add_done_callback(items.put_nowait)
        finished = False
        try:
            while True:
                item = await items.get()
                if item is task:
                    finished = True
                    result = task.result()
                    yield result
                    return
                yield item
        finally:
            if not finished:
                cancelled.set()
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    def _context(self, put: Any, cancelled: threading.Event) -> contextvars.Context:
        """A copy of the caller's context in which every LM call streams its fields' text to `put`."""
        fields = self.fields

        def start() -> stream.TextSink:
            where = running_component() or self.program.component_name
            reader = FieldReader(fields)

            def sink(piece: str) -> None:
                if cancelled.is_set():
                    raise StreamCancelledError("the stream's consumer has left")
                for name, text in reader.feed(piece):
                    put(StreamChunk(where, name, text))

            return sink

        context = contextvars.copy_context()
        context.run(stream._listener.set, start)
        return context


def streamify(program: Module, *, fields: Collection[str] | None = None) -> StreamingProgram:
    """`program` as a stream of its output fields' text (all fields, or only `fields`); see the module docstring."""
    return StreamingProgram(program, fields)


_MARKER = re.compile(r"\[\[ ## (\w+) ## \]\]")


class FieldReader:
    """One reply's text, fed piece by piece, as new text of each output field.

    Reads both reply formats the adapters ask for: `[[ ## field ## ]]` sections
    (ChatAdapter) and a JSON object (JSONAdapter; string values stream, other
    values arrive with the Prediction). Text that may be the start of the next
    marker, and trailing whitespace, is held back until the next piece tells.
    """

    __slots__ = ("fields", "sent", "text")

    def __init__(self, fields: Collection[str] | None = None) -> None:
        self.fields = fields
        self.text = ""
        self.sent: dict[str, str] = {}

    def feed(self, piece: str) -> list[tuple[str, str]]:
        """(field, new text) pairs that `piece` completes."""
        self.text += piece
        text = self.text
        stripped = text.lstrip()
        values = _json_values(stripped) if stripped.startswith(("{", "```")) else _marker_values(text)
        news = []
        for name, value in values.items():
            if name == "completed" or (self.fields is not None and name not in self.fields):
                continue
            sent = self.sent.get(name, "")
            if len(value) > len(sent) and value.startswith(sent):
                news.append((name, value[len(sent) :]))
                self.sent[name] = value
        return news


def _marker_values(text: str) -> dict[str, str]:
    matches = list(_MARKER.finditer(text))
    if not matches:
        return {}
    end = len(text)
    opened = text.rfind("[[", matches[-1].end())
    if opened >= 0 and "]]" not in text[opened:]:
        end = opened  # perhaps the next marker, still arriving
    elif text.endswith("["):
        end -= 1
    values = {}
    for index, match in enumerate(matches):
        stop = matches[index + 1].start() if index + 1 < len(matches) else end
        values[match.group(1)] = text[match.end() : max(stop, match.end())].strip()
    return values


_SPACE = " \t\r\n,"


def _json_values(text: str) -> dict[str, str]:
    """The string values of the top-level JSON object in `text`, complete or still arriving."""
    values: dict[str, str] = {}
    i = text.find("{")
    if i < 0:
        return values
    i += 1
    n = len(text)
    while True:
        while i < n and text[i] in _SPACE:
            i += 1
        if i >= n or text[i] != '"':
            return values
        key, i, complete = _json_string(text, i)
        if not complete:
            return values
        while i < n and text[i] in " \t\r\n":
            i += 1
        if i >= n or text[i] != ":":
            return values
        i += 1
        while i < n and text[i] in " \t\r\n":
            i += 1
        if i >= n:
            return values
        if text[i] == '"':
            value, i, complete = _json_string(text, i)
            values[key] = value
            if not complete:
                return values
        else:
            i = _skip_value(text, i)
            if i < 0:
                return values


def _json_string(text: str, start: int) -> tuple[str, int, bool]:
    """The JSON string opening at `start`: (its value so far, the index after it, whether it is complete)."""
    i = start + 1
    n = len(text)
    while i < n:
        char = text[i]
        if char == "\\":
            i += 2
            continue
        if char == '"':
            try:
                return json.loads(text[start : i + 1]), i + 1, True
            except ValueError:
                return text[start + 1 : i], i + 1, True
        i += 1
    raw = text[start + 1 :]
    # Hold back an escape still arriving ("\" or "\u12").
    cut = raw.rfind("\\")
    if cut >= 0 and (cut == len(raw) - 1 or (raw[cut + 1] == "u" and len(raw) - cut < 6)):
        backslashes = len(raw[: cut + 1]) - len(raw[: cut + 1].rstrip("\\"))
        if backslashes % 2 == 1:
            raw = raw[:cut]
    try:
        return json.loads('"' + raw + '"'), n, False
    except ValueError:
        return raw, n, False


def _skip_value(text: str, i: int) -> int:
    """The index after the non-string JSON value at `i`, or -1 when it is still arriving."""
    depth = 0
    n = len(text)
    while i < n:
        char = text[i]
        if char == '"':
            _, i, complete = _json_string(text, i)
            if not complete:
                return -1
            continue
        if char in "[{":
            depth += 1
        elif char in "]}":
            if depth == 0:
                return i
            depth -= 1
        elif char == "," and depth == 0:
            return i
        i += 1
    return -1
