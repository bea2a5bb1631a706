"""The one reader of the hub's environment: ``TRYGG_*`` variables into :class:`HubSettings`.

A variable may instead name a file holding its value (``<VARIABLE>_FILE``), as Docker and
systemd credentials give secrets. Every problem names its variable, and a ``TRYGG_``
variable nobody owns is refused, so a misspelt name cannot silently leave a default in force.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Final

from pydantic import ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import EnvSettingsSource

from hub.settings import HubSettings
from hub.settings_base import FrozenSettings

PREFIX: Final = "TRYGG_"
FILE_SUFFIX: Final = "_FILE"

# Other programs of the project read these names (a trailing "_" is a whole prefix); the
# hub shares an environment with them in docker-compose and on a developer's shell.
FOREIGN: Final[Mapping[str, str]] = {
    "TRYGG_PROXY_": "the TLS proxy container (deploy/proxy)",
    "TRYGG_GRAFANA_": "Grafana's data source provisioning (dashboards/provisioning)",
    "TRYGG_PKI_USER": "docker-compose's pki-renewer service",
    "TRYGG_PKI_GID": "docker-compose's hub service (the group of deploy/pki/issuing)",
    "TRYGG_SIM_": "the simulator (sim/)",
    "TRYGG_BACKUP_": "trygg backup and trygg restore (docs/operations.md)",
    "TRYGG_TEST_": "the test suite (docs/testing.md)",
    "TRYGG_SHARED": "the test suite's shared data",
    "TRYGG_HUB_": "trygg release publish and trygg fleet, which call the hub's API",
}


class SettingsError(ValueError):
    """The environment does not describe valid hub settings; one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def hub_variables() -> dict[str, FieldInfo]:
    """Every variable the hub reads, with its field (``<VARIABLE>_FILE`` aside)."""
    out = HubSettings.variables()
    for part in HubSettings.parts().values():
        out.update(part.variables())
    return out


def owner(name: str) -> str | None:
    """Who reads the variable ``name``: ``"hub"``, another program, or None (nobody)."""
    name = name.upper()
    known = hub_variables()
    if name in known or (name.endswith(FILE_SUFFIX) and name[: -len(FILE_SUFFIX)] in known):
        return "hub"
    for foreign, who in FOREIGN.items():
        if name == foreign or (foreign.endswith("_") and name.startswith(foreign)):
            return who
    return None


def unowned(names: Iterable[str]) -> list[str]:
    """A problem line for each ``TRYGG_`` name in ``names`` that nobody reads."""
    known = list(hub_variables())
    problems = []
    for name in sorted(names):
        if not name.upper().startswith(PREFIX) or owner(name) is not None:
            continue
        close = difflib.get_close_matches(name.upper(), known, n=1, cutoff=0.8)
        hint = f"; did you mean {close[0]}?" if close else ""
        problems.append(f"{name}: unknown variable{hint}")
    return problems


def _from_files(
    model: type[FrozenSettings], environ: Mapping[str, str], problems: list[str]
) -> dict[str, str]:
    values = {}
    for field in model.model_fields.keys() - model.parts().keys():
        var = model.variable(field)
        file_var = var + FILE_SUFFIX
        if file_var not in environ:
            continue
        if var in environ:
            problems.append(f"{var}: set either {var} or {file_var}, not both")
            continue
        try:
            values[field] = Path(environ[file_var]).read_text().strip()
        except OSError as exc:
            problems.append(f"{file_var}: cannot read {environ[file_var]!r}: {exc.strerror}")
    return values


def _values(
    model: type[FrozenSettings], environ: Mapping[str, str], problems: list[str]
) -> dict[str, Any]:
    values = {k: v for k, v in EnvSettingsSource(model)().items() if k not in model.parts()}
    return {**values, **_from_files(model, environ, problems)}


def _named(model: type[FrozenSettings], exc: ValidationError) -> list[str]:
    out = []
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else ""
        info = model.model_fields.get(field)
        var = model.variable(field) if info is not None else model.__name__
        # A secret's value stays out of the message, which ends up in logs.
        got = f" (got {error['input']!r})" if info is not None and info.repr else ""
        out.append(f"{var}: {error['msg']}{got}")
    return out


def load(overrides: Mapping[str, Any] | None = None) -> HubSettings:
    """Settings from this process's environment, then ``overrides`` (by field name).

    Raises :class:`SettingsError` listing every unknown variable, unreadable file and
    invalid value by its variable's name; nothing is half-applied.
    """
    environ = dict(os.environ)
    problems = unowned(environ)
    parts: dict[str, FrozenSettings] = {}
    for name, part in HubSettings.parts().items():
        try:
            parts[name] = part(**_values(part, environ, problems))
        except ValidationError as exc:
            problems += _named(part, exc)
    values = {**_values(HubSettings, environ, problems), **(overrides or {}), **parts}
    try:
        settings = HubSettings(**values)
    except ValidationError as exc:
        raise SettingsError([*problems, *_named(HubSettings, exc)]) from None
    if problems:
        raise SettingsError(problems)
    return settings
