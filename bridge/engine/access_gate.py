"""Stop all sending while Gameball refuses the keys or the account (401, 403, 6000).

Those answers are about configuration, not about records: dead-lettering would throw away
good records, and hammering Gameball helps nobody. So every request passes the gate; a denial
closes it for `retry_interval` seconds, then a single probe request goes through, and its
success opens the gate for everyone.
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

    async def enter(self) -> None:
        """Wait until a request may be sent."""
        while not self._open.is_set():
            now = time.monotonic()
            if not self._probing and now >= self._retry_at:
                self._probing = True
                return
            # Wake up at the next probe time; while a probe is out, check now and then in
            # case its lane was abandoned and someone else must probe.
            timeout = max(self._retry_at - now, 0.5)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._open.wait(), timeout)

    def succeeded(self) -> None:
        if not self._open.is_set():
            log.info("gameball.access_restored")
            self._open.set()
        self._probing = False

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
