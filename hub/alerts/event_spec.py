"""An event as the API, the CLI and a YAML file give it: validated once, at the boundary.

Times without an offset are Stockholm wall-clock times (:func:`hub.alerts.schedule.local_time`);
a bad field gives a clear error naming it and nothing is stored.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from hub.alerts.schedule import Event, Phase, Tightening, local_time
from trygg.text import LINE_PATTERN

AssetId = Annotated[str, Field(pattern=r"^[A-Za-z0-9._:-]{1,64}$")]
# ISO 8601 parsing refuses control characters; the pattern says so in the OpenAPI document.
When = Annotated[datetime, Field(json_schema_extra={"pattern": LINE_PATTERN})]


class PhaseSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: Literal["ingress", "event", "egress"]
    start: When
    end: When
    thresholdFactor: float = Field(default=1.0, ge=0.1, le=1.0)  # noqa: N815
    durationFactor: float = Field(default=1.0, ge=0.1, le=1.0)  # noqa: N815


class EventSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f/]+$")
    place: str = Field(min_length=1, max_length=200, pattern=LINE_PATTERN)
    zones: list[AssetId] = Field(min_length=1, max_length=200)
    expectedAttendance: int = Field(ge=0, le=10_000_000)  # noqa: N815
    phases: list[PhaseSpec] = Field(min_length=1, max_length=3)

    @field_validator("zones")
    @classmethod
    def _unique(cls, zones: list[str]) -> list[str]:
        if len(set(zones)) != len(zones):
            raise ValueError("a zone is listed twice")
        return zones

    def to_event(self) -> Event:
        """The event in UTC; ValueError for a time a DST change skips or repeats, phases
        that overlap or end before they start."""
        return Event(
            name=self.name,
            place=self.place,
            zones=tuple(self.zones),
            expected_attendance=self.expectedAttendance,
            phases=tuple(
                Phase(
                    p.name,
                    local_time(p.start),
                    local_time(p.end),
                    Tightening(p.thresholdFactor, p.durationFactor),
                )
                for p in self.phases
            ),
        )


def parse_event(data: Any) -> Event:
    """An event from JSON/YAML data; ValueError with every problem named."""
    try:
        spec = EventSpec.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(x) for x in e['loc']) or 'event'}: {e['msg']}" for e in exc.errors()
        )
        raise ValueError(problems) from None
    return spec.to_event()


def event_json(ev: Event) -> dict[str, Any]:
    """The API's view of an event (times in UTC)."""
    return {
        "name": ev.name,
        "place": ev.place,
        "zones": list(ev.zones),
        "expectedAttendance": ev.expected_attendance,
        "phases": [
            {
                "name": p.name,
                "start": p.start.isoformat().replace("+00:00", "Z"),
                "end": p.end.isoformat().replace("+00:00", "Z"),
                "thresholdFactor": p.tightening.threshold_factor,
                "durationFactor": p.tightening.duration_factor,
            }
            for p in ev.phases
        ],
    }
