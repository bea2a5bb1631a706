"""Commands from the hub: decode, dispatch, answer with a result. Never raises on bad input.

Supported: ``rebirth`` (re-send the birth), ``set_interval`` (seconds, optional sensor),
``lamp_test`` (asset, seconds: switch a lamp on, read it back, release it later),
``reload_config`` (re-read the device file; a broken file changes nothing),
``outbox_status``, ``install_release`` (release: download, verify, install beside the
running one and switch; progress comes as release reports, see edge.updater), ``ack_tamper`` (optional type, asset: acknowledge latched camera
alarms), and ``set_crowd_interval`` (seconds, optional duration_s, or restore: report
crowd figures this often during an event, back to the configured intervals after the
duration or on ``restore``). Anything else, or a malformed command, gets ``ok=false``
with a reason.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, Final, Protocol, runtime_checkable

from edge.drivers.base import Driver
from edge.outbox import Outbox
from trygg import contract as c
from trygg.clock import Clock, to_ms

log = logging.getLogger(__name__)

Handler = Callable[[c.Command], Awaitable[str]]

# Crowd reporting during an event: no faster than a camera pipeline can close an interval,
# no slower than the hour a sampler's silence allows, for at most a day unless renewed.
CROWD_INTERVAL_MIN_S: Final = 0.2
CROWD_INTERVAL_MAX_S: Final = 3600.0
CROWD_DURATION_DEFAULT_S: Final = 6 * 3600.0
CROWD_DURATION_MAX_S: Final = 86_400.0


class CommandError(ValueError):
    """A well-formed command that can't be carried out; its text goes into the result."""


@runtime_checkable
class TamperLatch(Protocol):
    """A camera whose tamper alarms (covered, displaced, blurred) latch until acknowledged."""

    @property
    def asset(self) -> str: ...

    def acknowledge(self, event_type: str | None, *, now: datetime) -> list[c.EventItem]: ...


class Device(Protocol):
    """What the commands act on: the device's sensors, cameras and configuration."""

    @property
    def drivers(self) -> Sequence[Driver]: ...

    def tamper_latches(self) -> list[TamperLatch]: ...

    async def emit_events(self, events: list[c.EventItem]) -> None: ...

    def reschedule(self) -> None: ...

    async def lamp_test(self, switches: list[Any], seconds: float) -> list[str]: ...

    async def reload_config(self) -> str: ...

    def set_crowd_interval(self, seconds: float | None, *, until: datetime | None) -> int: ...


class ReleaseRequests(Protocol):
    def request(self, cmd: c.Command) -> str: ...


