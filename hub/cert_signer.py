"""Signs poles' certificate renewals with the issuing CA whose key the hub holds.

A pole makes its new key itself and sends only a request on its ``csr`` topic. The hub
answers on the pole's ``cert`` topic: the certificate and the issuing CA's certificate, or
why not. It signs only for a registered, unblocked device whose request names that device
(the broker's ACL lets a pole publish only on its own topics) and carries an EC P-256 key,
and at most once per ``sign_gap`` per device (:mod:`hub.cert_requests`, remembered in SQL
by :mod:`hub.cert_rates`). It runs only when ``TRYGG_CERT_ISSUING_DIR`` names the issuing
CA (``trygg provision issuing-ca``).

During a CA rollover (``trygg provision ca-rollover start``) it signs with the next issuing
CA, sends the trusted CAs with every certificate, and asks every registered pole that has
no certificate from the next CA yet to renew now (:mod:`hub.cert_rollover`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import tempfile
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from hub import cert_rates, cert_rollover, registry
from hub.cert_requests import Limits, admission
from hub.settings import HubSettings
from trygg import contract as c
from trygg.backoff import Backoff
from trygg.certs import request_refusal
from trygg.clock import Clock, to_ms
from trygg.mqtt import Connection, MqttError, MqttSession, MqttSettings
from trygg.openssl import OpensslError, read_request
from trygg.pki import Pki, signing_ca

log = logging.getLogger(__name__)
_ID = re.compile(r"^[A-Za-z0-9-]{1,64}$")


@dataclass(frozen=True, slots=True)
class Answer:
    device: str
    reply: c.CertReply


class CertSigner:
    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        clock: Clock,
        mqtt: MqttSettings,
        issuing: Pki,
        lifetime: timedelta,
        limits: Limits,
        share_group: str,
        nudge_s: float = 3600.0,
    ) -> None:
        self.sessions, self.clock, self.issuing = sessions, clock, issuing
        self.mqtt = replace(
            mqtt, client_id=f"{mqtt.client_id}-certs", clean_start=True, session_expiry_s=0
        )
        self.lifetime, self.limits, self.share_group = lifetime, limits, share_group
        self.nudge_s = nudge_s
        self.signed = self.refused = 0

    @classmethod
    def from_settings(
        cls, settings: HubSettings, *, sessions: sessionmaker[Session], clock: Clock
    ) -> CertSigner | None:
        """The signer, or None when the hub holds no issuing CA."""
        if not settings.cert_issuing_dir:
            return None
        return cls(
            sessions=sessions,
            clock=clock,
            mqtt=settings.broker(),
            issuing=Pki(Path(settings.cert_issuing_dir)),
            lifetime=timedelta(days=settings.cert_lifetime_days),
            limits=Limits(
                request_gap=timedelta(seconds=settings.cert_request_gap_s),
                sign_gap=timedelta(seconds=settings.cert_sign_gap_s),
            ),
            share_group=settings.share_group,
            nudge_s=settings.cert_check_s,
        )

    async def run(self, stop: asyncio.Event) -> None:
        if not self.issuing.exists():
            log.error(
                "certificate signer: no issuing CA in %s (run `trygg provision issuing-ca`); "
                "poles' renewals are not answered",
                self.issuing.folder,
            )
            return
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._nudging(stop), name="cert-rollover")
            await self._serve(stop)

    async def _nudging(self, stop: asyncio.Event) -> None:
        """Every ``nudge_s``: ask the poles not yet on the next CA to renew (a rollover)."""
        while not stop.is_set():
            try:
                asked = await asyncio.to_thread(self.nudge)
                if asked:
                    log.info("CA rollover: asked %d pole(s) to renew now", len(asked))
            except Exception as exc:  # noqa: BLE001 - a failed pass must not stop the signer
                log.warning("CA rollover pass failed, retrying: %s: %s", type(exc).__name__, exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.nudge_s)

    def nudge(self) -> list[str]:
        with self.sessions.begin() as s:
            return cert_rollover.nudge(s, issuing=self.issuing.folder, now=self.clock.now())

    async def _serve(self, stop: asyncio.Event) -> None:
        retry = Backoff(0.5, 30.0)
        while not stop.is_set():
            try:
                async with Connection(self.mqtt) as conn:
                    await conn.subscribe(f"$share/{self.share_group}/{c.subscription(c.Kind.CSR)}")
                    retry.reset()
                    async with asyncio.TaskGroup() as tg:
                        receiving = tg.create_task(self._receive(conn), name="csr-receive")
                        await stop.wait()
                        receiving.cancel()
            except* MqttError as group:
                log.warning("certificate signer: MQTT session ended: %s", group.exceptions[0])
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=retry.next_delay())

    async def _receive(self, conn: MqttSession) -> None:
        while True:
            for msg in await conn.messages():
                try:
                    answer = await asyncio.to_thread(self.answer, msg.topic, msg.payload)
                except c.ContractError as exc:
                    log.warning("certificate signer: bad topic %s: %s", msg.topic[:200], exc)
                    continue
                topic = c.topic_for(answer.device, c.Kind.CERT)
                await conn.publish(topic, c.encode(answer.reply))

    def answer(self, topic: str, payload: bytes) -> Answer:
        """The reply to one request on ``topic``: a certificate, or a refusal that says why.
        Raises ContractError('topic') only when ``topic`` names no device to answer."""
        device, kind = c.parse_topic(topic)
        if kind != c.Kind.CSR:
            raise c.ContractError("topic", f"{kind.value} is not a certificate request")
        now = self.clock.now()
        request_id = _lenient_id(payload)
        try:
            _, _, request = c.decode_device_message(topic, payload)
        except c.ContractError as exc:
            return self._refuse(device, request_id, f"{exc.reason}: {exc.detail}")
        with self.sessions.begin() as s:
            snap = registry.snapshot(s)
            why = admission(
                device,
                known=snap.known,
                blocked=snap.blocked,
                history=cert_rates.load(s, device),
                limits=self.limits,
                now=now,
            )
            if why is None:
                cert_rates.record(s, device, asked=now)
        if why is not None:
            return self._refuse(device, request.id, why)
        with tempfile.TemporaryDirectory(dir=self.issuing.folder) as tmp:
            csr = Path(tmp) / "request.csr"
            csr.write_text(request.csr)
            try:
                why = request_refusal(read_request(csr), device=device)
                if why is not None:
                    return self._refuse(device, request.id, why)
                chain = signing_ca(self.issuing.folder).sign_request(
                    csr, common_name=device, now=now, lifetime=self.lifetime
                )
            except OpensslError as exc:
                return self._refuse(device, request.id, f"unusable request: {exc}")
        with self.sessions.begin() as s:
            cert_rates.record(s, device, signed=now)
        self.signed += 1
        log.info("%s: signed a renewed certificate (request %s)", device, request.id)
        reply = c.CertReply(
            device=device,
            id=request.id,
            ok=True,
            chain=chain,
            trust=self.issuing.trust(),
            ts=to_ms(now),
        )
        return Answer(device, reply)

    def _refuse(self, device: str, request_id: str, why: str) -> Answer:
        self.refused += 1
        reason = " ".join(why.split())[:300]
        log.warning("%s: certificate request %s refused: %s", device, request_id, reason)
        reply = c.CertReply(
            device=device, id=request_id, ok=False, reason=reason, ts=to_ms(self.clock.now())
        )
        return Answer(device, reply)


def _lenient_id(payload: bytes) -> str:
    """The request's id when the payload has a usable one, so even a refused request is
    answered under its own id; else ``invalid``."""
    try:
        found = json.loads(payload).get("id")
    except (ValueError, AttributeError):
        return "invalid"
    return found if isinstance(found, str) and _ID.fullmatch(found) else "invalid"
