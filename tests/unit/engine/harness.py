"""The engine under test: a Pipeline over a scripted Kafka source (tests.support.FakeSource)
and Gameball behind httpx.MockTransport, run for the length of a block. What the engine's
test modules share, rather than each building its own near-copy."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import orjson

from bridge.config import parse_config
from bridge.engine.journal import JobJournal
from bridge.engine.pipeline import Pipeline
from bridge.gameball.sender import GameballSender
from bridge.mapping.mapper import Mapper
from bridge.record import SourceRecord
from tests.support import FakeDeadLetters, FakeSource

Handler = Callable[[httpx.Request], Awaitable[httpx.Response]]

# One mapping: an event named by the record's `type`, for the customer `user.id`, with `n`.
MAPPING = {
    "name": "m",
    "topics": ["t"],
    "event": {"customer_id": "user.id", "name": {"path": "type"}, "metadata": {"n": "n"}},
}


def rec(partition: int, offset: int, customer: str, name: str = "e") -> SourceRecord:
    value = orjson.dumps({"user": {"id": customer}, "type": name, "n": offset})
    return SourceRecord("t", partition, offset, value)


async def ok(_request: httpx.Request) -> httpx.Response:
    return httpx.Response(200)


def build(
    source: FakeSource,
    handler: Handler,
    *,
    journal: JobJournal | None = None,
    gameball: dict[str, Any] | None = None,
    **delivery: Any,
) -> tuple[Pipeline, FakeDeadLetters]:
    """The engine with `delivery` settings over the defaults (commits every 10 ms); Gameball's
    batch API only when `batch` is among them (else single calls)."""
    config = parse_config(
        {
            "kafka": {"bootstrap_servers": "unused:9092"},
            "gameball": {"base_url": "https://gb.test", "api_key": "k", **(gameball or {})},
            "dead_letter": {"topic": "dlq"},
            "delivery": {"commit_interval": 0.01, "drain_timeout": 5, **delivery},
            "mappings": [MAPPING],
        },
        env={},
    )
    dead = FakeDeadLetters()
    bridge = Pipeline(
        config.delivery,
        source=source,
        sender=GameballSender(
            config.gameball,
            transport=httpx.MockTransport(handler),
            batch=config.delivery.batching() if "batch" in delivery else None,
        ),
        dead_letters=dead,
        mapper=Mapper(config.mappings, max_record_bytes=10_000),
        stats_interval=config.logging.stats_interval,
        journal=journal,
    )
    return bridge, dead


@contextlib.asynccontextmanager
async def running(bridge: Pipeline) -> AsyncIterator[None]:
    """The bridge's loop in a task for the length of the block, then stopped and drained."""
    stop = asyncio.Event()
    task = asyncio.create_task(bridge.run(stop))
    try:
        yield
    finally:
        stop.set()
        await task


async def until(condition: Callable[[], bool], timeout: float = 5) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.005)


async def run_until(bridge: Pipeline, condition: Callable[[], bool], timeout: float = 5) -> None:
    async with running(bridge):
        await until(condition, timeout)
