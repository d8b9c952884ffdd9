"""dspex_lab's Jupyter Server extension: the runs and traces the JupyterLab "Runs" panel lists, read-only.

Routes (under the server's base URL, behind its authentication like every
`/api` route):

- `GET dspex/api/runs`: the run store's runs (`RunStore.runs()`), and the
  trace files (`.parquet`, `.sqlite3` traces) and saved documents
  (`.dspex.json`) under the server's root directory;
- `GET dspex/api/document?run=ID` or `?trace=PATH`: that run or trace as a
  panel document (`document.Document`);
- `GET dspex/api/compare?a=ID&b=ID`: the comparison of two runs.

Nothing here writes. Paths are relative to the root directory and may not
leave it. The run store is the cache directory's (`$DSPEX_CACHE_DIR`), or
the file named by `--DspexLab.run_store=...` / `c.DspexLab.run_store`.
Set-up enables it; by hand: `jupyter server extension enable dspex_lab.lab.server`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

TRACE_SUFFIXES = (".parquet", ".sqlite3", ".sqlite")
SKIP_DIRS = {".git", ".venv", "node_modules", "__pycache__", ".ipynb_checkpoints"}
MAX_DEPTH = 4
MAX_FILES = 500


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "dspex_lab.lab.server"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    """Add the routes; called by Jupyter Server when the extension is enabled."""
    from jupyter_server.utils import url_path_join

    root = Path(os.path.expanduser(serverapp.root_dir)).resolve()
    store = serverapp.config.get("DspexLab", {}).get("run_store") or None
    base = url_path_join(serverapp.web_app.settings["base_url"], "dspex", "api")
    options = {"root": root, "store": store}
    serverapp.web_app.add_handlers(
        ".*$",
        [
            (url_path_join(base, "runs"), _handler(listing), options),
            (url_path_join(base, "document"), _handler(document), options),
            (url_path_join(base, "compare"), _handler(comparison), options),
        ],
    )
    serverapp.log.info("dspex_lab: runs and traces served under %s (run store %s)", base, store or "default")


def listing(root: Path, store: str | None, query: dict[str, str]) -> dict[str, Any]:
    """What the Runs panel lists: runs of the run store, trace files and saved documents under `root`."""
    from dspex_lab.evaluation.runstore import RunStore
    from dspex_lab.lab.document import FILE_SUFFIX

    with RunStore(store) as runs:
        found = runs.runs()
        path = str(runs.path)
    traces, documents = [], []
    for file in _files(root):
        relative = file.relative_to(root).as_posix()
        if file.name.endswith(FILE_SUFFIX):
            documents.append(relative)
        elif file.suffix in TRACE_SUFFIXES and _is_trace(file):
            traces.append(relative)
    return {"store": path, "runs": found, "traces": sorted(traces), "documents": sorted(documents)}


def document(root: Path, store: str | None, query: dict[str, str]) -> dict[str, Any]:
    """`run=ID`: an evaluation run as a document; `trace=PATH`: a trace file's timeline."""
    if query.get("run"):
        from dspex_lab.lab.runs import open_run

        return open_run(query["run"], store_path=store).document().to_dict()
    if query.get("trace"):
        from dspex_lab.lab.timeline import TimelineExplorer

        return TimelineExplorer(inside(root, query["trace"])).document().to_dict()
    raise ValueError("ask for ?run=RUN_ID or ?trace=PATH")


def comparison(root: Path, store: str | None, query: dict[str, str]) -> dict[str, Any]:
    """`a=ID&b=ID`: the comparison of two runs (run ids, or saved runs' paths under the root)."""
    from dspex_lab.lab.compare import ComparePanel
    from dspex_lab.lab.runs import open_run

    if not query.get("a") or not query.get("b"):
        raise ValueError("ask for ?a=RUN_ID&b=RUN_ID")
    runs = [
        open_run(inside(root, name) if name.endswith(".json") else name, store_path=store)
        for name in (query["a"], query["b"])
    ]
    return ComparePanel(*runs).document().to_dict()


def inside(root: Path, relative: str) -> Path:
    """`relative` under `root`; refuses a path that leaves it."""
    path = (root / relative).resolve()
    if path != root and root not in path.parents:
        raise PermissionError(f"{relative!r} is outside the server's root directory")
    if not path.is_file():
        raise FileNotFoundError(f"no file {relative!r} under the server's root directory")
    return path


def _files(root: Path) -> list[Path]:
    found: list[Path] = []
    for directory, dirs, files in os.walk(root):
        depth = len(Path(directory).relative_to(root).parts)
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS and not d.startswith(".") and depth < MAX_DEPTH]
        found.extend(Path(directory) / name for name in files if not name.startswith("."))
        if len(found) > MAX_FILES * 20:
            break
    return found[: MAX_FILES * 20]


def _is_trace(path: Path) -> bool:
    """Whether `path` is a dspex_lab trace (Parquet with its format tag, or SQLite with an events table)."""
    from dspex_lab.trace.persist import FORMAT

    try:
        if path.suffix == ".parquet":
            import pyarrow.parquet as pq

            return FORMAT.encode() in (pq.read_schema(path).metadata or {})
        import sqlite3

        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            return conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'events'").fetchone() is not None
    except Exception:
        return False


def _handler(answer: Any) -> type:
    """A read-only, authenticated JSON handler around `answer(root, store, query)`."""
    from jupyter_server.base.handlers import APIHandler
    from tornado import web

    class Handler(APIHandler):
        def initialize(self, root: Path, store: str | None) -> None:
            self.root = root
            self.store = store

        @web.authenticated
        def get(self) -> None:
            query = {name: self.get_argument(name) for name in self.request.arguments}
            try:
                body = answer(self.root, self.store, query)
            except (KeyError, ValueError, FileNotFoundError, PermissionError, TypeError) as exc:
                status = 403 if isinstance(exc, PermissionError) else 404 if not isinstance(exc, ValueError) else 400
                self.set_status(status)
                body = {"message": str(exc).strip("'\"")}
            self.set_header("Content-Type", "application/json")
            self.finish(json.dumps(body))

    return Handler
