"""The hub process: one task group with ingest, rules and the HTTP API.

Every long-lived worker runs under :class:`hub.supervisor.Supervisor`: a failure of one is
logged, counted and retried with back-off, and never ends its siblings (docs/supervision.md).
Work that must happen once across several hubs runs as a :class:`hub.duty.Duty`, only on the
hub that holds its lease (docs/operations.md, "Several hubs").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass, field

import uvicorn
from prometheus_client import Gauge
from sqlalchemy.orm import Session, sessionmaker

from hub.alert_delivery.feed import NoticeFeed
from hub.alert_delivery.setup import build_dispatcher
from hub.alerts.events import Bus
from hub.alerts.relay import Relay
from hub.alerts.watch import CrowdWatch, WatchConfig
from hub.api import create_app
from hub.attention_monitor import AttentionMonitor
from hub.cert_signer import CertSigner
from hub.cert_watch import CertWatch
from hub.command_sender import CommandSender
from hub.db import SqlTimeouts, open_database
from hub.duty import Duty, SqlLease, Work, held_gauge
from hub.gauges import Gauges
from hub.health import Health
from hub.health_checks import DependencyChecks
from hub.influx import Influx
from hub.ingest import Ingest
from hub.leases import Leases
from hub.open311.contacts import run_purge
from hub.partitions import Partitions
from hub.releases.serve import serve_releases
from hub.rollout.worker import RolloutWorker
from hub.rules.engine import RuleEngine
from hub.self_alarm import SelfAlarm
from hub.settings import HubSettings
from hub.supervisor import Policy, Supervisor
from hub.webhook_worker import WebhookWorker
from trygg.clock import Clock, SystemClock

log = logging.getLogger(__name__)

Spawn = Callable[[str, Callable[[], Awaitable[None]]], None]  # start a supervised worker


class _Server(uvicorn.Server):
    """uvicorn without its own signal handlers: the hub's stop event owns shutdown."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


