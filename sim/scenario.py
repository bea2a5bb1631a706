"""Scenario files: a city, an event calendar and faults injected at simulated times.

Pure: parsing, validation and target resolution import no I/O library beyond reading the
one YAML file. Resolution is deterministic: the same scenario and seed pick the same
assets, so a run can be repeated and two runs compared. A fault never lands on a pole
that already carries another fault, so each ticket has exactly one explanation.

Example::

    name: default
    seed: 7
    start: "2026-12-11T11:00:00Z"   # explicit UTC
    duration: 7h
    speed: 120                      # simulated seconds per real second
    city: {devices: 40}
    events:
      - {name: AIK-Hammarby, start: "2026-12-11T17:00:00Z", duration: 2h, attendance: 45000}
    faults:
      - {at: 15m, fault: lamp_dayburn, clear_after: 2h}
      - {at: 4h, fault: lamp_out, target: {near: solnavagen}}
      - {at: 2h, fault: broker_outage, clear_after: 5m}
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from sim.city import City, build_city
from sim.faults import FAULT_KINDS, FaultKind
from sim.world import ArenaEvent, World, utc
from trygg.sun import sun_elevation

_DURATION_RE = re.compile(r"^(?:\d+(?:\.\d+)?[smhd])+$")
_PART_RE = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class ScenarioError(ValueError):
    """A scenario that cannot run; the message names the file, the key and the line."""


def parse_duration(value: Any) -> float:
    """Seconds from ``90``, ``"90s"``, ``"30m"``, ``"2h"``, ``"1h45m"`` or ``"1.5d"``."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        text = str(value).replace(" ", "")
        if not _DURATION_RE.match(text):
            raise ValueError(f"not a duration: {value!r} (use e.g. 90s, 30m, 2h, 1h45m)")
        seconds = sum(float(n) * _UNIT_S[u] for n, u in _PART_RE.findall(text))
    if seconds < 0:
        raise ValueError("durations are not negative")
    return seconds


