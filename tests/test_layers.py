"""The package's modules import each other one way: no cycle, not even through imports made only
for type checking or inside functions (docs/architecture.md draws the layers)."""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

import callstate

ROOT = Path(__file__).resolve().parents[1]
#: the source tree next to these tests (the installed copy when the tests run elsewhere)
PACKAGE = ROOT / "callstate" if (ROOT / "callstate").is_dir() else Path(callstate.__file__).parent


def _name(path: Path) -> str:
    """A module's name inside the package: ``engine``, or ``engine.core`` in a subpackage (a
    subpackage's ``__init__`` is the subpackage's name; the package's own stays ``__init__``)."""
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(parts)


def _package_of(path: Path) -> list[str]:
    """The parts of the (sub)package ``path`` is in (``[]`` for the package itself)."""
    return list(path.relative_to(PACKAGE).parent.parts)


def _module(parts: list[str], modules: set[str]) -> str:
    """The longest module name that ``parts`` (a dotted path inside the package) starts with."""
    for end in range(len(parts), 0, -1):
        name = ".".join(parts[:end])
        if name in modules:
            return name
    return "__init__"


def _imports(path: Path, modules: set[str] | None = None) -> set[str]:
    """Every ``callstate`` module that ``path`` imports, wherever the import statement is.
    ``modules``: the package's module names (default: those of ``PACKAGE``)."""
    if modules is None:
        modules = {_name(p) for p in PACKAGE.rglob("*.py")}
    here = _package_of(path) if path.is_relative_to(PACKAGE) else []
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - (node.level - 1)] if node.level > 1 else here
                parts = [*base, *(node.module or "").split(".")] if node.module else base
            elif node.module and node.module.split(".")[0] == "callstate":
                parts = node.module.split(".")[1:]
            else:
                continue
            # each name: a module of that (sub)package, or a name the module holds
            found.update(_module([*parts, alias.name], modules) for alias in node.names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "callstate":
                    found.add(_module(parts[1:], modules) if parts[1:] else "__init__")
    found.discard(_name(path) if path.is_relative_to(PACKAGE) else "")
    return found


def import_graph() -> dict[str, set[str]]:
    """Each module of the package (``engine``, ``engine.core``, ...) -> the modules it imports."""
    modules = {_name(path) for path in PACKAGE.rglob("*.py")}
    return {_name(path): _imports(path, modules) for path in sorted(PACKAGE.rglob("*.py"))}


def test_the_graph_sees_every_kind_of_import(tmp_path: Path) -> None:
    source = tmp_path / "sample.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "from .a import x\n"
        "from . import b\n"
        "import callstate.c\n"
        "from callstate import d\n"
        "if TYPE_CHECKING:\n"
        "    from .e import y\n"
        "def f():\n"
        "    from .g import z\n",
        encoding="utf-8",
    )
    modules = {"a", "b", "c", "d", "e", "g"}
    assert _imports(source, modules) == {"a", "b", "c", "d", "e", "g"}


def test_the_graph_names_modules_of_subpackages(tmp_path: Path) -> None:
    """Imports resolve to the longest module name they start with; a name imported from the
    package itself is the package's ``__init__``."""
    source = tmp_path / "sample.py"
    source.write_text(
        "from callstate.engine.core import Engine\n"
        "from callstate.engine import records\n"
        "from callstate import Switch\n",
        encoding="utf-8",
    )
    modules = {"engine", "engine.core", "engine.records", "switch"}
    assert _imports(source, modules) == {"engine.core", "engine.records", "__init__"}


def test_no_module_imports_itself_back() -> None:
    graph = import_graph()
    assert {"engine", "switch"} <= set(graph)
    try:
        order = list(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as error:
        pytest.fail(f"import cycle inside callstate/: {' -> '.join(error.args[1])}")
    assert order.index("table") < order.index("engine") < order.index("operations")


@pytest.mark.parametrize(
    ("low", "high"),
    [
        ("engine", "requests"),
        ("engine", "operations"),
        ("engine", "switch"),
        ("bus", "engine"),
        ("events", "projection"),
        ("events", "log"),
    ],
)
def test_lower_layers_do_not_know_higher_ones(low: str, high: str) -> None:
    graph = import_graph()

    def reaches(start: str, goal: str) -> bool:
        seen, todo = set(), [start]
        while todo:
            module = todo.pop()
            if module == goal:
                return True
            if module not in seen:
                seen.add(module)
                todo.extend(graph.get(module, ()))
        return False

    assert not reaches(low, high)


VOCABULARY = {"enums", "errors", "events", "__init__", "__main__"}


def _node_id(module: str) -> str:
    """A module's node in the drawing: ``engine.core`` is ``engine_core`` (with its dotted name
    as the node's label), as mermaid ids take no dots."""
    return module.replace(".", "_")


ARCHITECTURE = ROOT / "docs" / "architecture.md"


@pytest.mark.skipif(not ARCHITECTURE.exists(), reason="docs/ are not beside these tests")
def test_the_architecture_picture_is_the_import_graph() -> None:
    text = ARCHITECTURE.read_text(encoding="utf-8")
    block = text.split("```mermaid\nflowchart TD\n", 1)[1].split("```", 1)[0]
    arrows = [line.strip().split(" --> ") for line in block.split("\n") if " --> " in line]
    drawn = {(a, b) for a, b in arrows}
    node = _node_id
    actual = {
        (node(module), node(imported))
        for module, imports in import_graph().items()
        if module not in VOCABULARY
        for imported in imports - VOCABULARY
    }
    assert drawn == actual


API = ROOT / "docs" / "api.md"


@pytest.mark.skipif(not API.exists(), reason="docs/ are not beside these tests")
def test_the_api_reference_lists_exactly_the_public_names() -> None:
    import re

    import callstate

    listed = re.findall(r"^\| `([A-Za-z_]+)` \|", API.read_text(encoding="utf-8"), re.MULTILINE)
    assert sorted(listed) == sorted(callstate.__all__)


def test_constructor_parameters_are_documented() -> None:
    import inspect

    from callstate import Projection, Switch

    for cls in (Switch, Projection):
        text = (cls.__doc__ or "") + (cls.__init__.__doc__ or "")
        for name in inspect.signature(cls).parameters:
            assert name in text, (cls.__name__, name)
