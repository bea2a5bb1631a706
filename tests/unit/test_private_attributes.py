"""No code of ours reaches into another library's private names (``x._name``).

A private attribute is free to change in any release the version bounds allow, so code that
uses one breaks unchecked. Statically we cannot know every object's type; the check follows
what the source says: names imported from outside the project, classes derived from them,
and variables, attributes and parameters made from or annotated with them. Our own objects'
private names (``self._x``, ``conn._inbox`` of a project class) are our business.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("trygg", "edge", "hub", "sim", "bench", "tests", "dashboards")
# Documented, public despite the underscore (the language reference or the module's docs say so).
DOCUMENTED = {("os", "_exit"), ("sys", "_getframe")}
# Annotations from these say nothing of whose object it is (``Any``, ``Callable``...).
UNTYPED = {"typing", "typing_extensions", "collections.abc"}


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _root(node: ast.expr) -> str | None:
    """``a`` of ``a.b.c``; None if the chain starts with anything but a name."""
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _dotted(node: ast.expr) -> str | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return ".".join([node.id, *reversed(parts)])


@dataclass
class _Scan:
    """One module's view: which names stand for something foreign."""

    foreign: dict[str, str] = field(default_factory=dict)  # local name -> foreign module
    classes: dict[str, set[str]] = field(default_factory=dict)  # foreign-derived -> own names
    values: set[str] = field(default_factory=set)  # variables/``self.x`` holding foreign objects
    found: list[str] = field(default_factory=list)

    def is_foreign(self, node: ast.expr | None) -> bool:
        """An expression that names a foreign module, class or callable (or a class of ours
        derived from one)."""
        if node is None:
            return False
        if isinstance(node, ast.Subscript):
            return self.is_foreign(node.value)
        if isinstance(node, ast.BinOp):  # X | None
            return self.is_foreign(node.left) or self.is_foreign(node.right)
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            try:
                return self.is_foreign(ast.parse(node.value, mode="eval").body)
            except SyntaxError:
                return False
        root = _root(node)
        if root in self.foreign and self.foreign[root] in UNTYPED:
            return False
        return root is not None and (root in self.foreign or root in self.classes)

    def holds_foreign(self, node: ast.expr) -> bool:
        """An expression whose value is (made by) something foreign."""
        dotted = _dotted(node)
        if dotted is not None and dotted in self.values:
            return True
        if isinstance(node, ast.Call):
            return self.is_foreign(node.func)
        return False


def _foreign_module(module: str, project: set[str]) -> bool:
    return module.split(".", maxsplit=1)[0] not in project and module != "__future__"


