"""Wire the pieces of one bridge process together and run it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog

from bridge import __version__
from bridge.config import BridgeConfig
from bridge.engine.runner import Bridge
from bridge.gameball.client import GameballClient, RequestObserver
from bridge.kafka.consumer import KafkaSource
from bridge.kafka.dead_letter import DeadLetterProducer
from bridge.mapping.mapper import Mapper
from bridge.observability.monitor import Monitor
from bridge.observability.stats import Counters
from bridge.record import SourceRecord

log = structlog.get_logger("bridge")


def build(
    config: BridgeConfig,
    *,
    observe: RequestObserver | None = None,
    source: KafkaSource | None = None,
    restore: Callable[[SourceRecord], SourceRecord] | None = None,
) -> Bridge:
    """The engine and its doors to the outside. `source` defaults to the configured topics;
    replays pass their own, with `restore` (see `bridge.replay`)."""
    mapper = Mapper(config.mappings, max_record_bytes=config.dead_letter.max_record_bytes)
    return Bridge(
        config,
        source=source or KafkaSource(config.kafka, config.subscribed_topics()),
        client=GameballClient(
            config.gameball, policy=config.delivery.retry.policy(), observe=observe
        ),
        dead_letters=DeadLetterProducer(config.kafka, config.dead_letter),
        mapper=mapper,
        restore=restore,
    )


async def run(
    config: BridgeConfig, stop: asyncio.Event, force_stop: asyncio.Event | None = None
) -> Counters:
    """Run one bridge until `stop` is set; return its final counters."""
    # Health, readiness and metrics: only when a port is configured.
    monitor = Monitor(config.observability) if config.observability.port is not None else None
    bridge = build(config, observe=monitor.observe_request if monitor else None)
    log.info(
        "bridge.started",
        version=__version__,
        topics=list(config.subscribed_topics()),
        config=config.redacted(),
    )
    if monitor is None:
        await bridge.run(stop, force_stop)
    else:
        async with monitor.serving(bridge, stop):
            await bridge.run(stop, force_stop)
    return bridge.counters
