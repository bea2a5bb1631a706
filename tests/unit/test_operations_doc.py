"""docs/operations.md has a section for every ticket kind and every part of the hub's
self-alarm found in the code, so the operators' page cannot fall behind the hub."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from hub import self_alarm
from hub.rules import bin as bin_rule
from hub.rules import cabinet, camera, certificates, device, lamp
from hub.tickets import TITLES

REPO = Path(__file__).resolve().parents[2]
DOC = (REPO / "docs/operations.md").read_text()
SECTIONS = set(re.findall(r"^### `([^`]+)`$", DOC, re.MULTILINE))


def _calls(path: Path, names: set[str]) -> set[str]:
    """The string first argument of every call to one of ``names`` in ``path``."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and node.args:
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            first = node.args[0]
            if name in names and isinstance(first, ast.Constant) and isinstance(first.value, str):
                found.add(first.value)
    return found


def _check_names() -> set[str]:
    """The keys of the dependency checks' table in HealthChecks.check_all."""
    tree = ast.parse((REPO / "hub/health_checks.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.AsyncFunctionDef) and node.name == "check_all":
            for inner in ast.walk(node):
                if isinstance(inner, ast.Dict):
                    return {str(k.value) for k in inner.keys if isinstance(k, ast.Constant)}
    raise AssertionError("HealthChecks.check_all has no table of checks")


def test_every_alarm_the_rules_raise_is_a_ticket_kind() -> None:
    raised = {
        lamp.LAMP_OUT,
        lamp.DAY_BURNING,
        lamp.FLICKER,
        lamp.POWER_DROP,
        cabinet.CABINET_OUT,
        device.DEVICE_OFFLINE,
        bin_rule.FULL,
        bin_rule.FORECAST,
        bin_rule.FIRE,
        bin_rule.TILTED,
        bin_rule.SENSOR_DEAD,
        camera.GRAFFITI,
        *camera.HEALTH,
        certificates.ALARM,
        self_alarm.KIND,
    }
    assert raised <= set(TITLES)


def test_every_ticket_kind_has_a_section() -> None:
    assert set(TITLES) - SECTIONS == set()


def test_every_self_alarm_part_has_a_section() -> None:
    workers = _calls(REPO / "hub/app.py", {"spawn", "run", "duty"})
    checks = _check_names()
    assert {"ingest", "rules"} <= workers  # the scan finds what is surely there
    assert {"sql", "broker"} <= checks
    parts = {f"worker:{w}" for w in workers} | {f"check:{c}" for c in checks}
    assert parts - SECTIONS == set()


def test_no_section_names_something_the_code_does_not_have() -> None:
    workers = _calls(REPO / "hub/app.py", {"spawn", "run", "duty"})
    parts = {f"worker:{w}" for w in workers} | {f"check:{c}" for c in _check_names()}
    assert SECTIONS - set(TITLES) - parts == set()
