"""Commands from the hub: decode, dispatch, answer with a result. Never raises on bad input.

Supported: ``rebirth`` (re-send the birth), ``set_interval`` (seconds, optional sensor),
``lamp_test`` (asset, seconds: switch a lamp on, read it back, release it later),
``reload_config`` (re-read the device file; a broken file changes nothing), and
``outbox_status``, ``ack_tamper`` (optional type, asset: acknowledge latched camera
alarms). Anything else, or a malformed command, gets ``ok=false`` with a reason.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from edge.drivers.base import Driver
from edge.outbox import Outbox
from trygg import contract as c
from trygg.clock import Clock, to_ms

log = logging.getLogger(__name__)

Handler = Callable[[c.Command], Awaitable[str]]


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


class Commands:
    def __init__(self, device: Device, *, device_id: str, clock: Clock, outbox: Outbox) -> None:
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

    async def _reload_config(self, _cmd: c.Command) -> str:
        return await self._device.reload_config()

    async def _outbox_status(self, _cmd: c.Command) -> str:
        s = self._outbox.stats()
        return (
            f"depth={s.depth} readings={s.readings} low={s.low} next={s.next_seq} "
            f"dropped={s.dropped}"
        )
