"""The hub's settings: typed, validated once, unknown variables refused, secrets from files."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from pydantic import ValidationError

from hub.api.config import ApiConfig
from hub.settings import HubSettings
from hub.settings_doc import render
from hub.settings_env import SettingsError, hub_variables, owner, unowned
from tests.helpers import settings_from
from tests.shared_data import PROJECT_ROOT


def test_values_arrive_typed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    s = settings_from(
        monkeypatch,
        {
            "TRYGG_MQTT_PORT": "1884",
            "TRYGG_DEDUP": "no",
            "TRYGG_SPOOL_DIR": str(tmp_path),
            "TRYGG_BATCH_MAX_DELAY_S": "0.05",
            "TRYGG_MQTT_CA_FILE": "/etc/trygg/ca.crt",
            "TRYGG_API_TRUSTED_PROXIES": " 10.0.0.0/8 ,172.18.0.1,",
            "TRYGG_API_DOCS_ACCESS": "operator",
        },
    )
    assert (s.mqtt_port, s.dedup, s.spool_dir, s.batch_max_delay_s) == (1884, False, tmp_path, 0.05)
    assert s.mqtt_ca_file == Path("/etc/trygg/ca.crt")
    assert s.api.trusted_proxies == ("10.0.0.0/8", "172.18.0.1")
    assert s.api.docs_access == "operator"


def test_an_empty_environment_gives_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    assert settings_from(monkeypatch, {}) == HubSettings()


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("TRYGG_MQTT_PORT", "abc"),
        ("TRYGG_MQTT_PORT", "70000"),
        ("TRYGG_DEDUP", "perhaps"),
        ("TRYGG_BATCH_MAX_DELAY_S", "-1"),
        ("TRYGG_TICK_S", "0"),
        ("TRYGG_API_DOCS_ACCESS", "maybe"),
        ("TRYGG_API_ANON_BURST", "0"),
        ("TRYGG_API_TRUSTED_PROXIES", "proxy.example"),
        ("TRYGG_API_WEBHOOK_ALLOW", "http://x/"),
    ],
)
def test_a_bad_value_is_refused_by_its_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    with pytest.raises(SettingsError) as caught:
        settings_from(monkeypatch, {variable: value})
    assert len(caught.value.problems) == 1
    assert caught.value.problems[0].startswith(f"{variable}: ")


def test_every_problem_is_reported_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {"TRYGG_MQTT_PORT": "x", "TRYGG_API_ANON_BURST": "-3", "TRYGG_INFLUXDB_URL": "y"}
    with pytest.raises(SettingsError) as caught:
        settings_from(monkeypatch, env)
    named = sorted(p.split(":")[0] for p in caught.value.problems)
    assert named == sorted(env)


@pytest.mark.parametrize(
    ("name", "hint"),
    [
        ("TRYGG_MQTT_PROT", "TRYGG_MQTT_PORT"),
        ("TRYGG_INFLUX_PASWORD", "TRYGG_INFLUX_PASSWORD"),
        ("TRYGG_API_DOCS_ACCES", "TRYGG_API_DOCS_ACCESS"),
        ("TRYGG_COLOUR", None),
        ("TRYGG_API", None),  # the API's part has no variable of its own
    ],
)
def test_an_unknown_variable_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, name: str, hint: str | None
) -> None:
    with pytest.raises(SettingsError) as caught:
        settings_from(monkeypatch, {name: "1"})
    (problem,) = caught.value.problems
    assert problem.startswith(f"{name}: unknown variable")
    assert problem.endswith(f"did you mean {hint}?") if hint else "did you mean" not in problem


def test_other_programs_variables_and_other_names_are_left_alone() -> None:
    names = ["TRYGG_PROXY_CERT", "TRYGG_SIM_STAGGER_S", "TRYGG_PKI_USER", "TRYGG_SHARED"]
    assert unowned([*names, "PATH", "HOME", "TRYGG_MQTT_PASSWORD_FILE"]) == []
    assert unowned(["TRYGG_PKI_USERS", "TRYGG_SHARED_DIR"]) == [
        "TRYGG_PKI_USERS: unknown variable",
        "TRYGG_SHARED_DIR: unknown variable",
    ]


def test_a_secret_comes_from_its_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("s3cret-from-docker\n")
    (tmp_path / "db").write_text("postgresql+psycopg://hub:pw@db/trygg")
    s = settings_from(
        monkeypatch,
        {
            "TRYGG_INFLUX_PASSWORD_FILE": str(tmp_path / "pw"),
            "TRYGG_DATABASE_URL_FILE": str(tmp_path / "db"),
        },
    )
    assert s.influx_password == "s3cret-from-docker"
    assert s.database_url == "postgresql+psycopg://hub:pw@db/trygg"
    assert "s3cret" not in repr(s)


def test_a_file_that_cannot_be_read_or_a_value_given_twice_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "pw").write_text("x")
    env = {
        "TRYGG_MQTT_PASSWORD_FILE": str(tmp_path / "missing"),
        "TRYGG_INFLUX_PASSWORD": "y",
        "TRYGG_INFLUX_PASSWORD_FILE": str(tmp_path / "pw"),
    }
    with pytest.raises(SettingsError) as caught:
        settings_from(monkeypatch, env)
    assert sorted(caught.value.problems) == [
        "TRYGG_INFLUX_PASSWORD: set either TRYGG_INFLUX_PASSWORD or "
        "TRYGG_INFLUX_PASSWORD_FILE, not both",
        f"TRYGG_MQTT_PASSWORD_FILE: cannot read '{tmp_path / 'missing'}': No such file or directory",
    ]


def test_a_file_value_is_validated_like_any_other(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "port").write_text("eighty")
    with pytest.raises(SettingsError, match=r"^TRYGG_MQTT_PORT: .*integer"):
        settings_from(monkeypatch, {"TRYGG_MQTT_PORT_FILE": str(tmp_path / "port")})


def test_settings_built_in_code_ignore_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRYGG_MQTT_PORT", "1")
    monkeypatch.setenv("TRYGG_API_ANON_BURST", "1")
    assert HubSettings().mqtt_port == 1883
    assert HubSettings().api.anon_burst == ApiConfig().anon_burst == 60


def test_settings_are_frozen_and_refuse_unknown_fields() -> None:
    with pytest.raises(ValidationError, match="mqtt_prot"):
        HubSettings(mqtt_prot=1)  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="frozen"):
        HubSettings().mqtt_port = 1


def test_every_variable_is_described() -> None:
    assert [v for v, info in hub_variables().items() if not info.description] == []


def test_every_trygg_name_in_the_repository_has_an_owner() -> None:
    files = subprocess.run(
        ["git", "ls-files"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    # These two hold misspelt names on purpose, to see them refused.
    own = {"tests/unit/test_settings.py", "tests/trygg/test_cli.py"}
    names = set()
    for name in set(files) - own:
        path = PROJECT_ROOT / name
        if path.is_file() and path.suffix not in {".png", ".jpg", ".onnx", ".sqlite"}:
            names |= set(re.findall(r"TRYGG_[A-Z0-9_]+", path.read_text(errors="replace")))
    names = {n for n in names if not n.endswith("_")}  # a prefix, e.g. "TRYGG_API_*"
    assert len(names) > 40
    assert sorted(n for n in names if owner(n) is None) == []


def test_the_configuration_document_is_current() -> None:
    committed = (PROJECT_ROOT / "docs/configuration.md").read_text()
    assert committed == render(), "run: trygg hub-settings -o docs/configuration.md"
    for variable in hub_variables():
        assert f"| `{variable}` |" in committed
