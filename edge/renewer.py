"""The pole's side of certificate renewal: ask the hub, check the answer, prove, swap.

When the certificate in use is due (:mod:`edge.renewal`), the renewer makes a new key and
a request in the :class:`edge.cert_store.CertStore` and the link publishes the request.
The hub's answer is checked here (it chains to the pole's CA file and carries the new
key); the link then reconnects with the new pair, and only once the broker has accepted it
does the store make it the pair in use. A refusal, a bad answer or a failed trial leaves
the old pair in force and is tried again after ``retry_s``.

During a CA rollover the hub's answer also carries the CA certificates the pole should
trust (:meth:`edge.cert_store.CertStore.offered_trust` checks them); the trial connection
verifies the broker with that new set, and it is kept with the new pair. The hub may also
ask for a renewal at once (the ``renew_certificate`` command), so every pole moves to the
new CA during the overlap, whatever its certificate's age.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from datetime import datetime, timedelta
from pathlib import Path

from edge.cert_store import CertStore, CertStoreError, Credentials, Pending
from edge.config import CertificateConfig, DeviceConfig
from edge.renewal import should_ask
from trygg import contract as c
from trygg.certs import Certificate
from trygg.clock import Clock, to_ms
from trygg.openssl import OpensslError, read_certificate

log = logging.getLogger(__name__)


class Renewer:
    def __init__(
        self,
        *,
        device_id: str,
        store: CertStore,
        clock: Clock,
        policy: CertificateConfig,
    ) -> None:
        self.device_id, self.store = device_id, store
        self.clock, self.policy = clock, policy
        self._trial_trust: str | None = None  # offered with the trial pair
        self._forced = False  # the hub asked for a renewal now
        self.wake = asyncio.Event()  # set to look at renewal before ``check_s`` is up
        self.cert: Certificate | None = None  # the one in use
        self.trial: Pending | None = None  # signed, waiting to be proven on the broker
        self._pending: Pending | None = None  # asked, waiting for the hub
        self._request_id = ""
        self._asked_at: datetime | None = None
        self.renewed = self.refused = 0

    @property
    def check_s(self) -> float:
        return self.policy.check_s

    def trust_file(self) -> Path:
        """The CA file the next connection verifies the broker with: the one offered with
        a trial pair, else the pole's."""
        if self.trial is not None and self._trial_trust is not None:
            return self.trial.folder / "trust.crt"
        return self.store.trust_file()

    def renew_now(self) -> str:
        """The hub asked for a renewal whatever the certificate's age (a CA rollover)."""
        if self.trial is not None or self._pending is not None:
            return "a renewal is already under way"
        self._forced = True
        self._asked_at = None
        self.wake.set()
        return "renewal requested"

    def credentials(self) -> Credentials:
        """The pair the next connection uses: one on trial, else the one in use."""
        if self.trial is not None:
            return self.store.candidate(self.trial)
        return self.store.current()

    async def start(self) -> None:
        await asyncio.to_thread(self.store.clean)
        await self._read_current()

    async def _read_current(self) -> None:
        path = self.store.current().cert
        try:
            self.cert = await asyncio.to_thread(read_certificate, path)
        except OpensslError as exc:
            log.warning("%s: cannot read the certificate in use: %s", self.device_id, exc)
            self.cert = None

    async def request(self) -> bytes | None:
        """A request to publish now, or None when none is due."""
        now = self.clock.now()
        fraction = 1.0 if self._forced else self.policy.renew_fraction
        if self.trial is not None or not should_ask(
            cert=self.cert,
            now=now,
            fraction=fraction,
            asked_at=self._asked_at,
            retry=timedelta(seconds=self.policy.retry_s),
        ):
            return None
        if self._pending is not None:  # no answer came: a fresh key for a fresh request
            await asyncio.to_thread(self.store.discard, self._pending)
        try:
            self._pending = await asyncio.to_thread(self.store.prepare, self.device_id)
        except OpensslError as exc:
            log.warning("%s: cannot make a new key: %s", self.device_id, exc)
            self._asked_at = now
            return None
        self._request_id = secrets.token_hex(8)
        self._asked_at = now
        log.info("%s: certificate due for renewal; request %s", self.device_id, self._request_id)
        message = c.CertRequest(
            device=self.device_id, id=self._request_id, csr=self._pending.csr, ts=to_ms(now)
        )
        return c.encode(message)

    async def reply(self, payload: bytes) -> bool:
        """Handle the hub's answer; True when a new pair is ready to be tried. Raises
        ContractError for a payload that breaks the contract."""
        answer = c.decode(c.Kind.CERT, payload)
        pending = self._pending
        if pending is None or answer.id != self._request_id:
            log.info("%s: certificate answer %s to no open request", self.device_id, answer.id)
            return False
        self._pending = None
        if not answer.ok or answer.chain is None:
            self.refused += 1
            log.warning("%s: the hub refused to renew: %s", self.device_id, answer.reason)
            await asyncio.to_thread(self.store.discard, pending)
            return False
        try:
            await asyncio.to_thread(
                self.store.accept, pending, answer.chain, ca_file=self.store.trust_file()
            )
            trust = None
            if answer.trust is not None:
                trust = await asyncio.to_thread(self.store.offered_trust, pending, answer.trust)
        except CertStoreError as exc:
            log.warning("%s: renewed certificate not used: %s", self.device_id, exc)
            await asyncio.to_thread(self.store.discard, pending)
            return False
        if trust is not None:
            await asyncio.to_thread((pending.folder / "trust.crt").write_text, trust)
            log.info("%s: the hub sent a new set of trusted CAs; trying it", self.device_id)
        self._trial_trust = trust
        self.trial = pending
        log.info("%s: renewed certificate received; reconnecting with it", self.device_id)
        return True

    async def connected(self) -> None:
        """The broker accepted the pair of :meth:`credentials`: a trial pair becomes the
        one in use, and the old one is retired."""
        trial, self.trial = self.trial, None
        trust, self._trial_trust = self._trial_trust, None
        if trial is None:
            return
        if trust is not None:
            await asyncio.to_thread(self.store.keep_trust, trust)
        await asyncio.to_thread(self.store.promote, trial)
        self._forced = False
        await self._read_current()
        self.renewed += 1
        self._asked_at = None
        expires = self.cert.not_after.isoformat() if self.cert else "?"
        log.info(
            "%s: now connected with the renewed certificate (until %s)", self.device_id, expires
        )

    async def connect_failed(self) -> None:
        """The broker did not take the trial pair: keep the old one, ask again later."""
        trial, self.trial = self.trial, None
        self._trial_trust = None
        if trial is not None:
            log.warning(
                "%s: the broker refused the renewed certificate; keeping the old one",
                self.device_id,
            )
            await asyncio.to_thread(self.store.discard, trial)


def renewer_for(config: DeviceConfig, *, clock: Clock, state_dir: Path) -> Renewer | None:
    """The renewer of a pole that connects with a client certificate (and renewal on), else
    None."""
    ca_file, cert_file, key_file = (
        config.broker.ca_file,
        config.broker.cert_file,
        config.broker.key_file,
    )
    if not config.certificate.renew or ca_file is None or cert_file is None or key_file is None:
        return None
    bundle = Credentials(cert=cert_file, key=key_file, renewed=False)
    return Renewer(
        device_id=config.id,
        store=CertStore(state_dir / "certs", bundle=bundle, ca_file=ca_file),
        clock=clock,
        policy=config.certificate,
    )
