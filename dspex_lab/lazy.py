"""Lazy package exports: a name is imported from its module the first time it is read.

`import dspex_lab` stays fast because nothing heavy (aiohttp, pandas, llama_cpp,
ipywidgets) loads until a name that needs it is used. Each package lists its
public names and where they live, then binds the two module hooks:

    __getattr__, __dir__ = lazy_exports(__name__, {"evaluate": "dspex_lab.evaluation.evaluator"})
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any


def lazy_exports(
    package: str, exports: Mapping[str, str], submodules: Iterable[str] = ()
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Module-level `__getattr__` and `__dir__` for `package`, which exports `exports` (name -> module).

    `__dir__` lists exactly the exported names and subpackages (the package's `__all__`).

    A name is cached in the package's namespace once loaded, so later reads cost
    a dictionary lookup. `submodules` are subpackages reachable as attributes.
    """
    children = frozenset(submodules)

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is not None:
            value = getattr(importlib.import_module(module), name)
            setattr(sys.modules[package], name, value)
            return value
        if name in children:
            return importlib.import_module(f"{package}.{name}")
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    public = sorted({*exports, *children})

    def __dir__() -> list[str]:
        # The public names only: what the package imports for itself (sys, typing) is not its surface.
        return list(public)

    return __getattr__, __dir__
