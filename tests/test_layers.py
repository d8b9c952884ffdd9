"""The package's modules import each other without cycles, and the lower layers never import the workbench."""

from __future__ import annotations

import ast
from pathlib import Path

import dspex_lab

PACKAGE = Path(dspex_lab.__file__).resolve().parent


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, modules: set[str]) -> set[str]:
    """The dspex_lab modules `path` imports, at the top or inside functions (not under TYPE_CHECKING)."""
    tree = ast.parse(path.read_text())
    skipped = {
        id(child)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for child in ast.walk(node)
    }
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("dspex_lab"):
            # `from package import submodule` imports the submodule (the package's lazy __init__ runs first).
            named = {f"{node.module}.{alias.name}" for alias in node.names}
            found.update(named & modules if named <= modules else {node.module})
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("dspex_lab"))
    return found


def graph() -> dict[str, set[str]]:
    modules = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    edges = {}
    for name, path in modules.items():
        edges[name] = {other for other in imports(path, set(modules)) if other in modules and other != name}
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    found, state, stack = [], {}, []

    def visit(node: str) -> None:
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                found.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node)
    return found


def test_no_module_imports_itself_round_a_cycle():
    assert cycles(graph()) == []


def test_the_cycle_check_sees_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]


def test_the_store_imports_no_query_and_the_kernel_imports_no_workbench():
    edges = graph()
    assert not {name for name in edges["dspex_lab.trace.store"] if name.startswith("dspex_lab.trace.")} - {
        "dspex_lab.trace.chunk",
        "dspex_lab.trace.payload",
        "dspex_lab.trace.schema",
    }
    lower = [name for name in edges if not name.startswith(("dspex_lab.lab", "dspex_lab.cli", "dspex_lab.__main__"))]
    reaching_up = {name: sorted(o for o in edges[name] if o.startswith("dspex_lab.lab")) for name in lower}
    # Only the package itself, when IPython loads it as an extension or a kernel asks for the notebook display.
    assert {name: found for name, found in reaching_up.items() if found} == {
        "dspex_lab": ["dspex_lab.lab.hooks", "dspex_lab.lab.magics"]
    }
