"""The edge agent: drivers -> sampler -> durable outbox -> MQTT, and commands back.

One agent is one task group of two tasks: sampling (this module) and the link
(:mod:`edge.link`). It keeps no thread of its own: simulated drivers are read inline and
real ones (``blocking = True``) through ``asyncio.to_thread``, and outbox calls through
:meth:`Agent.io` (a thread on a Pi, inline in a simulator), so a simulator can run
thousands of agents in one process. A failing sensor becomes a ``sensorFault`` event and a
missing reading, never a crash; safety conditions (:mod:`edge.safety`) are enqueued at
once rather than with the next batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final, ParamSpec, TypeVar

from edge import messages
from edge.commands import CROWD_INTERVAL_MIN_S, CommandError, Commands, TamperLatch
from edge.config import DeviceConfig, load_running_config
from edge.drivers.base import Driver, DriverError, Sample, SimFaults
from edge.link import Link
from edge.outbox import Outbox
from edge.release_fetch import Tls
from edge.renewer import renewer_for
from edge.safety import FireLimits, SafetyWatch
from edge.sampler import Policy, Sampler
from edge.stats import AgentStats
from edge.updater import Releases, check_release_model
from edge.vision.camera import CameraConfig, CameraLoop
from edge.vision.detector import YoloxOnnxConfig
from edge.vision.manifest import DEFAULT_MANIFEST, load_manifest
from trygg import contract as c
from trygg.aio import wait_event
from trygg.clock import Clock, to_ms
from trygg.release import ReleaseError, load_public_keys

log = logging.getLogger(__name__)

# The sample loop wakes at least this often (wall seconds): the systemd keep-alive is due
# within WatchdogSec/2 = 15 s, and the simulator's offline fault is noticed this fast.
MAX_SLEEP_S: Final = 5.0
_P = ParamSpec("_P")
_T = TypeVar("_T")
READ_TIMEOUT_S: Final = 10.0  # a blocking read longer than this is a stuck bus or sensor
# The exit status that asks the supervisor to start the agent again (from ``current``).
RESTART_EXIT: Final = 75


class Agent:
    """One device. ``run(stop)`` returns after ``stop`` is set and the outbox is flushed.

    ``clock_synced`` reports whether the wall clock is NTP-synchronised (default: always,
    which is right for injected clocks); ``watchdog`` is called from the main loop at least
    every ``MAX_SLEEP_S`` (systemd keep-alive); ``faults`` lets a simulator take the device offline;
    ``config_path`` and ``driver_factory`` make ``reload_config`` possible.
    """

    def __init__(
        self,
        *,
        config: DeviceConfig,
        clock: Clock,
        drivers: Sequence[Driver],
        state_dir: Path | None = None,
        password: str | None = None,
        faults: SimFaults | None = None,
        clock_synced: Callable[[], bool] | None = None,
        watchdog: Callable[[], None] | None = None,
        config_path: Path | None = None,
        driver_factory: Callable[[DeviceConfig], list[Driver]] | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.drivers = list(drivers)
        self.state_dir = state_dir or config.state_dir
        self.outbox = Outbox(
            self.state_dir / "outbox.sqlite",
            capacity=config.outbox_capacity(),
            synchronous=config.outbox.synchronous,
        )
        self.boot = 0
        self.stats = AgentStats()
        self.faults = faults
        self.exit_code = 0
        self._stop: asyncio.Event | None = None
        self.releases = (
            Releases(
                config=config.release,
                device_id=config.id,
                tls=self._release_tls,
                restart=self.request_restart,
            )
            if config.release is not None
            else None
        )
        self.commands = Commands(
            self, device_id=config.id, clock=clock, outbox=self.outbox, releases=self.releases
        )
        self.link = Link(
            self,
            outbox=self.outbox,
            commands=self.commands,
            stats=self.stats,
            password=password,
            renewer=renewer_for(config, clock=clock, state_dir=self.state_dir),
            reports=self.releases,
        )
        self._clock_synced = clock_synced or (lambda: True)
        self._watchdog = watchdog or (lambda: None)
        self._config_path = config_path
        self._driver_factory = driver_factory
        self._sampler = Sampler()
        self._safety = SafetyWatch()
        self._apply_policies()
        self._buffer: list[c.Reading] = []
        self._opened: set[int] = set()
        self._due: dict[int, datetime] = {}
        self._releases: dict[str, tuple[datetime, Any]] = {}
        self._synced_at: datetime | None = None
        self._hung: dict[int, asyncio.Future[Sample]] = {}
        # since start: drivers that answered (a sample, or a hardware fault the sensor had
        # before any release), and drivers whose code raised something unexpected
        self._answered: set[int] = set()
        self._broken: dict[int, str] = {}
        self.camera_errors: dict[str, str] = {}  # camera asset -> why its vision is not loaded
        self.read_timeout_s = READ_TIMEOUT_S
        self._synced_last = True
        # set_crowd_interval: each crowd driver's configured interval while it is overridden
        self._crowd_saved: dict[int, float] = {}
        self._crowd_s: float | None = None
        self._crowd_until: datetime | None = None
        # wakes the sample loop early: a command changed what is due, or ``stop`` was set
        self._wake = asyncio.Event()
        self.flushed = asyncio.Event()  # set after the final flush on stop (link drains then)
        # Cameras are built in run() from config.cameras (OpenCV and ONNX load only then);
        # a test or the simulator may append its own CameraLoop before run().
        self.cameras: list[CameraLoop] = []

    @property
    def offline(self) -> bool:
        """The simulator's ``offline`` fault on this device id."""
        return self.faults is not None and self.faults.has(self.config.id, "offline")

    def _apply_policies(self) -> None:
        heartbeat = self.config.heartbeat_s
        for asset in self.config.assets:
            for s in asset.sensors:
                self._sampler.set_policy(
                    asset.id,
                    s.id,
                    Policy(
                        window=s.window,
                        aggregate=s.aggregate,
                        deadband=s.deadband,
                        # the hub tells "steady" from "silent" by the heartbeat
                        max_silence_s=min(s.max_silence_s, heartbeat / 2),
                    ),
                )
                fire = getattr(s, "fire_c", None)
                if fire is not None:
                    limits = FireLimits(fire, getattr(s, "jump_c", 10.0), s.jump_window_s)  # type: ignore[union-attr]
                    self._safety.set_limits(asset.id, s.id, limits)

    # ---- messages --------------------------------------------------------------------
    def birth_message(self) -> bytes:
        """Retained birth: who this device is, its assets, and its outbox floor."""
        low = self.outbox.stats().low
        release = self.releases.running if self.releases is not None else None
        return messages.birth(
            self.config, boot=self.boot, now=self.clock.now(), low=low, release=release
        )

    def state_message(self, *, online: bool) -> bytes:
        """Retained state; with ``online=False`` it is the Last Will, carrying this boot."""
        return messages.state(self.config, boot=self.boot, now=self.clock.now(), online=online)

    @property
    def _historical(self) -> bool:
        return not self.link.live

    def tamper_latches(self) -> list[TamperLatch]:
        """Cameras whose tamper alarms latch until the hub's ``ack_tamper``: the agent's
        camera loops and any driver that is one (a simulator's cameras)."""
        return [*self.cameras, *(d for d in self.drivers if isinstance(d, TamperLatch))]

    async def io(self, fn: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
        """Run a blocking outbox call as the config says: in a worker thread, or inline."""
        if self.config.outbox.io == "inline":
            return fn(*args, **kwargs)
        return await asyncio.to_thread(fn, *args, **kwargs)

    # ---- enqueueing ------------------------------------------------------------------
    async def flush(self) -> None:
        """Move buffered readings into the outbox as data messages."""
        if not self._buffer:
            return
        size = self.config.outbox.batch_readings
        chunks = [self._buffer[i : i + size] for i in range(0, len(self._buffer), size)]
        self._buffer = []
        historical = self._historical

        def builder(chunk: list[c.Reading]) -> Callable[[int], bytes]:
            return lambda seq: c.encode(
                c.Data(
                    device=self.config.id,
                    site=self.config.site,
                    boot=self.boot,
                    seq=seq,
                    historical=historical,
                    readings=chunk,
                )
            )

        items = [(c.Kind.DATA.value, builder(chunk)) for chunk in chunks]
        await self.io(
            self.outbox.append_many,
            items,
            created_ms=to_ms(self.clock.now()),
            counts=[len(chunk) for chunk in chunks],
        )
        self.stats.messages += len(items)
        self.link.wake()

    async def add_readings(self, readings: list[c.Reading]) -> None:
        """Readings from outside the sampling loop (cameras) join the next batch."""
        self._buffer.extend(readings)
        self.stats.readings += len(readings)

    async def emit_events(self, events: list[c.EventItem]) -> None:
        """Enqueue events at once (safety conditions do not wait for a batch)."""
        if not events:
            return
        historical = self._historical

        def build(seq: int) -> bytes:
            return c.encode(
                c.Events(
                    device=self.config.id,
                    site=self.config.site,
                    boot=self.boot,
                    seq=seq,
                    historical=historical,
                    events=events,
                )
            )

        await self.io(
            self.outbox.append, c.Kind.EVENT.value, build, created_ms=to_ms(self.clock.now())
        )
        self.stats.messages += 1
        self.stats.events += len(events)
        self.link.wake()

    async def device_event(self, what: str, *, severity: Any = "warning", **values: float) -> None:
        """An event about the device itself (publish refused, outbox overflow)."""
        await self.emit_events(
            [
                c.EventItem(
                    asset=self.config.id,
                    kind=c.AssetKind.DEVICE,
                    type=what,
                    t=to_ms(self.clock.now()),
                    severity=severity,
                    values=values,
                )
            ]
        )

    # ---- sampling --------------------------------------------------------------------
    def reschedule(self) -> None:
        """Sample every sensor now (after an interval change or a reload)."""
        now = self.clock.now()
        self._due = {id(d): now for d in self.drivers}
        self._wake.set()

    async def _wake_on(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self._wake.set()

    # ---- crowd reporting (called by edge.commands) -----------------------------------
    def set_crowd_interval(self, seconds: float | None, *, until: datetime | None) -> int:
        """Sample every crowd zone (drivers and the cameras' crowd counters) every
        ``seconds`` and flush at least as often, until ``until``; ``None`` restores the
        configured intervals at once. Returns how many crowd sensors the device has."""
        drivers = [d for d in self.drivers if d.kind == c.AssetKind.CROWD]
        counters = [cam.crowd for cam in self.cameras if cam.crowd is not None]
        if seconds is None or until is None:
            self._restore_crowd()
            return len(drivers) + len(counters)
        # the floor is in wall seconds: a simulator's fast clock must not sample thousands
        # of zones every few wall milliseconds
        seconds = max(seconds, CROWD_INTERVAL_MIN_S * self.clock.scale())
        for driver in drivers:
            self._crowd_saved.setdefault(id(driver), driver.interval_s)
            driver.interval_s = seconds
            self._due[id(driver)] = self.clock.now()
        self._wake.set()
        for counter in counters:
            counter.interval_s = seconds
        self._crowd_s, self._crowd_until = seconds, until
        log.info("%s: crowd interval %gs until %s", self.config.id, seconds, until)
        return len(drivers) + len(counters)

    def _restore_crowd(self) -> None:
        for driver in self.drivers:
            saved = self._crowd_saved.get(id(driver))
            if saved is not None:
                driver.interval_s = saved
        for cam in self.cameras:
            if cam.crowd is not None:
                cam.crowd.interval_s = cam.crowd.configured_interval_s
        if self._crowd_s is not None:
            log.info("%s: crowd interval restored", self.config.id)
        self._crowd_saved.clear()
        self._crowd_s = self._crowd_until = None

    @property
    def crowd_interval_s(self) -> float | None:
        """The interval set by ``set_crowd_interval`` while it lasts, else None."""
        return self._crowd_s

    def _flush_s(self) -> float:
        """Seconds between flushes: the configured ones, or the crowd interval while the
        hub wants crowd figures faster (a reading waiting for a batch is not reported)."""
        if self._crowd_s is None:
            return self.config.outbox.flush_s
        return min(self.config.outbox.flush_s, self._crowd_s)

    async def _sample_loop(self, stop: asyncio.Event) -> None:
        self.reschedule()
        last_flush = self.clock.now()
        while not stop.is_set():
            self._watchdog()
            now = self.clock.now()
            if self._crowd_until is not None and now >= self._crowd_until:
                self._restore_crowd()
            if not self.offline:
                synced = (
                    self._clock_synced() if any(due <= now for due in self._due.values()) else True
                )
                for driver in list(self.drivers):
                    if self._due.get(id(driver), now) <= now:
                        await self._sample(driver, now, synced=synced)
                        self._due[id(driver)] = now + timedelta(seconds=driver.interval_s)
                await self._release_lamps(now)
            elif self.link.connected:
                self.link.cut()
            flush_s = self._flush_s()
            if (now - last_flush).total_seconds() >= flush_s or len(
                self._buffer
            ) >= self.config.outbox.batch_readings:
                await self.flush()
                last_flush = now
            next_due = min([*self._due.values(), last_flush + timedelta(seconds=flush_s)])
            if self._crowd_until is not None:
                next_due = min(next_due, self._crowd_until)
            wait = (next_due - self.clock.now()).total_seconds() / self.clock.scale()
            await wait_event(self._wake, min(max(wait, 0.001), MAX_SLEEP_S))
            if not stop.is_set():
                self._wake.clear()
        try:
            await self.flush()
        finally:
            self.flushed.set()

    def _synced(self, now: datetime) -> bool:
        """The clock-sync probe, asked at most every 10 s (it is a system call)."""
        if self._synced_at is None or abs((now - self._synced_at).total_seconds()) >= 10:
            self._synced_at, self._synced_last = now, self._clock_synced()
        return self._synced_last

    async def _read(self, driver: Driver, when: datetime) -> Sample:
        """Open if needed, then read; blocking (real) drivers off the event loop."""
        blocking = bool(getattr(driver, "blocking", False))
        if id(driver) not in self._opened:
            await (asyncio.to_thread(driver.open) if blocking else _call(driver.open))
            self._opened.add(id(driver))
        if not blocking:
            return driver.read(when)
        hung = self._hung.get(id(driver))
        if hung is not None:
            if not hung.done():
                raise DriverError("previous read still hanging (bus stuck?)")
            del self._hung[id(driver)]
            with contextlib.suppress(Exception):
                hung.result()  # collected; its outcome was already reported as a timeout
        read = asyncio.ensure_future(asyncio.to_thread(driver.read, when))
        try:
            return await asyncio.wait_for(asyncio.shield(read), timeout=self.read_timeout_s)
        except TimeoutError:
            # A thread can't be killed: leave it, skip this sensor until it returns, and
            # keep the loop (and the watchdog keep-alive) going.
            self._hung[id(driver)] = read
            raise DriverError(f"read timed out after {self.read_timeout_s:.0f}s") from None

    async def _sample(self, driver: Driver, when: datetime, *, synced: bool = True) -> None:
        try:
            sample = await self._read(driver, when)
        except (DriverError, OSError, ValueError) as exc:
            self._answered.add(id(driver))
            await self._failed(driver, when, synced, exc)
            return
        except Exception as exc:  # noqa: BLE001  a driver bug must not stop the pole
            log.warning("%s/%s: unexpected %s", driver.asset, driver.sensor, type(exc).__name__)
            self._broken[id(driver)] = type(exc).__name__
            await self._failed(driver, when, synced, exc)
            return
        self._answered.add(id(driver))
        self._broken.pop(id(driver), None)
        if driver.kind == c.AssetKind.DEVICE:
            stats = await self.io(self.outbox.stats)
            sample = Sample(
                {**sample.values, "outboxDepth": stats.depth, "droppedReadings": stats.dropped},
                sample.quality,
            )
        common = {"asset": driver.asset, "kind": driver.kind, "sensor": driver.sensor}
        events = self._safety.sample(**common, sample=sample, now=when, clock_synced=synced)  # type: ignore[arg-type]
        readings = self._sampler.readings(**common, sample=sample, now=when, clock_synced=synced)  # type: ignore[arg-type]
        self._buffer.extend(readings)
        self.stats.readings += len(readings)
        await self.emit_events(events)

    async def _failed(self, driver: Driver, when: datetime, synced: bool, exc: Exception) -> None:
        self.stats.driver_errors += 1
        log.warning("%s/%s: read failed: %s", driver.asset, driver.sensor, exc)
        events = self._safety.failed(
            asset=driver.asset,
            kind=driver.kind,
            sensor=driver.sensor,
            now=when,
            clock_synced=synced,
        )
        await self.emit_events(events)

    # ---- lamp test and reload (called by edge.commands) ------------------------------
    async def lamp_test(self, switches: list[Any], seconds: float) -> list[str]:
        """Switch lamps on, read them back at once, release them after ``seconds``."""
        now = self.clock.now()
        seen = []
        for sw in switches:
            await (asyncio.to_thread(sw.switch, True) if sw.blocking else _call(sw.switch, True))
            self._releases[sw.asset] = (now + timedelta(seconds=seconds), sw)
            for driver in self.drivers:
                if driver.asset == sw.asset:
                    try:
                        sample = await self._read(driver, now)
                    except DriverError as exc:
                        seen.append(f"{driver.asset}/{driver.sensor} unreadable ({exc})")
                        continue
                    shown = ",".join(f"{k}={v}" for k, v in sample.values.items())
                    seen.append(f"{driver.asset}/{driver.sensor} {shown}")
        return seen

    async def _release_lamps(self, now: datetime) -> None:
        for asset, (until, sw) in list(self._releases.items()):
            if until <= now:
                del self._releases[asset]
                try:
                    await (
                        asyncio.to_thread(sw.switch, None)
                        if getattr(sw, "blocking", False)
                        else _call(sw.switch, None)
                    )
                except (DriverError, ValueError, OSError) as exc:
                    log.warning("%s: lamp test release failed: %s", asset, exc)

    async def reload_config(self) -> str:
        """Re-read the device file; a broken or foreign file changes nothing."""
        if self._config_path is None or self._driver_factory is None:
            raise CommandError("this agent was not started from a config file")
        try:
            new = await asyncio.to_thread(load_running_config, self._config_path)
        except ValueError as exc:
            raise CommandError(f"config not reloaded: {exc}") from exc
        if new.id != self.config.id:
            raise CommandError(f"config is for {new.id!r}, not {self.config.id!r}")
        drivers = self._driver_factory(new)
        for driver in self.drivers:
            if id(driver) in self._opened:
                with contextlib.suppress(DriverError, OSError):
                    await asyncio.to_thread(driver.close)
        self._opened.clear()
        self._restore_crowd()  # the new drivers start at their configured intervals
        self.config, self.drivers = new, drivers
        self._apply_policies()
        self.reschedule()
        return f"reloaded: {len(drivers)} sensor(s); broker changes apply on reconnect"

    # ---- releases (edge.updater) -----------------------------------------------------
    def _release_tls(self) -> Tls:
        """The pole's client certificate (renewed ones included) and the fleet CA, unless
        the release section names others."""
        release, mqtt = self.config.release, self.link.settings()
        assert release is not None  # only asked for when releases are configured
        ca = release.ca_file or mqtt.ca_file
        if ca is None:
            raise ReleaseError("release.ca_file (or broker.ca_file) is needed for HTTPS")
        if release.cert_file is not None:
            return Tls(ca, release.cert_file, release.key_file)
        return Tls(ca, mqtt.cert_file, mqtt.key_file)

    def request_restart(self) -> None:
        """Stop, and exit with RESTART_EXIT so the supervisor starts ``current``."""
        self.exit_code = RESTART_EXIT
        if self._stop is not None:
            self._stop.set()

    def health(self) -> list[str]:
        """What has not yet worked since start: connected, birth sent, an end-to-end ack,
        every sensor read, every camera's vision loaded. Empty: healthy.

        A sensor whose hardware reports a fault counts as read (a dead sensor must not keep
        a pole from ever taking a release); one whose code raises something else does not.
        """
        missing = []
        if not self.stats.connects:
            missing.append("never connected to the broker")
        elif not self.stats.births:
            missing.append("no birth sent")
        elif not self.stats.acks:
            missing.append("no acknowledgement from the hub")
        silent = [f"{d.asset}/{d.sensor}" for d in self.drivers if id(d) not in self._answered]
        if silent:
            missing.append("sensors not reading: " + ", ".join(silent[:5]))
        broken = [
            f"{d.asset}/{d.sensor} ({self._broken[id(d)]})"
            for d in self.drivers
            if id(d) in self._broken
        ]
        if broken:
            missing.append("sensor code failing: " + ", ".join(broken[:5]))
        missing += [f"vision of {cam} not loaded: {why}" for cam, why in self.camera_errors.items()]
        return missing

    def _build_cameras(self) -> list[CameraLoop]:
        """A camera whose vision can't be built (a refused model) is left out and reported;
        the rest of the agent runs on."""
        cameras = []
        for cam in self.config.cameras:
            try:
                self._check_release_model(cam)
                cameras.append(CameraLoop(config=cam, clock=self.clock))
            except (RuntimeError, ValueError, OSError) as exc:  # refused or unloadable model
                log.warning("%s: camera %s not started: %s", self.config.id, cam.asset, exc)
                self.camera_errors[cam.asset] = str(exc)[:200]
        return cameras

    def _check_release_model(self, cam: CameraConfig) -> None:
        """A crowd model the running release lists must be the release's, byte for byte."""
        releases = self.releases
        if releases is None or releases.running_dir is None or cam.crowd is None:
            return
        detector = cam.crowd.detector
        if not isinstance(detector, YoloxOnnxConfig):
            return
        entry = load_manifest(cam.manifest or DEFAULT_MANIFEST).entry(detector.model)
        keys = load_public_keys(releases.config.public_keys)
        check_release_model(releases.running_dir, detector.model_dir / entry.file, keys)

    async def _report_cameras(self) -> None:
        for asset in self.camera_errors:
            await self.emit_events(
                [
                    c.EventItem(
                        asset=asset,
                        kind=c.AssetKind.CAMERA,
                        type="visionNotLoaded",
                        t=to_ms(self.clock.now()),
                        severity="major",
                    )
                ]
            )

    # ---- lifecycle -------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        self._stop = stop
        self.boot = await self.io(self.outbox.next_boot)
        log.info("%s: boot %d, %d sensor(s)", self.config.id, self.boot, len(self.drivers))
        try:
            if not self.cameras:
                self.cameras = self._build_cameras()
                await self._report_cameras()
            async with asyncio.TaskGroup() as tg:
                if self.releases is not None:
                    tg.create_task(self.releases.run(stop, self), name=f"{self.config.id}-release")
                tg.create_task(self._sample_loop(stop), name=f"{self.config.id}-sample")
                tg.create_task(self._wake_on(stop), name=f"{self.config.id}-stop")
                tg.create_task(self.link.run(stop), name=f"{self.config.id}-link")
                for camera in self.cameras:
                    tg.create_task(
                        camera.run(stop, readings=self.add_readings, events=self.emit_events),
                        name=f"{self.config.id}-{camera.config.asset}",
                    )
        finally:
            for driver in self.drivers:
                if id(driver) in self._opened:
                    with contextlib.suppress(DriverError, OSError):
                        driver.close()
            self.outbox.close()


async def _call(fn: Callable[..., object], *args: object) -> None:
    """Run a non-blocking call where an awaitable is expected (twins, inline)."""
    fn(*args)
