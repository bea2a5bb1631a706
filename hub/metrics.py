"""The ingest pipeline's own health: counters and gauges for Prometheus and for InfluxDB.

Why a custom collector rather than prometheus_client's Counter objects: the authoritative
counts are the ones the ingest persists in SQL together with the de-duplication state (so
they survive a restart and agree with what is stored); the collector reads them at scrape
time instead of keeping a second copy that could drift. Each hub gets its own registry, so
several hubs in one test process do not collide.

The same figures are written to InfluxDB as measurement ``hub_ingest`` (no tags; see
``dashboards/schema.py``) so the operators' dashboards show the pipeline's health.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from hub.lineproto import point


@dataclass
class IngestCounters:
    """Totals since the hub's database was created (persisted with the watermarks)."""

    messages: int = 0
    readings: int = 0
    events: int = 0
    duplicates: int = 0
    duplicate_readings: int = 0
    gaps: int = 0
    lost: int = 0
    dead: Tally[str] = field(default_factory=Tally)
    batches: int = 0
    write_retries: int = 0
    spooled_batches: int = 0
    rebirths_requested: int = 0
    ignored_retained: int = 0  # retained births/states of unregistered devices
    blocked: int = 0  # messages of blocked devices, dropped unread

    def as_rows(self) -> dict[str, int]:
        rows = {k: int(v) for k, v in vars(self).items() if isinstance(v, int)}
        rows.update({f"dead.{reason}": int(n) for reason, n in self.dead.items()})
        return rows

    def add(self, other: IngestCounters) -> None:
        for name, value in vars(other).items():
            if isinstance(value, int):
                setattr(self, name, getattr(self, name) + value)
        self.dead.update(other.dead)


@dataclass
class IngestGauges:
    """Instantaneous figures, refreshed by the ingest as it runs."""

    queue_depth: int = 0  # messages received and not yet acknowledged
    oldest_unsent_s: float = 0.0  # age of the oldest reading not yet in InfluxDB
    spool_bytes: int = 0
    spool_batches: int = 0
    last_batch_s: float = 0.0
    batch_seconds_sum: float = 0.0
    devices_online: int = 0
    devices_offline: int = 0
    connected: bool = False
    storage_problem: bool = False  # InfluxDB does not store writes (see Ingest.storage_problem)
    stalled_s: float = 0.0  # wall seconds the hub did not run (hub.attention_monitor)
    degraded: bool = False  # the hub's self-alarm is up (hub.self_alarm)


_COUNTER_HELP = {
    "messages": "Valid device messages received",
    "readings": "Readings accepted and stored",
    "events": "Events accepted and stored",
    "duplicates": "Duplicate messages dropped by (device, boot, seq)",
    "duplicate_readings": "Readings in duplicate messages",
    "gaps": "Sequence gaps observed",
    "lost": "Sequence numbers a device dropped before sending",
    "batches": "Batches committed",
    "write_retries": "InfluxDB write attempts that failed and were retried",
    "spooled_batches": "Batches written to the local spool while InfluxDB was down",
    "rebirths_requested": "Rebirth commands sent after a sequence gap",
    "ignored_retained": "Retained births/states of unregistered devices, ignored",
    "blocked": "Messages of blocked devices, dropped",
}


class IngestCollector(Collector):
    def __init__(
        self, counters: Callable[[], IngestCounters], gauges: Callable[[], IngestGauges]
    ) -> None:
        self._counters = counters
        self._gauges = gauges

    def collect(self) -> Iterator[Metric]:
        counters, gauges = self._counters(), self._gauges()
        for name, text in _COUNTER_HELP.items():
            family = CounterMetricFamily(f"trygg_ingest_{name}", text)
            family.add_metric([], float(getattr(counters, name)))
            yield family
        dead = CounterMetricFamily(
            "trygg_ingest_dead_letters", "Rejected messages, per reason", labels=["reason"]
        )
        for reason, n in sorted(counters.dead.items()):
            dead.add_metric([reason], float(n))
        yield dead
        batch = GaugeMetricFamily(
            "trygg_ingest_last_batch_seconds", "Receive-to-acknowledge latency of the last batch"
        )
        batch.add_metric([], gauges.last_batch_s)
        yield batch
        for name, value, text in (
            ("queue_depth", gauges.queue_depth, "Messages received, not yet acknowledged"),
            ("oldest_unsent_seconds", gauges.oldest_unsent_s, "Age of the oldest unsent batch"),
            ("spool_bytes", gauges.spool_bytes, "Bytes waiting in the local spool"),
            ("spool_batches", gauges.spool_batches, "Batches waiting in the local spool"),
            ("devices_online", gauges.devices_online, "Devices online"),
            ("devices_offline", gauges.devices_offline, "Devices offline"),
            ("connected", int(gauges.connected), "1 while the MQTT session is up"),
            (
                "storage_problem",
                int(gauges.storage_problem),
                "1 while InfluxDB refuses or cannot take writes (data kept, not acknowledged)",
            ),
            ("stalled_seconds", gauges.stalled_s, "Seconds the hub did not run, in total"),
        ):
            g = GaugeMetricFamily(f"trygg_ingest_{name}", text)
            g.add_metric([], float(value))
            yield g


def make_registry(
    counters: Callable[[], IngestCounters], gauges: Callable[[], IngestGauges]
) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(IngestCollector(counters, gauges))
    return registry


def exposition(registry: CollectorRegistry) -> bytes:
    """The Prometheus text format of ``registry``."""
    return generate_latest(registry)


def influx_line(counters: IngestCounters, gauges: IngestGauges, t_ms: int) -> str:
    """One ``hub_ingest`` point with the running totals and the gauges."""
    return point(
        "hub_ingest",
        {},
        {
            "messages": counters.messages,
            "readings": counters.readings,
            "events": counters.events,
            "dead_letters": sum(counters.dead.values()),
            "gaps": counters.gaps,
            "duplicates": counters.duplicates,
            "queue_depth": gauges.queue_depth,
            "oldest_unsent_s": float(gauges.oldest_unsent_s),
            "spool_bytes": gauges.spool_bytes,
            "batch_s": float(gauges.last_batch_s),
            "write_retries": counters.write_retries,
            "degraded": int(gauges.degraded),
        },
        t_ms,
    )
