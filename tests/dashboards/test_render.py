"""Grafana's InfluxQL interpolation, as re-done by dashboards/render.py (pure, table-driven)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dashboards.render import ALL, RenderError, TimeRange, interpolate, regex_value

T0 = datetime(2026, 12, 15, 14, 0, tzinfo=UTC)
RANGE = TimeRange(T0, T0 + timedelta(hours=1))


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (("solna-centrum",), r"solna\-centrum"),
        (("a", "b"), "(a|b)"),
        (("pole.1", "pole+2"), r"(pole\.1|pole\+2)"),
        (ALL, ".*"),
    ],
)
def test_regex_value(values: tuple[str, ...], expected: str) -> None:
    assert regex_value(values) == expected


def test_macros_and_variables() -> None:
    q = 'SELECT mean("x") FROM "m" WHERE $timeFilter AND "site" =~ /^$site$/ GROUP BY time($__interval)'
    out = interpolate(q, time_range=RANGE, variables={"site": ("a", "b")})
    start = int(T0.timestamp() * 1000)
    assert out == (
        f'SELECT mean("x") FROM "m" WHERE time >= {start}ms and time <= {start + 3_600_000}ms '
        'AND "site" =~ /^(a|b)$/ GROUP BY time(36s)'
    )


def test_alias_patterns_are_left_alone() -> None:
    assert interpolate("$tag_asset $col $measurement", time_range=RANGE, variables={}) == (
        "$tag_asset $col $measurement"
    )


def test_braced_and_bracketed_forms() -> None:
    out = interpolate("${site} [[site]]", time_range=RANGE, variables={"site": ("x",)})
    assert out == "x x"


def test_unknown_variable_is_refused() -> None:
    with pytest.raises(RenderError, match=r"\$zone"):
        interpolate('"z" =~ /^$zone$/', time_range=RANGE, variables={})


def test_empty_selection_is_refused() -> None:
    with pytest.raises(RenderError, match="no value"):
        interpolate("$site", time_range=RANGE, variables={"site": ()})


def test_time_range_must_be_aware_and_ordered() -> None:
    with pytest.raises(ValueError, match="timezone"):
        TimeRange(datetime(2026, 1, 1), datetime(2026, 1, 2))  # noqa: DTZ001
    with pytest.raises(ValueError, match="after"):
        TimeRange(T0, T0)


def test_interval_has_a_floor_of_one_second() -> None:
    assert TimeRange(T0, T0 + timedelta(seconds=10)).interval() == "1s"
    assert TimeRange(T0, T0 + timedelta(days=1)).interval() == "864s"
