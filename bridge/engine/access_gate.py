"""Stop all sending while Gameball refuses the keys or the account (401, 403, 6000).

Those answers are about configuration, not about records: dead-lettering would throw away
good records, and hammering Gameball helps nobody. So every request passes the gate; a denial
closes it for `retry_interval` seconds, then a single probe request goes through: any answer
that is not a denial (a success, or a rejection of the record itself, which Gameball gives only
after accepting the keys) opens the gate for everyone; a probe without a verdict (a timeout, a
5xx, an abandoned lane) hands the probe on after another `retry_interval`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import structlog

from bridge.errors import GameballAccessError

log = structlog.get_logger("bridge.gameball")


class AccessGate:
    def __init__(self, retry_interval: float) -> None:
        self._retry_interval = retry_interval
        self._open = asyncio.Event()
        self._open.set()
        self._retry_at = 0.0
        self._probing = False

    @property
    def is_open(self) -> bool:
        return self._open.is_set()

    async def enter(self) -> bool:
        """Wait until a request may be sent. True: this request is the probe of a closed
        gate, and its caller must end it with `succeeded`, `denied` or `probe_ended`."""
        while not self._open.is_set():
            now = time.monotonic()
            if not self._probing and now >= self._retry_at:
                self._probing = True
                return True
            # Wake up at the next probe time, or, while a probe is out, now and then: the
            # gate may have opened without waking us (it does, but a timeout costs nothing).
            timeout = max(self._retry_at - now, 0.5)
            # Not `wait_for`: on Python 3.11 it swallows a cancellation that comes in the turn
            # the gate opens, and the cancelled request would then be sent after all.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._open.wait()
        return False

    def succeeded(self) -> None:
        """Gameball accepted the keys (it answered, and not with a denial)."""
        if not self._open.is_set():
            log.info("gameball.access_restored")
            self._open.set()
        self._probing = False

    def probe_ended(self, *, sent: bool) -> None:
        """The probe ended without a verdict on the keys: a timeout, a 5xx, a 429, or its lane
        abandoned. Without this the gate would wait for that verdict forever. A probe that
        reached the wire waits `retry_interval` before the next one, as after a denial; one
        that was never sent (its partition was revoked) is handed on at once."""
        if self._probing:
            self._probing = False
            if sent:
                self._retry_at = time.monotonic() + self._retry_interval

    def denied(self, error: GameballAccessError) -> None:
        if self._open.is_set():
            log.error(
                "gameball.access_denied",
                status=error.status,
                code=error.code,
                error=error.message,
                retry_in=self._retry_interval,
                action="sending stopped; records are kept and retried, none is dead-lettered",
            )
        self._open.clear()
        self._probing = False
        self._retry_at = time.monotonic() + self._retry_interval