@dataclass
class Hub:
    settings: HubSettings
    clock: Clock
    sessions: sessionmaker[Session]
    influx: Influx
    ingest: Ingest
    rules: RuleEngine
    gauges: Gauges | None = None  # ticket events + gauges to InfluxDB
    attention: AttentionMonitor | None = None  # when the hub could not hear devices
    health: Health = field(default_factory=Health)  # every worker's and dependency's state
    alert_delivery: NoticeFeed | None = None  # delivers each committed alert change
    duties: dict[str, Duty] = field(default_factory=dict)  # work done once across all hubs
    _held: Gauge | None = field(default=None, init=False, repr=False)  # one per registry
    # With TRYGG_PARTITIONS: this hub's share of the devices, instead of ``ingest``.
    partitions: Partitions | None = None

    @property
    def intake(self) -> Ingest | Partitions:
        """What ingests for this hub: all devices, or its partitions' devices."""
        return self.partitions if self.partitions is not None else self.ingest

    @classmethod
    def build(cls, settings: HubSettings, clock: Clock) -> Hub:
        sessions = open_database(
            settings.database_url,
            timeouts=SqlTimeouts(
                connect_s=settings.sql_connect_timeout_s,
                statement_s=settings.sql_statement_timeout_s,
                pool_s=settings.sql_pool_timeout_s,
            ),
        )
        influx = Influx(
            url=settings.influx_url,
            db=settings.influx_db,
            username=settings.influx_username,
            password=settings.influx_password,
            token=settings.influx_token,
            timeout_s=settings.influx_timeout_s,
        )
        # One measure of the hub's own deafness for device liveness and the offline rule.
        attention = AttentionMonitor(clock=clock)
        watch = CrowdWatch(
            bus=Bus(),
            config=WatchConfig(
                ack_timeout_s=settings.alert_ack_timeout_s,
                chain=settings.alert_escalation_chain,
                event_interval_s=settings.crowd_event_interval_s,
            ),
        )
        rules = RuleEngine(
            sessions=sessions,
            clock=clock,
            offline_grace_s=settings.offline_grace_s,
            monitor=attention,
            watch=watch,
        )
        partitions = None
        if settings.partitions:
            partitions = Partitions(
                settings=settings,
                sessions=sessions,
                influx=influx,
                clock=clock,
                sink=rules.feed,
                attention=attention,
                adopt=rules.adopt,
            )
            rules.owns_device, rules.owns_cabinet = partitions.owns_device, partitions.owns_cabinet
        ingest = Ingest(
            settings=settings,
            sessions=sessions,
            influx=influx,
            clock=clock,
            sink=rules.feed,
            attention=attention,
        )
        gauges = Gauges(sessions=sessions, influx=influx, clock=clock)
        delivery = NoticeFeed(
            dispatcher=build_dispatcher(settings.alert_delivery, sessions=sessions, clock=clock),
            poll_s=settings.alert_relay_s,
        )
        # The changes are delivered from SQL by the duty's holder; a change heard here only
        # wakes it, so a holder on this hub need not wait for its next poll.
        watch.bus.subscribe(lambda _alert: delivery.wake())
        return cls(
            settings,
            clock,
            sessions,
            influx,
            ingest,
            rules,
            gauges,
            attention,
            alert_delivery=delivery,
            partitions=partitions,
        )

    async def run(self, stop: asyncio.Event, *, serve_api: bool = True) -> None:
        ready = asyncio.Event()
        intake = self.intake
        supervisor = Supervisor(
            health=self.health,
            registry=intake.registry,
            policy=Policy(first_s=self.settings.restart_first_s, cap_s=self.settings.restart_cap_s),
        )
        try:
            async with asyncio.TaskGroup() as tg:

                def spawn(name: str, work: Callable[[], Awaitable[None]]) -> None:
                    tg.create_task(supervisor.run(name, work, stop), name=name)

                if self.attention is not None:
                    attention = self.attention
                    spawn("attention", lambda: attention.run(stop))
                # The ingest starts at once (its InfluxDB schema, state and broker session;
                # see Ingest.run) and classifies once the rules' state is loaded too.
                spawn("ingest", lambda: intake.run(stop, ready=ready))
                self._watch_health(spawn, stop)
                # Loaded once SQL answers: a database still starting is no reason to exit.
                await supervisor.run("rules-load", lambda: asyncio.to_thread(self.rules.load), stop)
                ready.set()
                await self._serve(stop, tg, spawn, serve_api=serve_api)
        finally:
            await self.influx.aclose()
            self.sessions.kw["bind"].dispose()

    def _watch_health(self, spawn: Spawn, stop: asyncio.Event) -> None:
        """The dependency checks and the self-alarm they feed."""
        checks = DependencyChecks(
            health=self.health,
            sessions=self.sessions,
            influx=self.influx,
            broker_up=self.intake.connected.is_set,
            storage_problem=self.intake.storage_problem,
            timeout_s=self.settings.health_timeout_s,
        )
        alarm = SelfAlarm(
            health=self.health,
            sessions=self.sessions,
            clock=self.clock,
            grace_s=self.settings.degraded_grace_s,
            registry=self.intake.registry,
            mirror=lambda degraded: setattr(self.intake.gauges, "degraded", degraded),
        )
        every_s = self.settings.health_check_s
        spawn("health", lambda: checks.run(stop, every_s=every_s))
        spawn("self-alarm", lambda: alarm.run(stop, every_s=every_s))

    async def _serve(
        self,
        stop: asyncio.Event,
        tg: asyncio.TaskGroup,
        spawn: Spawn,
        *,
        serve_api: bool,
    ) -> None:
        """The hub's other workers (and the HTTP API), in the hub's task group."""
        server = None
        api_config = self.settings.api
        if serve_api:
            app = create_app(
                sessions=self.sessions,
                clock=self.clock,
                ingest=self.intake,
                api_config=api_config,
                health=self.health,
                api_deadline_s=self.settings.api_deadline_s,
                alerts_bus=self.rules.watch.bus if self.rules.watch else None,
                release_config=self.settings.release,
            )
            server = _Server(
                uvicorn.Config(
                    app,
                    host=self.settings.api_host,
                    port=self.settings.api_port,
                    log_level="warning",
                    lifespan="off",
                    proxy_headers=False,  # the API's trusted_proxies decide (hub.api.client_ip)
                )
            )
        duty = self._duties(spawn, stop)
        # webhook deliveries from the outbox, and the citizen-contact purge
        webhooks = WebhookWorker(
            sessions=self.sessions,
            clock=self.clock,
            policy=api_config.webhook_policy,
            in_flight=api_config.webhook_in_flight,
        )
        duty("webhooks", webhooks.run)
        if self.alert_delivery is not None:
            delivery = self.alert_delivery
            delivery.dispatcher.wake_webhooks = webhooks.wake
            duty("alert-delivery", delivery.run)
        if self.rules.watch is not None:
            relay = Relay(
                sessions=self.sessions,
                bus=self.rules.watch.bus,
                poll_s=self.settings.alert_relay_s,
            )
            spawn("alert-relay", lambda: relay.run(stop))
        retention = api_config.contact_retention
        duty(
            "privacy",
            lambda ended: run_purge(
                ended, sessions=self.sessions, clock=self.clock, retention=retention
            ),
        )
        spawn("rules", lambda: self.rules.run(stop, every_s=self.settings.tick_s))
        # The rules' tick judges this hub's devices; its fleet-wide part only while this
        # hub holds the duty (the duty's own work is just holding the lease).
        fleet = duty("rules-fleet", lambda ended: ended.wait())
        if fleet is not None:
            self.rules.fleet_wide = lambda: fleet.held
        certs = CertWatch.from_settings(self.settings, sessions=self.sessions, clock=self.clock)
        duty("certificates", certs.run)
        signer = CertSigner.from_settings(self.settings, sessions=self.sessions, clock=self.clock)
        if signer is not None:
            duty("cert-signer", signer.run)
        sender = CommandSender(
            sessions=self.sessions,
            clock=self.clock,
            mqtt=self.settings.broker(),
            retry_s=self.settings.command_retry_s,
        )
        duty("commands", sender.run)
        rollouts = RolloutWorker(
            sessions=self.sessions,
            clock=self.clock,
            mqtt=self.settings.broker(),
            share_group=self.settings.share_group,
            tick_s=self.settings.release.rollout_tick_s,
        )
        duty("rollouts", rollouts.run)  # one hub steps the rollouts; every hub serves files
        release_config, fleet_ca = self.settings.release, self.settings.mqtt_ca_file
        spawn("releases", lambda: serve_releases(release_config, ca_file=fleet_ca, stop=stop))
        if self.gauges is not None:
            gauges = self.gauges
            events_s = min(self.settings.tick_s, 5.0)
            duty(
                "gauges",
                lambda ended: gauges.run(ended, events_s=events_s, gauges_s=self.settings.gauges_s),
            )
        if server is not None:
            tg.create_task(server.serve(), name="api")
            await stop.wait()
            if self.rules.watch is not None:
                self.rules.watch.bus.close()  # its alert streams end, so shutdown need not wait
            server.should_exit = True

    def _duties(self, spawn: Spawn, stop: asyncio.Event) -> Callable[[str, Work], Duty | None]:
        """The function that starts a worker as a duty under its own lease, named for it;
        a hub alone (no ``TRYGG_PARTITIONS``) starts it plainly and gets None."""
        # Leases run on wall time even when the hub's clock is simulated or accelerated.
        table = Leases(
            sessions=self.sessions,
            clock=SystemClock(),
            holder=self.settings.holder(),
            ttl_s=self.settings.duty_lease_s,
        )
        if self._held is None:  # a hub run again must not register the metric twice
            self._held = held_gauge(self.intake.registry)
        gauge = self._held

        def duty(name: str, work: Work) -> Duty | None:
            if not self.settings.partitions:  # one hub: nothing to share, nothing to wait for

                async def plain() -> None:
                    await work(stop)

                spawn(name, plain)
                return None
            runner = Duty(name, lease=SqlLease(table, f"duty:{name}"), gauge=gauge)
            self.duties[name] = runner
            spawn(name, lambda: runner.run(stop, work))
            return runner

        return duty
