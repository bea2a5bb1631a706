"""What the rules receive from the ingest: a tagged union of frozen records. Pure.

The ingest converts what it stored into these once, at its boundary, so the rules engine
dispatches with one ``match`` on type and never asks which decoder produced a message.
Stored streams arrive as the contract mirror's own frozen structs; device liveness arrives
as the transitions of its one owner (:mod:`hub.device_state`), never as raw states.
"""

from __future__ import annotations

from dataclasses import dataclass

from hub.contract_mirror import Data, Events
from hub.device_state import DeviceStatus
from trygg import contract as c


@dataclass(frozen=True, slots=True)
class Born:
    """A stored birth: the device's assets and their thresholds."""

    birth: c.Birth


@dataclass(frozen=True, slots=True)
class Liveness:
    """The liveness owner declared a device online or offline."""

    status: DeviceStatus


@dataclass(frozen=True, slots=True)
class LinkChanged:
    """The hub's own broker link went down or came back: silence is no evidence meanwhile."""

    up: bool


@dataclass(frozen=True, slots=True)
class FleetSilent:
    """The liveness owner found most of the fleet silent at once and restarted its clock."""

    at_ms: int


RuleInput = Born | Data | Events | Liveness | LinkChanged | FleetSilent
