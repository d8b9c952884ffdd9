"""A panel's final state as a self-contained document: the output that outlives the kernel.

Every panel displays, beside its live widget, a MIME bundle of what it shows:
`application/vnd.dspex.<panel>+json` (this document) and `text/html` (the
same content drawn by `static.html`, inline SVG charts, no script, no
network). A notebook saved after a run keeps both, so it reopens without a
kernel, exports to HTML and renders on GitHub or nbviewer with its results;
the JupyterLab extension in `extensions/` draws the JSON form.

A document is plain JSON: `panel` (which panel), `title`, `sections` (what
to draw, in order; the kinds below) and `data` (the figures the sections
were made from, for programs that read saved documents). Section kinds:

- `stats`: a line of label/value pairs (the score line);
- `table`: columns, rows and a mark per row ("pass", "fail", "error" or "");
- `bars`: one horizontal bar per label;
- `lanes`: spans on a time axis, one lane per row (or, past `SPAN_LIMIT`
  spans, counts per lane and time bin);
- `text`: preformatted text (a prompt, a traceback);
- `details`: sections folded under a one-line summary, closed by default.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dspex_lab.trace.schema import Record

FORMAT = "dspex_lab.panel"
VERSION = 1
MIME_PREFIX = "application/vnd.dspex."
PANELS = ("evaluation", "optimization", "demos", "timeline", "compare")
FILE_SUFFIX = ".dspex.json"
"""Saved documents end in this; the JupyterLab extension opens them from the file browser."""
SPAN_LIMIT = 2_000
"""Past this many spans a `lanes` section holds counts per lane and time bin, not single spans."""
BINS = 200
SPAN_FLAGS = ("ok", "error", "retried", "cancelled")
"""How a span ended, as `lanes` sections number it; the renderers draw each differently."""


def mime_type(panel: str) -> str:
    """The MIME type of `panel`'s document, e.g. application/vnd.dspex.evaluation+json."""
    if panel not in PANELS:
        raise ValueError(f"unknown panel {panel!r}; panels are {list(PANELS)}")
    return f"{MIME_PREFIX}{panel}+json"


@dataclass(slots=True)
class Document:
    """What a panel shows, as data; see the module docstring."""

    panel: str
    title: str
    sections: list[dict[str, Any]] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The document as JSON-ready data (every value made plain)."""
        return plain(
            {
                "format": FORMAT,
                "version": VERSION,
                "panel": self.panel,
                "title": self.title,
                "sections": self.sections,
                "data": self.data,
            }
        )

    def bundle(self) -> dict[str, Any]:
        """The MIME bundle: this document, its offline HTML, and a one-line text."""
        from dspex_lab.lab import static

        document = self.to_dict()
        return {mime_type(self.panel): document, "text/html": static.html(document), "text/plain": self.title}

    def save(self, path: str | Path) -> Path:
        """Write the document as JSON to `path` (`.dspex.json` is added when missing); returns the path."""
        target = Path(path)
        if not target.name.endswith(FILE_SUFFIX):
            target = target.with_name(target.name + FILE_SUFFIX)
        target.write_text(json.dumps(self.to_dict(), ensure_ascii=False), encoding="utf-8")
        return target


def load(path: str | Path) -> dict[str, Any]:
    """A saved document, checked to be one."""
    document = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ValueError(f"{path} is not a dspex_lab panel document (no 'format': {FORMAT!r})")
    return document


# --- sections --------------------------------------------------------------------------------------


def stats(items: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """The score line: label/value pairs, skipping empty values."""
    return {"kind": "stats", "items": [[label, value] for label, value in items if value not in (None, "")]}


def table(
    title: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    marks: Iterable[str] | None = None,
    note: str | None = None,
) -> dict[str, Any]:
    """A table; `marks` gives each row "pass", "fail", "error" or ""."""
    listed = [list(row) for row in rows]
    return {
        "kind": "table",
        "title": title,
        "columns": list(columns),
        "rows": listed,
        "marks": list(marks) if marks is not None else [""] * len(listed),
        "note": note,
    }


def bars(title: str, labels: Sequence[str], values: Sequence[float], *, unit: str = "") -> dict[str, Any]:
    """A horizontal bar per label."""
    return {"kind": "bars", "title": title, "labels": list(labels), "values": [float(v) for v in values], "unit": unit}


def text(title: str, body: str) -> dict[str, Any]:
    return {"kind": "text", "title": title, "body": body}


def details(title: str, sections: list[dict[str, Any]]) -> dict[str, Any]:
    """`sections` folded under `title`, closed until opened."""
    return {"kind": "details", "title": title, "sections": sections}


def lanes(
    title: str,
    lane_names: Sequence[str],
    kinds: Sequence[str],
    spans: Sequence[tuple[int, float, float, int, int]],
) -> dict[str, Any]:
    """Spans on a time axis: each span is (lane, start s, end s, kind number, flag number in `SPAN_FLAGS`).

    Past `SPAN_LIMIT` spans the section keeps counts per lane and time bin
    (`bins`: one list of `BINS` counts per lane) and the failed spans
    (flag > 0) one by one, so problems stay visible at any size.
    """
    starts = [span[1] for span in spans]
    ends = [span[2] for span in spans]
    low = min(starts) if spans else 0.0
    high = max(ends) if spans else 0.0
    section: dict[str, Any] = {
        "kind": "lanes",
        "title": title,
        "lanes": list(lane_names),
        "kinds": list(kinds),
        "flags": list(SPAN_FLAGS),
        "extent": [low, max(high, low + 1e-6)],
        "total": len(spans),
    }
    if len(spans) <= SPAN_LIMIT:
        section["spans"] = [[lane, round(s, 6), round(e, 6), kind, flag] for lane, s, e, kind, flag in spans]
        return section
    width = (section["extent"][1] - low) / BINS
    counts = [[0] * BINS for _ in lane_names]
    for lane, start, _end, _kind, _flag in spans:
        counts[lane][min(BINS - 1, int((start - low) / width))] += 1
    section["bins"] = counts
    section["spans"] = [[lane, round(s, 6), round(e, 6), kind, flag] for lane, s, e, kind, flag in spans if flag][
        :SPAN_LIMIT
    ]
    return section


def plain(value: Any) -> Any:
    """`value` as JSON-ready data: NaN and infinities become None, records their fields, unknown objects their text."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return plain(value.item())
    if isinstance(value, Record):  # a typed event payload, or a record nested in one
        return plain(value.to_dict())
    return str(value)
