"""The design's one-way data flow, checked from the imports themselves: `matching` and `keys`
import none of our other packages, `protocol` only those two, `node` any of them; inside `node`
each subpackage imports only those on lower floors (``NODE_FLOORS``, drawn in
docs/architecture.md); no module of the four packages is part of an import circle; and the
house stays readable: at most 12 loose modules in node/ and no module of the four packages over
500 lines."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("matching", "keys", "protocol", "node")
MAY_IMPORT = {
    "matching": set(),
    "keys": set(),
    "protocol": {"matching", "keys"},
    "node": {"matching", "keys", "protocol"},
}


# node's subpackages (and loose modules) from the ground floor up: a part may import the parts
# on lower floors, never one on its own floor or above. ``node/__init__.py`` (the public surface)
# may import any of them.
NODE_FLOORS: tuple[tuple[str, ...], ...] = (
    ("errors", "dates", "statuses"),
    ("canonical", "home", "net"),
    ("store",),
    ("accounts", "trust", "records", "review", "ops"),
    ("directory", "scale"),
    ("federation",),
    ("runtime",),
    ("web", "demo", "testing"),
    ("server",),
    ("cli",),
)
MAX_LOOSE_MODULES = 12
MAX_LINES = 500


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for package in PACKAGES for p in (ROOT / package).rglob("*.py")}


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """Our modules that ``name`` imports at run time (imports under TYPE_CHECKING excluded)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_package = path.name == "__init__.py"
    base = name.split(".") if is_package else name.split(".")[:-1]
    found: set[str] = set()

    def skipped(node: ast.AST) -> bool:
        return (
            isinstance(node, ast.If)
            and isinstance(node.test, ast.Name | ast.Attribute)
            and "TYPE_CHECKING" in ast.unparse(node.test)
        )

    def visit(node: ast.AST) -> None:
        if skipped(node):
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = base[: len(base) - node.level + 1]
                prefix = ".".join(anchor + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            found.add(prefix)
            for alias in node.names:
                found.add(f"{prefix}.{alias.name}")
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return {m for m in found if m in known and m != name}


def graph() -> dict[str, set[str]]:
    found = modules()
    known = set(found)
    return {name: imports_of(name, path, known) for name, path in found.items()}


def test_every_package_imports_only_what_the_design_allows():
    wrong = sorted(
        f"{module} imports {target}"
        for module, targets in graph().items()
        for target in targets
        if (source := module.split(".")[0]) != (dest := target.split(".")[0])
        and dest not in MAY_IMPORT[source]
    )
    assert wrong == []


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(edges):
        if v not in index:
            connect(v)
    return groups


def without_package_parents(edges: dict[str, set[str]]) -> dict[str, set[str]]:
    """A module importing its own package's ``__init__`` (which re-exports it) is not a circle
    of design; count only imports between sibling modules."""
    return {
        module: {t for t in targets if not module.startswith(t + ".")}
        for module, targets in edges.items()
    }


@pytest.mark.parametrize(
    ("edges", "expected"),
    [
        ({"a": {"b"}, "b": {"a"}}, [["a", "b"]]),
        ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
    ],
)
def test_circles_are_found_when_there_are_some(edges, expected):
    assert circles(edges) == expected


def test_no_module_is_part_of_an_import_circle():
    assert circles(without_package_parents(graph())) == []


def node_part(module: str) -> str | None:
    """The subpackage or loose module of node that ``module`` belongs to (None: the face)."""
    parts = module.split(".")
    return parts[1] if parts[0] == "node" and len(parts) > 1 else None


def test_every_part_of_node_is_on_a_floor():
    floors = [part for floor in NODE_FLOORS for part in floor]
    assert len(floors) == len(set(floors))
    parts = {node_part(m) for m in modules()} - {None}
    assert parts == set(floors)


def test_node_parts_import_only_parts_on_lower_floors():
    floor = {part: i for i, parts in enumerate(NODE_FLOORS) for part in parts}
    wrong = sorted(
        f"{module} imports {target}"
        for module, targets in graph().items()
        for target in targets
        if (source := node_part(module)) is not None
        and (dest := node_part(target)) is not None
        and source != dest
        and floor[dest] >= floor[source]
    )
    assert wrong == []


def test_node_has_few_loose_modules():
    loose = sorted(p.name for p in (ROOT / "node").glob("*.py") if p.name != "__init__.py")
    assert len(loose) <= MAX_LOOSE_MODULES, loose


def test_no_module_of_the_four_packages_or_the_benchmarks_is_long():
    paths = [*modules().values(), *(ROOT / "benchmarks").rglob("*.py")]
    long = sorted(
        f"{path.relative_to(ROOT)}: {lines} lines"
        for path in paths
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    )
    assert long == []


def imported_names(path: Path) -> set[str]:
    """What a file imports, relative imports written with their leading dots."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            names.add("." * node.level + (node.module or ""))
    return names


def test_no_test_imports_another_test_module_and_no_benchmark_imports_tests():
    """Shared test helpers live in node/testing or in fixtures: a test importing another test
    module (or a conftest) ties tests together, and benchmarks must run without the tests."""
    wrong = []
    for folder in ("tests", "benchmarks"):
        for path in (ROOT / folder).rglob("*.py"):
            for name in imported_names(path):
                last = name.lstrip(".").split(".")[-1]
                if name.split(".")[0] == "tests" or (
                    name.startswith(".") and (last.startswith("test_") or last == "conftest")
                ):
                    wrong.append(f"{path.relative_to(ROOT)} imports {name}")
    assert wrong == []
