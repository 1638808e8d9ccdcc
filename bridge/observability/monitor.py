"""Watches a running bridge: samples its status, keeps its metrics, serves the HTTP port.

    engine loop:   Monitor.run ── every SAMPLE_INTERVAL ──> Pipeline.status() ─> Snapshot
                   GameballClient ── observe(resource, status, seconds) ──> histogram, streak
                   DeadLetterProducer ── observe(topic, reason) ──> RecentDeadLetters
    HTTP thread:   /healthz, /readyz, /metrics, / (the status page) ──> the latest Snapshot,
                   the counters, the dead-letter tally (read-only)

Sampling happens on the engine's loop, so the engine's state is only ever read there; the
HTTP thread sees whole, immutable snapshots.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, Protocol

import structlog

from bridge.kafka.dead_letter_reason import DeadLetterReason
from bridge.observability.dead_letters import RecentDeadLetters
from bridge.observability.health import (
    EngineStatus,
    FailureStreak,
    ProgressWatch,
    Snapshot,
    Verdict,
    check_health,
    check_readiness,
)
from bridge.observability.http import HttpServer
from bridge.observability.metrics import Metrics
from bridge.observability.settings import ObservabilityConfig
from bridge.observability.stats import Counters
from bridge.observability.status_page import figures
from bridge.record import Resource

log = structlog.get_logger("bridge.observability")

SAMPLE_INTERVAL = 1.0


class Watched(Protocol):
    """What the monitor needs from the engine (`bridge.engine.pipeline.Pipeline`)."""

    counters: Counters

    async def status(self) -> EngineStatus: ...


class Monitor:
    def __init__(
        self,
        config: ObservabilityConfig,
        *,
        sample_interval: float = SAMPLE_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._config = config
        self._interval = sample_interval
        self._clock = clock
        self._watch = ProgressWatch()
        self._failures = FailureStreak()
        self._counters: Counters | None = None
        self._snapshot: Snapshot | None = None
        self.dead_letters = RecentDeadLetters()
        self._started = time.time()
        self.metrics = Metrics(self)
        self.port: int | None = None  # the bound port, once serving

    # -- fed by the engine's loop -------------------------------------------------------------

    def observe_request(self, endpoint: str, status: int | str, seconds: float) -> None:
        """The Gameball client's `observe` hook: one call per request, answered or not."""
        self.metrics.observe_request(endpoint, status, seconds)
        self._failures.record(status)

    def observe_job(self, resource: Resource, state: str, items: int, seconds: float) -> None:
        """The sender's batch-job hook: one call per finished (or given up) job."""
        self.metrics.observe_job(resource, state, items, seconds)

    def observe_dead_letter(self, topic: str, reason: DeadLetterReason) -> None:
        """The dead-letter producer's hook: one call per dead letter the broker acknowledged.
        Only the reason's kind, status and code are kept, and the source topic."""
        self.dead_letters.add(topic, reason.kind, reason.http_status, reason.gameball_code)

    async def run(self, bridge: Watched, stop: asyncio.Event) -> None:
        """Sample `bridge` until `stop` is set; then report it as shutting down."""
        self._counters = bridge.counters
        ready: bool | None = None
        while not stop.is_set():
            try:
                engine = await bridge.status()
            except Exception:  # a bug here must not take the bridge down
                log.exception("observability.sample_failed")
            else:
                self._snapshot = Snapshot(
                    engine,
                    gameball_failures=self._failures.count,
                    stalled_since=self._watch.update(engine),
                )
                ready = self._log_change(ready)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._interval)
        if self._snapshot is not None:
            self._snapshot = Snapshot(self._snapshot.engine, stopping=True)

    def _log_change(self, was_ready: bool | None) -> bool:
        verdict = self.readiness()
        if verdict.ok != was_ready:
            if verdict.ok:
                log.info("readiness.changed", ready=True, reasons=[])
            elif was_ready is not None:  # not ready at start-up is no news
                log.warning("readiness.changed", ready=False, reasons=list(verdict.reasons))
        return verdict.ok

    # -- read by the HTTP thread (and `Metrics`) -------------------------------------------

    def snapshot(self) -> Snapshot | None:
        return self._snapshot

    def counter_values(self) -> Mapping[str, int]:
        return self._counters.snapshot() if self._counters is not None else {}

    def health(self) -> Verdict:
        return check_health(self._snapshot, self._clock())

    def readiness(self) -> Verdict:
        return check_readiness(self._snapshot, self._clock(), stuck_after=self._config.stuck_after)

    def metrics_text(self) -> tuple[bytes, str]:
        return self.metrics.render()

    def dead_letter_totals(self) -> Mapping[tuple[str, int | None, int | None, str], int]:
        return self.dead_letters.totals()

    def status(self) -> dict[str, Any]:
        """The status page's figures (bridge/observability/status_page.py)."""
        return figures(
            snapshot=self._snapshot,
            counters=self.counter_values(),
            dead_letters=self.dead_letters.last_hour(),
            health=self.health(),
            readiness=self.readiness(),
            now=self._clock(),
            started=self._started,
        )

    # -- all of it -------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def serving(self, bridge: Watched, stop: asyncio.Event) -> AsyncIterator[Monitor]:
        """Sample `bridge` and serve the HTTP port (when configured) while in the block."""
        server: HttpServer | None = None
        if self._config.port is not None:
            server = HttpServer(_Probes(self), self._config.host, self._config.port)
            server.start()
            self.port = server.port
            log.info(
                "observability.listening",
                host=self._config.host,
                port=self.port,
                paths=["/healthz", "/readyz", "/metrics", "/", "/status.json"],
            )
        sampler = asyncio.create_task(self.run(bridge, stop), name="monitor")
        try:
            yield self
        finally:
            sampler.cancel()
            await asyncio.gather(sampler, return_exceptions=True)
            if server is not None:
                await asyncio.to_thread(server.stop)


class _Probes:
    """`Monitor` as the HTTP server's `Probes`."""

    def __init__(self, monitor: Monitor) -> None:
        self._monitor = monitor

    def health(self) -> Verdict:
        return self._monitor.health()

    def readiness(self) -> Verdict:
        return self._monitor.readiness()

    def metrics(self) -> tuple[bytes, str]:
        return self._monitor.metrics_text()

    def status(self) -> dict[str, Any]:
        return self._monitor.status()
