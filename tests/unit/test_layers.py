"""The package's folders are its floors: a module imports only its own floor's
package or lower floors, nothing imports the entry points, and there are no cycles.

The floors are written out here, independently of ARCHITECTURE.md's table, and the
test also fails when a new top-level module or package appears without a floor.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "rplugin" / "python3" / "zeke"

FLOORS = {
    "errors": 0,
    "settings": 0,
    "project": 0,
    "scrub": 0,
    "protocol": 0,
    "store": 1,
    "backends": 1,
    "changes": 1,
    "tools": 2,
    "engine": 3,
    "host": 4,
    "health": 4,
}
ENTRY_POINTS = {"__main__", "__init__"}
MAX_LINES = 500  # beyond this a module says why in its docstring


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).with_suffix("")
        parts = [p for p in rel.parts if p != "__init__"] or ["__init__"]
        out[".".join(["zeke", *parts])] = path
    return out


def _imports(path: Path) -> set[str]:
    """Every zeke module this file imports (at any depth: local imports count)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("zeke"):
            if node.module == "zeke":
                found.update(f"zeke.{a.name}" for a in node.names)
            else:
                found.add(node.module)
                found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("zeke"))
    return found


def _top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


MODULES = _modules()


def test_every_top_level_module_has_a_floor() -> None:
    tops = {_top(m) for m in MODULES} - ENTRY_POINTS
    assert tops <= set(FLOORS), (
        f"give these a floor in ARCHITECTURE.md and here: {tops - set(FLOORS)}"
    )


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_go_down_or_sideways_within_a_package(module: str) -> None:
    me = _top(module)
    if me in ENTRY_POINTS:
        return
    for target in _imports(MODULES[module]):
        other = _top(target)
        if target not in MODULES and target.rsplit(".", 1)[0] not in MODULES:
            continue  # a name imported from a module, already counted as that module
        if other == me:
            continue
        assert other not in ENTRY_POINTS, f"{module} imports the entry point {target}"
        # floor 0 is a handful of single modules that may use each other (cycles aside)
        assert FLOORS[other] < FLOORS[me] or FLOORS[me] == FLOORS[other] == 0, (
            f"{module} (floor {FLOORS[me]}) imports {target} (floor {FLOORS[other]})"
        )


def test_no_import_cycles() -> None:
    graph = {
        m: {t if t in MODULES else t.rsplit(".", 1)[0] for t in _imports(p)} & set(MODULES)
        for m, p in MODULES.items()
    }
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if nxt == node or nxt.startswith(node + ".") or node.startswith(nxt + "."):
                continue  # a package and its own modules
            if state.get(nxt) == 1:
                cycle = [*trail[trail.index(nxt) :], nxt] if nxt in trail else [node, nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])


@pytest.mark.parametrize("module", sorted(MODULES))
def test_a_long_module_says_why_in_its_docstring(module: str) -> None:
    source = MODULES[module].read_text(encoding="utf-8")
    lines = source.count("\n")
    if lines <= MAX_LINES:
        return
    doc = ast.get_docstring(ast.parse(source)) or ""
    assert "long because" in doc.lower(), (
        f"{module} has {lines} lines (over {MAX_LINES}): split it, or say in its "
        "docstring why it is long ('Long because ...')"
    )
