"""The hub process: one task group with ingest, rules and the HTTP API."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Generator
from dataclasses import dataclass

import uvicorn
from sqlalchemy.orm import Session, sessionmaker

from hub.api import create_app
from hub.attention_monitor import AttentionMonitor
from hub.cert_watch import CertWatch
from hub.command_sender import CommandSender
from hub.db import open_database
from hub.gauges import Gauges
from hub.influx import Influx
from hub.ingest import Ingest
from hub.open311.contacts import run_purge
from hub.rules.engine import RuleEngine
from hub.settings import HubSettings
from hub.webhook_worker import WebhookWorker
from trygg.clock import Clock

log = logging.getLogger(__name__)


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
    gauges: Gauges | None = None  # issue 6: ticket events + gauges to InfluxDB
    attention: AttentionMonitor | None = None  # when the hub could not hear devices

    @classmethod
    def build(cls, settings: HubSettings, clock: Clock) -> Hub:
        sessions = open_database(settings.database_url)
        influx = Influx(
            url=settings.influx_url,
            db=settings.influx_db,
            username=settings.influx_username,
            password=settings.influx_password,
            token=settings.influx_token,
        )
        # One measure of the hub's own deafness for device liveness and the offline rule.
        attention = AttentionMonitor(clock=clock)
        rules = RuleEngine(
            sessions=sessions,
            clock=clock,
            offline_grace_s=settings.offline_grace_s,
            monitor=attention,
        )
        ingest = Ingest(
            settings=settings,
            sessions=sessions,
            influx=influx,
            clock=clock,
            sink=rules.feed,
            attention=attention,
        )
        gauges = Gauges(sessions=sessions, influx=influx, clock=clock)
        return cls(settings, clock, sessions, influx, ingest, rules, gauges, attention)

    async def run(self, stop: asyncio.Event, *, serve_api: bool = True) -> None:
        ready = asyncio.Event()
        try:
            async with asyncio.TaskGroup() as tg:
                if self.attention is not None:
                    tg.create_task(self.attention.run(stop), name="attention")
                # The ingest starts at once (its InfluxDB schema, state and broker session;
                # see Ingest.run) and classifies once the rules' state is loaded too.
                tg.create_task(self.ingest.run(stop, ready=ready), name="ingest")
                await asyncio.to_thread(self.rules.load)
                ready.set()
                await self._serve(stop, tg, serve_api=serve_api)
        finally:
            await self.influx.aclose()
            self.sessions.kw["bind"].dispose()

    async def _serve(self, stop: asyncio.Event, tg: asyncio.TaskGroup, *, serve_api: bool) -> None:
        """The hub's other workers (and the HTTP API), in the hub's task group."""
        server = None
        api_config = self.settings.api
        if serve_api:
            app = create_app(
                sessions=self.sessions, clock=self.clock, ingest=self.ingest, api_config=api_config
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
        # webhook deliveries from the outbox, and the citizen-contact purge
        webhooks = WebhookWorker(
            sessions=self.sessions,
            clock=self.clock,
            policy=api_config.webhook_policy,
            in_flight=api_config.webhook_in_flight,
        )
        tg.create_task(webhooks.run(stop), name="webhooks")
        retention = api_config.contact_retention
        tg.create_task(
            run_purge(stop, sessions=self.sessions, clock=self.clock, retention=retention),
            name="privacy",
        )
        tg.create_task(self.rules.run(stop, every_s=self.settings.tick_s), name="rules")
        certs = CertWatch.from_settings(self.settings, sessions=self.sessions, clock=self.clock)
        tg.create_task(certs.run(stop), name="certificates")
        sender = CommandSender(
            sessions=self.sessions,
            clock=self.clock,
            mqtt=self.settings.broker(),
            retry_s=self.settings.command_retry_s,
        )
        tg.create_task(sender.run(stop), name="commands")
        if self.gauges is not None:
            tg.create_task(
                self.gauges.run(
                    stop,
                    events_s=min(self.settings.tick_s, 5.0),
                    gauges_s=self.settings.gauges_s,
                ),
                name="gauges",
            )
        if server is not None:
            tg.create_task(server.serve(), name="api")
            await stop.wait()
            server.should_exit = True
