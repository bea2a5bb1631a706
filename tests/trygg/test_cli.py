"""``trygg``: the core finds each area's commands through entry points, and ``trygg hub``
refuses to start on bad settings before it touches anything."""

from __future__ import annotations

import re

import pytest

from trygg.cli import area_commands, build_parser, extra_requirements, main

REQUIRES = [
    "pydantic<3,>=2.7",
    'paho-mqtt<3,>=2.1; extra == "edge"',
    'numpy>=1.26; extra == "edge"',
    'fastapi>=0.110; extra == "hub"',
    "psycopg[binary]>=3.1; extra == 'hub'",
    'trygg[edge,hub]; extra == "dev"',
]


@pytest.mark.parametrize(
    ("extra", "names"),
    [
        ("edge", ["paho-mqtt", "numpy"]),
        ("hub", ["fastapi", "psycopg"]),
        ("dev", ["trygg"]),
        ("docs", []),
    ],
)
def test_the_distributions_an_extra_adds(extra: str, names: list[str]) -> None:
    assert extra_requirements(REQUIRES, extra) == names


def test_each_area_adds_its_own_commands() -> None:
    assert {ep.name for ep in area_commands()} == {"dashboards", "edge", "hub", "sim"}
    (listed,) = re.findall(r"\{([a-z,-]+)\}", build_parser().format_usage())
    assert {"contract", "stack", "hub", "hub-settings", "edge", "vision", "sim"} <= set(
        listed.split(",")
    )


def test_an_area_whose_extra_is_missing_offers_no_commands() -> None:
    without_hub = area_commands(installed=lambda name: name != "fastapi")
    assert {ep.name for ep in without_hub} == {"dashboards", "edge"}
    without_edge = area_commands(installed=lambda name: name != "onnxruntime")
    assert {ep.name for ep in without_edge} == {"dashboards", "hub"}


def test_the_hub_refuses_bad_settings_by_name(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TRYGG_MQTT_HOTS", "broker")
    monkeypatch.setenv("TRYGG_API_PORT", "http")
    assert main(["hub"]) == 2
    err = capsys.readouterr().err
    assert "TRYGG_MQTT_HOTS: unknown variable; did you mean TRYGG_MQTT_HOST?" in err
    assert "TRYGG_API_PORT: Input should be a valid integer" in err
