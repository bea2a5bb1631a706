"""Dependencies point one way: the core ``trygg`` <- the areas ``edge``, ``hub``,
``dashboards`` <- ``sim`` <- ``bench``. Every import counts, function-level ones too."""

from __future__ import annotations

import ast

import pytest

from tests.shared_data import PROJECT_ROOT

# What each package may import of the project's own packages (itself always).
ALLOWED: dict[str, frozenset[str]] = {
    "trygg": frozenset(),
    "edge": frozenset({"trygg"}),
    "hub": frozenset({"trygg"}),
    "dashboards": frozenset({"trygg"}),
    "sim": frozenset({"trygg", "edge", "hub"}),
    "bench": frozenset({"trygg", "edge", "hub", "dashboards", "sim"}),
}
PROJECT = frozenset({*ALLOWED, "tests"})


def imported(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, top-level package) of every absolute import in ``tree``, wherever it stands,
    including ``importlib.import_module("name")`` with a literal name."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name.split(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module.split(".")[0]))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append((node.lineno, node.args[0].value.split(".")[0]))
    return found


def violations(package: str, source: str, where: str = "<source>") -> list[str]:
    """Each import in ``source`` (a module of ``package``) that points the wrong way."""
    allowed = ALLOWED[package] | {package}
    return [
        f"{where}:{line} ({package}) imports {name}"
        for line, name in imported(ast.parse(source))
        if name in PROJECT and name not in allowed
    ]


@pytest.mark.parametrize(
    ("package", "source", "bad"),
    [
        ("trygg", "from hub.settings import HubSettings\n", ["hub"]),
        ("trygg", "def f():\n    import edge.agent\n", ["edge"]),
        ("trygg", "import importlib\nimportlib.import_module('sim.cli')\n", ["sim"]),
        ("edge", "from hub import app\nfrom trygg import contract\n", ["hub"]),
        ("hub", "if True:\n    from sim.run import x\n", ["sim"]),
        ("hub", "from . import settings\nfrom trygg.clock import Clock\n", []),
        ("dashboards", "import tests.helpers\n", ["tests"]),
        ("sim", "import hub.app, edge.agent, trygg.clock, yaml\n", []),
        ("bench", "from tests.helpers import x\n", ["tests"]),
    ],
)
def test_the_check_sees_every_kind_of_import(package: str, source: str, bad: list[str]) -> None:
    assert [v.rsplit(" ", 1)[1] for v in violations(package, source)] == bad


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_every_module_imports_only_downward(package: str) -> None:
    modules = sorted((PROJECT_ROOT / package).rglob("*.py"))
    assert modules, f"no modules under {package}/"
    found = [
        v
        for path in modules
        for v in violations(package, path.read_text(), str(path.relative_to(PROJECT_ROOT)))
    ]
    assert found == []
