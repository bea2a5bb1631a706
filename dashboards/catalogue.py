"""Every Trygg dashboard, rendered to the JSON that is committed and provisioned. Pure."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Final

from dashboards.boards_assets import cameras, crowds, streetlights, waste_bins
from dashboards.boards_city import city_overview, fleet_health
from dashboards.boards_followup import followup
from dashboards.model import Dashboard

BUILDERS: Final[tuple[Callable[[], Dashboard], ...]] = (
    city_overview,
    streetlights,
    waste_bins,
    cameras,
    crowds,
    fleet_health,
    followup,
)


def dashboards() -> list[Dashboard]:
    """All dashboards, built fresh; ValueError if a builder names an unknown field."""
    built = [b() for b in BUILDERS]
    uids = [d.uid for d in built]
    if len(set(uids)) != len(uids):
        raise ValueError(f"duplicate dashboard uid in {uids}")
    return built


def render(dashboard: Dashboard) -> str:
    """Deterministic JSON text (sorted keys, two-space indent, final newline)."""
    return json.dumps(dashboard.to_json(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def file_name(dashboard: Dashboard) -> str:
    return f"{dashboard.uid}.json"


def rendered() -> dict[str, str]:
    """File name -> JSON text for every dashboard."""
    return {file_name(d): render(d) for d in dashboards()}