class Commands:
    def __init__(
        self,
        device: Device,
        *,
        device_id: str,
        clock: Clock,
        outbox: Outbox,
        releases: ReleaseRequests | None = None,
    ) -> None:
        self.releases = releases
        self._device = device
        self._device_id = device_id
        self._clock = clock
        self._outbox = outbox
        self._handlers: dict[str, Handler] = {
            "rebirth": self._rebirth,
            "set_interval": self._set_interval,
            "lamp_test": self._lamp_test,
            "reload_config": self._reload_config,
            "outbox_status": self._outbox_status,
            "ack_tamper": self._ack_tamper,
            "set_crowd_interval": self._set_crowd_interval,
            "install_release": self._install_release,
        }

    async def handle(self, payload: bytes) -> tuple[c.CommandResult, bool]:
        """The result to publish, and whether a birth must follow (rebirth, reload)."""
        now = to_ms(self._clock.now())
        device = self._device_id
        try:
            cmd: c.Command = c.decode(c.Kind.CMD, payload)
        except c.ContractError as exc:
            return c.CommandResult(
                device=device, id="invalid", ok=False, message=str(exc)[:500], ts=now
            ), False
        handler = self._handlers.get(cmd.name)
        if handler is None:
            ok, text = False, f"command {cmd.name!r} not supported by this device"
        else:
            try:
                ok, text = True, await handler(cmd)
            except (CommandError, ValueError, KeyError, TypeError) as exc:
                ok, text = False, f"{type(exc).__name__}: {exc}"
        log.info("%s: command %s %s: %s", device, cmd.id, cmd.name, text)
        result = c.CommandResult(device=device, id=cmd.id, ok=ok, message=text[:500], ts=now)
        return result, ok and cmd.name in ("rebirth", "reload_config")

    async def _ack_tamper(self, cmd: c.Command) -> str:
        """The hub acknowledged a camera alarm: latched events whose condition has gone
        clear (and are reported as inactive); one still showing clears when it goes."""
        kind = cmd.args.get("type")
        if kind is not None and not isinstance(kind, str):
            raise CommandError("args.type must be an event type")
        cameras = [
            cam
            for cam in self._device.tamper_latches()
            if cmd.args.get("asset") in (None, cam.asset)
        ]
        if not cameras:
            raise CommandError("no such camera on this device")
        cleared = []
        for cam in cameras:
            cleared += cam.acknowledge(kind, now=self._clock.now())
        await self._device.emit_events(cleared)
        return f"acknowledged on {len(cameras)} camera(s), {len(cleared)} event(s) cleared"

    async def _rebirth(self, _cmd: c.Command) -> str:
        return "birth re-sent"

    async def _set_interval(self, cmd: c.Command) -> str:
        raw = cmd.args.get("seconds")
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            raise CommandError("args.seconds must be a number")
        seconds = float(raw)
        if not 0.1 <= seconds <= 86_400:
            raise CommandError("seconds must be within 0.1..86400")
        sensor = cmd.args.get("sensor")
        asset = cmd.args.get("asset")
        changed = 0
        for driver in self._device.drivers:
            if sensor in (None, driver.sensor) and asset in (None, driver.asset):
                driver.interval_s = seconds
                changed += 1
        if not changed:
            raise CommandError(f"no sensor {sensor!r} on asset {asset!r}")
        self._device.reschedule()
        return f"interval {seconds}s on {changed} sensor(s)"

    async def _set_crowd_interval(self, cmd: c.Command) -> str:
        seconds, duration = crowd_interval_args(cmd.args)
        if seconds is None:
            changed = self._device.set_crowd_interval(None, until=None)
            if not changed:
                raise CommandError("no crowd sensor on this device")
            return f"crowd interval restored on {changed} sensor(s)"
        until = self._clock.now() + timedelta(seconds=duration)
        changed = self._device.set_crowd_interval(seconds, until=until)
        if not changed:
            raise CommandError("no crowd sensor on this device")
        return f"crowd interval {seconds:g}s on {changed} sensor(s) for {duration:g}s"

    async def _lamp_test(self, cmd: c.Command) -> str:
        asset = cmd.args.get("asset")
        raw = cmd.args.get("seconds", 30)
        if isinstance(raw, bool) or not isinstance(raw, int | float) or not 1 <= raw <= 3600:
            raise CommandError("args.seconds must be a number within 1..3600")
        switches = [
            d
            for d in self._device.drivers
            if callable(getattr(d, "switch", None)) and asset in (None, d.asset)
        ]
        if not switches:
            raise CommandError(f"no switchable lamp {asset!r} on this device")
        seen = await self._device.lamp_test(switches, float(raw))
        return f"lamp test for {float(raw):.0f}s: " + ", ".join(seen)

    async def _install_release(self, cmd: c.Command) -> str:
        if self.releases is None:
            raise CommandError("this device is not configured for releases (no release:)")
        return self.releases.request(cmd)

    async def _reload_config(self, _cmd: c.Command) -> str:
        return await self._device.reload_config()

    async def _outbox_status(self, _cmd: c.Command) -> str:
        s = self._outbox.stats()
        return (
            f"depth={s.depth} readings={s.readings} low={s.low} next={s.next_seq} "
            f"dropped={s.dropped}"
        )


def _number(args: dict[str, Any], key: str) -> float | None:
    raw = args.get(key)
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise CommandError(f"args.{key} must be a number")
    return float(raw)


def crowd_interval_args(args: dict[str, Any]) -> tuple[float | None, float]:
    """``(seconds, duration_s)`` of a ``set_crowd_interval``; seconds None means restore.

    Raises CommandError for a missing or out-of-range number, or a restore with a number.
    """
    restore = args.get("restore", False)
    if not isinstance(restore, bool):
        raise CommandError("args.restore must be true or false")
    seconds = _number(args, "seconds")
    duration = _number(args, "duration_s")
    if restore:
        if seconds is not None or duration is not None:
            raise CommandError("restore takes no seconds or duration_s")
        return None, 0.0
    if seconds is None:
        raise CommandError("args.seconds is required (or restore: true)")
    if not CROWD_INTERVAL_MIN_S <= seconds <= CROWD_INTERVAL_MAX_S:
        raise CommandError(
            f"seconds must be within {CROWD_INTERVAL_MIN_S:g}..{CROWD_INTERVAL_MAX_S:g}"
        )
    if duration is None:
        duration = CROWD_DURATION_DEFAULT_S
    if not 1.0 <= duration <= CROWD_DURATION_MAX_S:
        raise CommandError(f"duration_s must be within 1..{CROWD_DURATION_MAX_S:g}")
    return seconds, duration