def private_uses(source: str, path: str = "<source>", project: set[str] | None = None) -> list[str]:
    """Each ``file:line: expression`` that uses a private name of something foreign."""
    project = project if project is not None else set(PACKAGES)
    tree = ast.parse(source)
    scan = _Scan()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if _foreign_module(alias.name, project):
                    local = alias.asname or alias.name.split(".")[0]
                    scan.foreign[local] = alias.name
        elif (
            isinstance(node, ast.ImportFrom)
            and node.level == 0
            and node.module
            and _foreign_module(node.module, project)
        ):
            for alias in node.names:
                scan.foreign[alias.asname or alias.name] = node.module
                if _is_private(alias.name):
                    scan.found.append(
                        f"{path}:{node.lineno}: from {node.module} import {alias.name}"
                    )
    for node in ast.walk(tree):  # classes of ours derived from foreign ones, and their names
        if isinstance(node, ast.ClassDef) and any(scan.is_foreign(b) for b in node.bases):
            own: set[str] = set()
            for inner in ast.walk(node):
                if isinstance(inner, ast.FunctionDef | ast.AsyncFunctionDef):
                    own.add(inner.name)
                elif isinstance(inner, ast.Attribute) and isinstance(inner.ctx, ast.Store):
                    own.add(inner.attr)
                elif isinstance(inner, ast.Name) and isinstance(inner.ctx, ast.Store):
                    own.add(inner.id)
                elif isinstance(inner, ast.AnnAssign) and isinstance(inner.target, ast.Name):
                    own.add(inner.target.id)
            scan.classes[node.name] = own
    for _ in range(2):  # values made from values: a second pass catches one level of that
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and scan.holds_foreign(node.value):
                targets = [_dotted(t) for t in node.targets]
                scan.values.update(t for t in targets if t is not None)
            elif isinstance(node, ast.AnnAssign):
                target = _dotted(node.target)
                if target is not None and (
                    scan.is_foreign(node.annotation)
                    or (node.value is not None and scan.holds_foreign(node.value))
                ):
                    scan.values.add(target)
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                for arg in [*node.args.args, *node.args.kwonlyargs, *node.args.posonlyargs]:
                    if scan.is_foreign(arg.annotation):
                        scan.values.add(arg.arg)
            elif (
                isinstance(node, ast.withitem)
                and isinstance(node.optional_vars, ast.Name)
                and scan.holds_foreign(node.context_expr)
            ):
                scan.values.add(node.optional_vars.id)
    for cls in ast.walk(tree):
        if isinstance(cls, ast.ClassDef) and cls.name in scan.classes:
            own = scan.classes[cls.name]
            for node in ast.walk(cls):
                if (
                    isinstance(node, ast.Attribute)
                    and isinstance(node.value, ast.Name)
                    and node.value.id in ("self", "cls", "super")
                    and _is_private(node.attr)
                    and node.attr not in own
                ):
                    scan.found.append(f"{path}:{node.lineno}: {node.value.id}.{node.attr}")
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Attribute) and _is_private(node.attr)):
            continue
        owner = node.value
        root = _root(owner)
        if root in scan.foreign and (scan.foreign[root], node.attr) in DOCUMENTED:
            continue
        if scan.is_foreign(owner) or scan.holds_foreign(owner):
            scan.found.append(f"{path}:{node.lineno}: {ast.unparse(node)}")
    return sorted(set(scan.found))


def _project_files() -> list[Path]:
    return [p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))]


def test_the_project_uses_no_private_name_of_another_library() -> None:
    found = [
        use
        for path in _project_files()
        for use in private_uses(path.read_text(), str(path.relative_to(ROOT)))
    ]
    assert found == []


# What the check must catch, in the shapes the MQTT client once had (a paho subclass).
PAHO_FORK = """
import paho.mqtt.client as paho
from paho.mqtt import _packet
from paho.mqtt.enums import CallbackAPIVersion

class _FastClient(paho.Client):
    on_incoming = None

    def _handle_publish(self):
        if self.on_incoming is not None and self._protocol == paho.MQTTv5:
            return self._deliver(self._in_packet["packet"])
        return super()._handle_publish()

    def _deliver(self, fields):
        return self._send_puback(fields[3])

class Connection:
    def __init__(self):
        self._client = _FastClient(CallbackAPIVersion.VERSION2)
        self._tls = self._client._ssl_context

    def abort(self):
        self._client._sock_close()

def check(client: paho.Client) -> bytes:
    return bytes(client._out_packet.pop()["packet"])

def pinned():
    return paho.Client._handle_publish
"""


def test_the_check_catches_the_shapes_of_a_forked_client() -> None:
    found = {use.split(": ", 1)[1] for use in private_uses(PAHO_FORK)}
    assert found == {
        "from paho.mqtt import _packet",
        "self._protocol",
        "self._in_packet",
        "self._send_puback",
        "self._client._ssl_context",
        "self._client._sock_close",
        "client._out_packet",
        "paho.Client._handle_publish",
    }


def test_our_own_private_names_are_ours() -> None:
    source = (
        "import asyncio\n"
        "import os\n"
        "class Conn:\n"
        "    def __init__(self):\n"
        "        self._inbox = []\n"
        "        self._loop = asyncio.get_running_loop()\n"
        "    def size(self, other: 'Conn'):\n"
        "        return len(self._inbox) + len(other._inbox)\n"
        "os._exit(0)\n"
    )
    assert private_uses(source) == []
    reaching = source + "Conn()._inbox.clear()\nConn._poke = lambda self: self._loop._ready\n"
    assert [use.split(": ", 1)[1] for use in private_uses(reaching)] == ["self._loop._ready"]