Seconds = Annotated[float, BeforeValidator(parse_duration)]
UtcTime = Annotated[datetime, BeforeValidator(lambda v: utc(v) if isinstance(v, str) else v)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TargetSpec(_Frozen):
    """Which asset a fault hits: an explicit id, or a seeded pick (optionally near a place)."""

    asset: str | None = None
    device: str | None = None
    cabinet: str | None = None
    near: str | None = Field(default=None, description="square or street slug")


class FaultSpec(_Frozen):
    at: Seconds = Field(description="offset from the scenario start")
    fault: str
    clear_after: Seconds | None = Field(default=None, gt=0)
    target: TargetSpec = TargetSpec()


class EventSpec(_Frozen):
    name: str
    start: UtcTime
    duration: Seconds = Field(gt=0)
    attendance: int = Field(ge=0, le=100_000)


class CitySpec(_Frozen):
    devices: int = Field(default=40, ge=1, le=100_000)


class ScenarioSpec(_Frozen):
    name: str
    description: str = ""
    seed: int = 0
    start: UtcTime
    duration: Seconds = Field(gt=0)
    speed: float = Field(default=60.0, gt=0, le=10_000)
    city: CitySpec = CitySpec()
    events: list[EventSpec] = Field(default_factory=list)
    faults: list[FaultSpec] = Field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Injection:
    """One resolved fault: what, where, when (simulated UTC)."""

    index: int
    fault: str
    target: str | None  # asset, cabinet or device id; None for infra faults
    assets: tuple[str, ...]
    devices: tuple[str, ...]
    at: datetime
    clear_at: datetime | None

    @property
    def kind(self) -> FaultKind:
        return FAULT_KINDS[self.fault]


@dataclass(frozen=True, slots=True)
class Scenario:
    spec: ScenarioSpec
    city: City
    world: World
    injections: tuple[Injection, ...]

    @property
    def start(self) -> datetime:
        return self.spec.start

    @property
    def end(self) -> datetime:
        return self.spec.start + timedelta(seconds=self.spec.duration)


def _line_of(text: str, loc: tuple[Any, ...]) -> int | None:
    try:
        node: Any = yaml.compose(text)
    except yaml.YAMLError:
        return None
    line = None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = [(k, v) for k, v in node.value if k.value == str(part)]
            if not match:
                return line
            line, node = match[0][0].start_mark.line + 1, match[0][1]
        elif (
            isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value)
        ):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def load(
    path: Path,
    *,
    devices: int | None = None,
    seed: int | None = None,
    speed: float | None = None,
) -> Scenario:
    """Read, validate and resolve a scenario file; overrides replace the file's values.

    Raises ScenarioError naming the file, key and line for anything that cannot run.
    """
    try:
        text = path.read_text()
        data = yaml.safe_load(text)
    except (OSError, yaml.YAMLError) as exc:
        raise ScenarioError(f"{path}: cannot read YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ScenarioError(f"{path}: top level must be a mapping")
    if devices is not None:
        data.setdefault("city", {})["devices"] = devices
    if seed is not None:
        data["seed"] = seed
    if speed is not None:
        data["speed"] = speed
    try:
        spec = ScenarioSpec.model_validate(data)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        loc = tuple(err["loc"])
        key = ".".join(str(p) for p in loc)
        line = _line_of(text, loc)
        raise ScenarioError(f"{path}:{line or '?'}: key '{key}': {err['msg']}") from exc
    try:
        return resolve(spec)
    except ScenarioError as exc:
        index = getattr(exc, "fault_index", None)
        line = _line_of(text, ("faults", index)) if index is not None else None
        raise ScenarioError(f"{path}:{line or '?'}: {exc}") from exc


def _fail(index: int, message: str) -> ScenarioError:
    err = ScenarioError(f"faults[{index}]: {message}")
    err.fault_index = index  # type: ignore[attr-defined]
    return err


def resolve(spec: ScenarioSpec) -> Scenario:
    """Build the city and world and pin every fault to its target and times."""
    city = build_city(spec.city.devices, seed=spec.seed)
    world = World(
        seed=spec.seed,
        events=tuple(
            ArenaEvent(e.name, e.start, e.start + timedelta(seconds=e.duration), e.attendance)
            for e in spec.events
        ),
    )
    rng = random.Random(f"{spec.seed}:faults")
    end = spec.start + timedelta(seconds=spec.duration)
    device_of = city.device_of()
    assets = {a.id: a for _d, a in city.assets()}
    devices = {d.id: d for d in city.devices}
    cabinets = city.cabinets()
    claimed: set[str] = set()
    out: list[Injection] = []
    for i, f in enumerate(spec.faults):
        kind = FAULT_KINDS.get(f.fault)
        if kind is None:
            raise _fail(i, f"unknown fault {f.fault!r}; known: {', '.join(FAULT_KINDS)}")
        at = spec.start + timedelta(seconds=f.at)
        clear_at = None if f.clear_after is None else at + timedelta(seconds=f.clear_after)
        if at >= end or (clear_at is not None and clear_at > end):
            raise _fail(i, "the fault (or its clear) falls after the scenario ends")
        if kind.target == "infra":
            if clear_at is None:
                raise _fail(i, f"{kind.name} needs clear_after (the service must come back)")
            out.append(Injection(i, kind.name, None, (), (), at, clear_at))
            continue
        t = f.target

        def free(ids: list[str]) -> bool:
            return not claimed & {device_of[a] for a in ids}

        if kind.target == "cabinet":
            options = sorted(c for c, lamps in cabinets.items() if _near(t.near, lamps, assets))
            chosen = _choose(
                i,
                t.cabinet,
                options=options,
                free=[o for o in options if free(cabinets[o])],
                rng=rng,
                what="cabinet",
            )
            hit = tuple(cabinets[chosen])
        elif kind.target == "device":
            options = sorted(
                d.id for d in city.devices if t.near in (None, d.site) and d.role != "camera_pole"
            )
            frees = [o for o in options if o not in claimed]
            chosen = _choose(i, t.device, options=options, free=frees, rng=rng, what="device")
            hit = tuple(a.id for a in devices[chosen].assets)
        else:
            want = {"lamp": "streetlight", "bin": "bin", "camera": "camera", "zone": "crowd"}[
                kind.target
            ]
            options = [
                a.id
                for _d, a in city.assets()
                if a.kind.value == want and _near(t.near, [a.id], assets)
            ]
            frees = [o for o in options if free([o])]
            chosen = _choose(i, t.asset, options=options, free=frees, rng=rng, what=kind.target)
            hit = (chosen,)
        devs = tuple(sorted({device_of[a] for a in hit}))
        if claimed & set(devs):
            raise _fail(i, f"{chosen} is on a pole that already carries another fault")
        claimed.update(devs)
        _check_light(i, kind, [assets[a] for a in hit], at, clear_at or end)
        out.append(Injection(i, kind.name, chosen, hit, devs, at, clear_at))
    return Scenario(spec=spec, city=city, world=world, injections=tuple(out))


def _near(place: str | None, asset_ids: list[str], assets: dict[str, Any]) -> bool:
    return place is None or all(assets[a].place == place for a in asset_ids)


def _choose(
    index: int,
    explicit: str | None,
    *,
    options: list[str],
    free: list[str],
    rng: random.Random,
    what: str,
) -> str:
    if explicit is not None:
        if explicit not in options:
            raise _fail(index, f"no {what} {explicit!r} in this city (check near/devices)")
        return explicit
    if not free:
        raise _fail(index, f"no free {what} left to fault (a bigger city? fewer faults?)")
    return rng.choice(free)


def _check_light(
    index: int, kind: FaultKind, hit: list[Any], at: datetime, until: datetime
) -> None:
    """Refuse a fault that cannot show: a lamp out only in daylight, day-burning only at night."""
    if kind.needs == "any":
        return
    a = hit[0]
    t = at
    while t <= until:
        dark = sun_elevation(a.lat, a.lon, t) < -6.0
        if dark == (kind.needs == "dark"):
            return
        t += timedelta(minutes=10)
    light = "dark" if kind.needs == "dark" else "daylight"
    raise _fail(index, f"{kind.name} on {a.id} is never in {light} between {at} and {until}")
