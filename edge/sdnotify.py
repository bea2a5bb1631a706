"""systemd notifications (``sd_notify``) without a dependency: one datagram per message.

``READY=1`` once the agent runs, ``WATCHDOG=1`` from the main loop at least every
``WatchdogSec/2`` (systemd tells the interval in ``WATCHDOG_USEC``), ``STOPPING=1`` on the
way out. Outside systemd (no ``NOTIFY_SOCKET``) every call is a no-op.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Mapping

log = logging.getLogger(__name__)


class Notifier:
    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET", "")
        if address.startswith("@"):  # abstract namespace socket
            address = "\0" + address[1:]
        self._address = address or None
        usec = env.get("WATCHDOG_USEC", "")
        self._every_s = int(usec) / 2e6 if usec.isdigit() and int(usec) > 0 else 5.0
        self._last = 0.0
        self._sock: socket.socket | None = None

    @property
    def enabled(self) -> bool:
        return self._address is not None

    def notify(self, message: str) -> None:
        if self._address is None:
            return
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.sendto(message.encode(), self._address)
        except OSError as exc:  # systemd gone (shutdown): nothing to tell
            log.debug("sd_notify %s failed: %s", message, exc)

    def ready(self) -> None:
        self.notify("READY=1")

    def stopping(self) -> None:
        self.notify("STOPPING=1")

    def watchdog(self) -> None:
        """Keep-alive, rate-limited to half the watchdog interval; cheap to call often."""
        now = time.monotonic()
        if now - self._last >= self._every_s:
            self._last = now
            self.notify("WATCHDOG=1")
