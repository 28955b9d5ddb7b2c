"""The layout the README's table states, read from the code's own imports.

Imports point one way: ``server`` -> ``signaling`` -> ``rooms``; inside
``server``, the process parts use the forwarding unit (``server.sfu``), never
the reverse; ``benchmarks`` sit beside the package and never reach into
``tests``; and no module imports itself through a circle, not even for
type checking (a Protocol in the lower module breaks one).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("rooms", "signaling", "server", "benchmarks")
# What the domain may never touch: I/O, transports, media, storage.
DOMAIN_FORBIDDEN = ("aiohttp", "socketio", "engineio", "aiortc", "aioice", "av", "redis")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {
        module_name(path): path
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
    }


def imported_names(path: Path, name: str) -> Iterator[str]:
    """Every module name ``path`` imports (type-checking imports included)."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                source = ".".join([*base, node.module] if node.module else base)
            else:
                source = node.module or ""
            # `from package import module` names the module itself.
            for alias in node.names:
                yield f"{source}.{alias.name}"
            yield source


def graph() -> dict[str, set[str]]:
    known = modules()
    edges: dict[str, set[str]] = {}
    for name, path in known.items():
        targets = set()
        for imported in imported_names(path, name):
            if imported in known and imported != name:
                targets.add(imported)
        # `from server.sfu.legs import X` yields both server.sfu.legs.X (not a module)
        # and server.sfu.legs; a package's own __init__ re-exporting its modules is
        # not a circle through it for the modules it re-exports.
        edges[name] = {
            t for t in targets if not (name.startswith(t + ".") and known[t].name == "__init__.py")
        }
    return edges


def all_imports() -> dict[str, set[str]]:
    return {name: set(imported_names(path, name)) for name, path in modules().items()}


def test_no_module_imports_itself_through_a_circle() -> None:
    edges = graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in edges[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    assert circles == []


@pytest.mark.parametrize(
    ("importer", "forbidden"),
    [
        ("rooms", ("signaling", "server", "benchmarks", "tests", *DOMAIN_FORBIDDEN)),
        ("signaling", ("server", "benchmarks", "tests", "aiortc", "aioice", "redis")),
        ("server", ("benchmarks", "tests")),
        ("benchmarks", ("tests",)),
    ],
)
def test_imports_point_one_way(importer: str, forbidden: tuple[str, ...]) -> None:
    wrong = sorted(
        f"{name} imports {imported}"
        for name, imports in all_imports().items()
        if name == importer or name.startswith(importer + ".")
        for imported in imports
        if any(imported == f or imported.startswith(f + ".") for f in forbidden)
    )
    assert wrong == []


def test_the_forwarding_unit_imports_nothing_of_the_process() -> None:
    wrong = sorted(
        f"{name} imports {imported}"
        for name, imports in all_imports().items()
        if name.startswith("server.sfu")
        for imported in imports
        if imported.startswith("server.") and not imported.startswith("server.sfu")
    )
    assert wrong == []


def test_the_readme_states_the_direction_this_test_holds() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "`server` → `signaling` → `rooms`" in readme
    for package in ("rooms/", "signaling/", "server/", "server/sfu/", "benchmarks/"):
        assert f"| `{package}` |" in readme, package


def test_only_the_quarantine_reaches_below_aiortc() -> None:
    """aioice and pylibsrtp are reached through aiortc's internals only, so only the
    quarantine imports them; the rest of the media plane imports the quarantine as a
    package, never one of its modules."""
    quarantine = "server.sfu.aiortc_internals"
    wrong = sorted(
        f"{name} imports {imported}"
        for name, imports in all_imports().items()
        if not (name == quarantine or name.startswith(quarantine + "."))
        for imported in imports
        if imported.split(".")[0] in ("aioice", "pylibsrtp")
        or (
            imported.startswith(quarantine + ".")
            and imported.count(".") >= 3
            and imported.split(".")[3] in ("receive", "send", "negotiation", "libsrtp")
        )
    )
    assert wrong == []
