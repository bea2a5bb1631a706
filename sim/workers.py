"""The fleet spread over worker processes, for cities larger than one process's file
descriptors allow (each agent holds an MQTT socket and its outbox's SQLite files).

Every worker loads the same scenario with the same overrides, so it builds the same city
and the same fault schedule, runs its slice of the poles, applies the faults that fall on
them, and shares the parent's clock (same start and monotonic origin: CLOCK_MONOTONIC is
system-wide). Workers print one JSON line of counters every couple of seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import sys
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sim.fleet import LinkSettings, Rates
from sim.scenario import ScenarioSpec
from trygg.clock import ScaledClock

log = logging.getLogger(__name__)


@dataclass
class WorkerStats:
    agents: int = 0
    readings: int = 0
    published: int = 0
    acked: int = 0
    connects: int = 0
    applied: int = 0
    rss_kb: int = 0
    ready: bool = False


def slices(total: int, parts: int) -> list[tuple[int, int]]:
    """Split ``range(total)`` into ``parts`` contiguous, nearly equal slices."""
    parts = max(1, min(parts, total))
    size, extra = divmod(total, parts)
    out, lo = [], 0
    for i in range(parts):
        hi = lo + size + (1 if i < extra else 0)
        out.append((lo, hi))
        lo = hi
    return out


@dataclass
class WorkerPool:
    scenario_path: Path
    spec: ScenarioSpec
    processes: int
    clock: ScaledClock
    clock_start: datetime  # the clock's start and monotonic origin, passed to workers
    origin: float
    link: LinkSettings
    state_dir: Path
    rates: Rates = field(default_factory=Rates)
    stats: dict[int, WorkerStats] = field(default_factory=dict)

    @property
    def applied(self) -> int:
        return sum(s.applied for s in self.stats.values())

    def total(self) -> WorkerStats:
        out = WorkerStats(ready=bool(self.stats) and all(s.ready for s in self.stats.values()))
        for s in self.stats.values():
            for name in ("agents", "readings", "published", "acked", "connects", "applied"):
                setattr(out, name, getattr(out, name) + getattr(s, name))
            out.rss_kb += s.rss_kb
        return out

    def _args(self, index: int, lo: int, hi: int) -> dict[str, Any]:
        return {
            "index": index,
            "scenario": str(self.scenario_path),
            "devices": self.spec.city.devices,
            "seed": self.spec.seed,
            "speed": self.clock.scale(),
            "lo": lo,
            "hi": hi,
            "host": self.link.host,
            "port": self.link.port,
            "state_dir": str(self.state_dir),
            "origin": self.origin,
            "clock_start": self.clock_start.isoformat(),
            "rates": asdict(self.rates),
        }

    async def run(self, stop: asyncio.Event) -> None:
        procs = []
        for i, (lo, hi) in enumerate(slices(self.spec.city.devices, self.processes)):
            self.stats[i] = WorkerStats()
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "sim.worker",
                json.dumps(self._args(i, lo, hi)),
                stdout=asyncio.subprocess.PIPE,
                stdin=asyncio.subprocess.DEVNULL,
            )
            procs.append(proc)
        try:
            async with asyncio.TaskGroup() as tg:
                for i, proc in enumerate(procs):
                    tg.create_task(self._read(i, proc), name=f"worker-{i}")
                await stop.wait()
                for proc in procs:
                    if proc.returncode is None:
                        with contextlib.suppress(ProcessLookupError):
                            proc.send_signal(signal.SIGTERM)
        finally:
            for proc in procs:
                try:
                    await asyncio.wait_for(proc.wait(), timeout=60)
                except TimeoutError:
                    log.warning("worker %d did not stop; killing it", proc.pid)
                    with contextlib.suppress(ProcessLookupError):
                        proc.kill()
                    await proc.wait()

    async def _read(self, index: int, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        while line := await proc.stdout.readline():
            try:
                data = json.loads(line)
            except ValueError:
                continue
            self.stats[index] = WorkerStats(**{k: data[k] for k in asdict(WorkerStats())})
