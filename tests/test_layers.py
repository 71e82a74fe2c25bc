"""The layer contracts of docs/architecture.md, read from the source: every import
statement of every module under pipeline/, model/ and app/ counts, the lazy ones inside
functions too, and so does ``importlib.import_module("literal")``.

A contract names the importing modules (a dotted prefix), the modules they may not
import (dotted prefixes), and whether only the top-level imports count.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("pipeline", "model", "app")

GUI_LEAVES = ("app.gui.stages", "app.gui.widgets", "app.gui.canvas", "app.gui.tools")


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, dotted
    target: str  # what it imports, dotted and absolute
    line: int
    lazy: bool  # inside a function (or under ``if TYPE_CHECKING``: never run)


@dataclass(frozen=True)
class Contract:
    name: str
    importers: tuple[str, ...]
    forbidden: tuple[str, ...]
    top_level_only: bool = False  # lazy imports are allowed (they run on demand)
    except_importers: tuple[str, ...] = ()


CONTRACTS = (
    Contract(
        "pipeline imports no Qt, torch, app or model",
        ("pipeline",),
        ("PySide6", "torch", "torchvision", "app", "model"),
    ),
    Contract("model imports no Qt or app", ("model",), ("PySide6", "app")),
    Contract("app.gui imports no app.cli", ("app.gui",), ("app.cli",)),
    Contract(
        "app.cli imports app.gui only lazily (for `longtail gui` and `longtail demo`)",
        ("app.cli",),
        ("app.gui",),
        top_level_only=True,
    ),
    Contract(
        "app's shared modules (app.demo, app.interrupt) import neither front end",
        ("app",),
        ("app.gui", "app.cli"),
        except_importers=("app.gui", "app.cli", "app.__main__"),
    ),
    Contract(
        "the GUI's views, widgets, canvas and tools import no SQL: they ask the session",
        GUI_LEAVES,
        ("sqlalchemy", "pipeline.store.schema"),
    ),
    Contract(
        "the store does not call up into the rules built on it",
        ("pipeline.store.database",),
        ("pipeline.team.roles", "pipeline.stages", "pipeline.formats"),
    ),
)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _absolute(module: str, is_package: bool, level: int, name: str | None) -> str:
    if level == 0:
        return name or ""
    base = module.split(".")
    if not is_package:
        base.pop()
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([name] if name else []))


class _Walker(ast.NodeVisitor):
    def __init__(self, module: str, is_package: bool) -> None:
        self.module, self.is_package = module, is_package
        self.depth = 0  # functions (and TYPE_CHECKING blocks) we are inside
        self.found: list[Import] = []

    def _add(self, target: str, node: ast.AST) -> None:
        self.found.append(Import(self.module, target, node.lineno, self.depth > 0))

    def _nested(self, node: ast.AST) -> None:
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _nested

    def visit_If(self, node: ast.If) -> None:
        test = node.test
        if (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
            isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
        ):
            self.depth += 1
            for child in node.body:
                self.visit(child)
            self.depth -= 1
            for child in node.orelse:
                self.visit(child)
        else:
            self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name, node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = _absolute(self.module, self.is_package, node.level, node.module)
        self._add(base, node)
        for alias in node.names:  # ``from pipeline.store import schema`` imports pipeline.store.schema
            if alias.name != "*":
                self._add(f"{base}.{alias.name}", node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if name in ("import_module", "__import__") and node.args:
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                self._add(first.value, node)
        self.generic_visit(node)


def imports_of(path: Path) -> list[Import]:
    walker = _Walker(module_name(path), path.name == "__init__.py")
    walker.visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
    return walker.found


def all_imports() -> list[Import]:
    found: list[Import] = []
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            found.extend(imports_of(path))
    return found


def _under(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def breaches(contract: Contract, imports: list[Import]) -> list[str]:
    return sorted(
        {
            f"{i.module}:{i.line} imports {i.target}" + (" (lazily)" if i.lazy else "")
            for i in imports
            if _under(i.module, contract.importers)
            and not _under(i.module, contract.except_importers)
            and _under(i.target, contract.forbidden)
            and not (contract.top_level_only and i.lazy)
        }
    )


@pytest.fixture(scope="module")
def imports() -> list[Import]:
    return all_imports()


@pytest.mark.parametrize("contract", CONTRACTS, ids=[c.name for c in CONTRACTS])
def test_the_tree_keeps_the_layer_contract(contract: Contract, imports: list[Import]) -> None:
    assert breaches(contract, imports) == []


@pytest.mark.parametrize("module", ["pipeline.constants", "model.names"])
def test_the_shared_name_modules_import_nothing(module: str, imports: list[Import]) -> None:
    # the GUI and the CLI read them before SQLAlchemy or torch load (docs/architecture.md)
    assert [i.target for i in imports if i.module == module and i.target != "__future__"] == [
        "__future__.annotations"
    ]


def test_the_walk_sees_every_package_and_lazy_imports(imports: list[Import]) -> None:
    modules = {i.module for i in imports}
    assert {"pipeline.store.database", "model.predictor", "app.gui.main_window", "app.cli.main"} <= modules
    # app.cli.commands.gui opens the window through a lazy import: the walk must see it
    assert any(
        i.module.startswith("app.cli") and i.target.startswith("app.gui") and i.lazy
        for i in imports
    )


@pytest.mark.parametrize(
    ("source", "module", "expected"),
    [
        ("import torch\n", "pipeline.masks.geometry", ["pipeline.masks.geometry:1 imports torch"]),
        (
            "def f():\n    from app.gui import app\n",
            "pipeline.stats.core",
            [
                "pipeline.stats.core:2 imports app.gui (lazily)",
                "pipeline.stats.core:2 imports app.gui.app (lazily)",
            ],
        ),
        (
            "from pipeline.store import schema as s\n",
            "app.gui.widgets.explorer",
            ["app.gui.widgets.explorer:1 imports pipeline.store.schema"],
        ),
        (
            "from ...cli.commands.demo import build_demo\n",
            "app.gui.widgets.wizard",
            [
                "app.gui.widgets.wizard:1 imports app.cli.commands.demo",
                "app.gui.widgets.wizard:1 imports app.cli.commands.demo.build_demo",
            ],
        ),
        (
            "import importlib\nimportlib.import_module('app.cli.main')\n",
            "app.gui.panels",
            ["app.gui.panels:2 imports app.cli.main"],
        ),
        (
            "def f():\n    from ..team.roles import require\n",
            "pipeline.store.database",
            [
                "pipeline.store.database:2 imports pipeline.team.roles (lazily)",
                "pipeline.store.database:2 imports pipeline.team.roles.require (lazily)",
            ],
        ),
        ("from app.gui.app import run_gui\n", "app.cli.commands.gui", None),
        ("def f():\n    from app.gui.app import run_gui\n", "app.cli.commands.gui", []),
    ],
    ids=[
        "torch",
        "lazy",
        "schema",
        "relative",
        "import_module",
        "store-roles",
        "cli-top",
        "cli-lazy",
    ],
)
def test_a_deliberately_broken_import_breaks_a_contract(
    source: str, module: str, expected: list[str] | None
) -> None:
    walker = _Walker(module, is_package=False)
    walker.visit(ast.parse(source))
    found = sorted({b for c in CONTRACTS for b in breaches(c, walker.found)})
    if expected is None:  # the CLI may not import the GUI at its top level
        assert found == [
            "app.cli.commands.gui:1 imports app.gui.app",
            "app.cli.commands.gui:1 imports app.gui.app.run_gui",
        ]
    else:
        assert found == expected
