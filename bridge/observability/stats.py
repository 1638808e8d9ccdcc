"""Counters the engine keeps, and the periodic `stats` log line built from them."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, fields

import structlog

from bridge.observability.health import EngineStatus
from bridge.record import TopicPartition

log = structlog.get_logger("bridge.engine")


@dataclass(slots=True)
class Counters:
    received: int = 0
    delivered: int = 0  # records whose every operation Gameball accepted
    skipped: int = 0  # records that map to no operation
    done_before: int = 0  # records a previous owner delivered after its last commit
    retried: int = 0  # retries of single requests
    dead_lettered: int = 0
    requests: int = 0  # operations accepted by Gameball
    abandoned: int = 0  # dropped unfinished on revoke or shutdown (redelivered later)
    rate_limit_waits: int = 0  # requests that waited for the client-side rate limit
    # Operations sent again after an attempt whose outcome was unknown (a batch item without
    # a certain outcome, a failed or timed-out job, a timed-out request): each may be a
    # duplicate at Gameball. The duplicate risk an operator watches.
    resent_unknown: int = 0

    def snapshot(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def since(self, earlier: dict[str, int]) -> dict[str, int]:
        return {name: value - earlier.get(name, 0) for name, value in self.snapshot().items()}


async def log_stats_periodically(
    counters: Counters, status: Callable[[], Awaitable[EngineStatus]], interval: float
) -> None:
    """Every `interval` seconds, one `stats` line: the counters' change since the last one,
    and the engine's state (its `status()`, the same figures health checks and /metrics
    read, so lag is computed in one place)."""
    last = counters.snapshot()
    batches_before: dict[str, int] = {}
    while True:
        await asyncio.sleep(interval)
        delta = counters.since(last)
        last = counters.snapshot()
        engine = await status()
        committed = {tp: p.committed for tp, p in engine.partitions.items()}
        lag = {tp: p.lag for tp, p in engine.partitions.items() if p.lag is not None}
        log.info(
            "stats",
            interval_s=interval,
            **delta,
            delivered_per_s=round(delta["delivered"] / interval, 1),
            in_flight=engine.in_flight,
            in_flight_bytes=engine.in_flight_bytes,
            held_for_schema=engine.held_for_schema,
            lanes=engine.lanes,
            gameball_open=engine.gameball_open,
            committed=partition_names(committed),
            lag=partition_names(lag),
            total_lag=sum(lag.values()),
            modes=engine.sender.modes,
            **_batch_delta(engine, batches_before),
        )
        batches_before = dict(engine.sender.batches)


def partition_names(
    offsets: dict[TopicPartition, int] | dict[TopicPartition, int | None],
) -> dict[str, int | None]:
    """``{"topic[partition]": value}``: partitions as log lines name them."""
    return {f"{t}[{p}]": o for (t, p), o in offsets.items()}


def _batch_delta(engine: EngineStatus, before: dict[str, int]) -> dict[str, object]:
    """The batch counters' change since the last line (jobs_pending: as it is now), or
    nothing while no batch was ever sent."""
    now = engine.sender.batches
    if not now.get("batches_sent") and not now.get("jobs_pending"):
        return {}
    delta = {k: v - before.get(k, 0) for k, v in now.items()}
    sent, items = delta.get("batches_sent", 0), delta.get("batch_items", 0)
    return {
        **delta,
        "jobs_pending": now.get("jobs_pending", 0),
        "items_per_batch": round(items / sent, 1) if sent else None,
        "batch_items_failed_by_reason": engine.sender.batch_items_failed_by_reason,
    }
