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


def _imports(path: Path) -> set[str]:
    """Every ``callstate`` module that ``path`` imports, wherever the import statement is."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1 and node.module:
                found.add(node.module.split(".")[0])
            elif node.level == 1:  # from . import x
                found.update(alias.name for alias in node.names)
            elif node.level == 0 and node.module and node.module.split(".")[0] == "callstate":
                parts = node.module.split(".")
                found.add(parts[1] if len(parts) > 1 else "__init__")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "callstate":
                    found.add(parts[1] if len(parts) > 1 else "__init__")
    return found


def import_graph() -> dict[str, set[str]]:
    return {path.stem: _imports(path) for path in sorted(PACKAGE.glob("*.py"))}


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
    assert _imports(source) == {"a", "b", "c", "__init__", "e", "g"}


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
ARCHITECTURE = ROOT / "docs" / "architecture.md"


@pytest.mark.skipif(not ARCHITECTURE.exists(), reason="docs/ are not beside these tests")
def test_the_architecture_picture_is_the_import_graph() -> None:
    text = ARCHITECTURE.read_text(encoding="utf-8")
    block = text.split("```mermaid\nflowchart TD\n", 1)[1].split("```", 1)[0]
    arrows = [line.strip().split(" --> ") for line in block.split("\n") if " --> " in line]
    drawn = {(a, b) for a, b in arrows}
    actual = {
        (module, imported)
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
