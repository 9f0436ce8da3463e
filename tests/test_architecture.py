"""The rooms import one way (docs/architecture.md): a wire that knows no protocol, and no
import cycle anywhere in ``src/`` (between rooms, or between modules of one room). Imports
inside functions count: a lazy import is a dependency all the same (those under
``if TYPE_CHECKING:`` are for type hints and never run)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "tickpath"
#: what a transport may not know: every protocol room and everything above them
PROTOCOL_ROOMS = {"codec", "feed", "book", "engine", "apps", "venue", "strategy", "risk",
                  "gateway"}


def _module(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports() -> dict[str, set[str]]:
    """module -> the tickpath modules it imports (``from X import name`` counts X.name when
    X.name is a module, else X)."""
    modules = {_module(p): p for p in SRC.rglob("*.py")}
    out: dict[str, set[str]] = {}
    for mod, path in modules.items():
        pkg = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        deps: set[str] = set()
        tree = ast.parse(path.read_text(), str(path))
        typing_only = {id(n) for b in ast.walk(tree) if isinstance(b, ast.If)
                       and ast.unparse(b.test).endswith("TYPE_CHECKING") for s in b.body
                       for n in ast.walk(s)}
        for node in ast.walk(tree):
            if id(node) in typing_only:  # for type hints only: never imported at run time
                continue
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = pkg.split(".")[:len(pkg.split(".")) - node.level + 1]
                    base = ".".join(base + ([node.module] if node.module else []))
                else:
                    base = node.module or ""
                names = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                         for a in node.names]
            else:
                continue
            deps |= {n for n in names if n.split(".")[0] == "tickpath" and n != mod}
        out[mod] = deps
    return out


def _room(mod: str) -> str | None:
    parts = mod.split(".")
    if len(parts) < 2 or parts[1] in ("cli", "__main__"):
        return None  # the package's entry points sit above every room
    return parts[1]


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph``, or None (depth-first search, colours)."""
    colour: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        colour[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if colour.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if not colour.get(m):
                found = visit(m)
                if found:
                    return found
        stack.pop()
        colour[n] = 2
        return None

    for n in sorted(graph):
        if not colour.get(n):
            found = visit(n)
            if found:
                return found
    return None


IMPORTS = _imports()


def test_the_wire_knows_no_protocol():
    bad = sorted((m, d) for m, deps in IMPORTS.items() if _room(m) == "wire"
                 for d in deps if _room(d) in PROTOCOL_ROOMS)
    assert not bad, "wire modules importing protocol rooms: " + ", ".join(
        f"{m} -> {d}" for m, d in bad)


def test_no_import_cycle_between_rooms():
    rooms: dict[str, set[str]] = {}
    for m, deps in IMPORTS.items():
        r = _room(m)
        if r is None or m == "tickpath":
            continue
        rooms.setdefault(r, set()).update(
            x for x in (_room(d) for d in deps) if x is not None and x != r)
    assert _cycle(rooms) is None, f"rooms import each other: {' -> '.join(_cycle(rooms))}"


def test_no_import_cycle_between_modules():
    graph = {m: {d for d in deps if d in IMPORTS} for m, deps in IMPORTS.items()
             if m != "tickpath"}
    # a package's __init__ re-exporting its own modules is not a cycle worth the name
    for m in graph:
        graph[m] = {d for d in graph[m] if not (d != "tickpath" and m.startswith(d + "."))}
    assert _cycle(graph) is None, f"modules import each other: {' -> '.join(_cycle(graph))}"


def test_nothing_imports_apps_or_the_command_line():
    bad = sorted((m, d) for m, deps in IMPORTS.items() for d in deps
                 if _room(d) == "apps" and _room(m) not in ("apps", None) and m != "tickpath"
                 or d == "tickpath.cli" and m != "tickpath.__main__")
    assert not bad, bad


@pytest.mark.parametrize("room", ["wire", "feed", "engine", "apps"])
def test_every_room_is_found(room):
    assert any(_room(m) == room for m in IMPORTS)
