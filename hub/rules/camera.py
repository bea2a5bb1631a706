"""Camera health and graffiti: edge events become alarms. Pure.

The edge already judges each camera against its own baseline and debounces (vision
health), so the hub maps an event with ``active=true`` to raising the alarm of the same
name and ``active=false`` to clearing it. Two policies follow what operators of tamper
detection ask for: "too dark"/"overexposed" are optional per camera (a covered lens looks
like lights off at night), and tamper alarms are *latched on the pole*: the edge keeps a
covered, blurred or displaced event active until the hub acknowledges it (``ack_tamper``)
and the condition has gone, so an inactive event already means someone looked.

=================  ==========================  ======================================
alarm              set                         clear
=================  ==========================  ======================================
cameraCovered      event active                event inactive
cameraBlurred      event active                event inactive
cameraFrozen       event active                event inactive
cameraDisplaced    event active                event inactive (after ack on the pole)
cameraDark,        event active, if the        event inactive
cameraOverexposed  camera's ``exposureAlarms``
graffiti           event with ``graffitiArea`` event inactive (wall clean again)
                   >= ``graffiti_min_area_m2``
=================  ==========================  ======================================
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from hub.rules.actions import Action, Clear, Raise, Severity
from hub.rules.params import bounded

GRAFFITI: Final = "graffiti"
HEALTH: Final[dict[str, Severity]] = {
    "cameraCovered": "major",
    "cameraDisplaced": "major",
    "cameraFrozen": "major",
    "cameraBlurred": "minor",
    "cameraDark": "warning",
    "cameraOverexposed": "warning",
}
OPTIONAL: Final = frozenset({"cameraDark", "cameraOverexposed"})


@dataclass(frozen=True, slots=True)
class CameraParams:
    exposure_alarms: bool = False
    graffiti_min_area_m2: float = bounded(0.1)


def camera_event(
    *,
    asset: str,
    event_type: str,
    active: bool,
    values: Mapping[str, float],
    p: CameraParams,
) -> list[Action]:
    """The actions for one camera event; unknown event types give none."""
    details: dict[str, float | int | str | bool] = {k: float(v) for k, v in values.items()}
    if event_type == GRAFFITI:
        if not active:
            return [Clear(asset, GRAFFITI)]
        area = float(values.get("graffitiArea", 0.0))
        if area < p.graffiti_min_area_m2:
            return []
        return [Raise(asset, GRAFFITI, "minor", details)]
    severity = HEALTH.get(event_type)
    if severity is None or (event_type in OPTIONAL and not p.exposure_alarms):
        return []
    if active:
        return [Raise(asset, event_type, severity, details)]
    return [Clear(asset, event_type)]
