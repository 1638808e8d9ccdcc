"""`bridge dlq replay`: send dead letters through the current mappings again.

After a mapping is fixed (or Gameball's problem is gone), the records it rejected are read back
from the dead-letter topic, restored to what they were (original topic, partition, offset and
headers, from the `bridge.*` headers the bridge added), and run through the same engine: each
replayed dead letter is committed, under the group ``<group_id>-dlq-replay``, only once it is
delivered or dead-lettered again. One that fails again lands at the end of the dead-letter
topic, beyond the range being replayed, so a replay always ends.
"""

from __future__ import annotations

import asyncio

import structlog

from bridge import app
from bridge.config import BridgeConfig
from bridge.kafka.admin import offset_ranges
from bridge.kafka.consumer import KafkaSource
from bridge.kafka.dead_letter import HEADER_PREFIX
from bridge.kafka.offsets import TopicPartition
from bridge.kafka.properties import consumer_properties
from bridge.observability.stats import Counters
from bridge.record import SourceRecord

log = structlog.get_logger("bridge.replay")

REPLAY_GROUP_SUFFIX = "-dlq-replay"


def restore(record: SourceRecord) -> SourceRecord:
    """The record as it was before it was dead-lettered."""
    ours = {k: v for k, v in record.headers if k.startswith(HEADER_PREFIX) and v is not None}

    def header(name: str) -> str | None:
        value = ours.get(HEADER_PREFIX + name)
        return value.decode("utf-8", "replace") if value is not None else None

    def number(name: str, default: int) -> int:
        text = header(name)
        return int(text) if text is not None and text.lstrip("-").isdigit() else default

    return SourceRecord(
        topic=header("source.topic") or record.topic,
        partition=number("source.partition", record.partition),
        offset=number("source.offset", record.offset),
        value=record.value,
        key=record.key,
        headers=tuple((k, v) for k, v in record.headers if not k.startswith(HEADER_PREFIX)),
        timestamp_ms=record.timestamp_ms,
    )


def plan(
    config: BridgeConfig,
    *,
    from_offset: int | None = None,
    to_offset: int | None = None,
    from_ms: int | None = None,
    to_ms: int | None = None,
) -> dict[TopicPartition, tuple[int, int]]:
    """The dead-letter offsets to replay, per partition, as ``[start, end)``."""
    return offset_ranges(
        consumer_properties(config.kafka),
        config.dead_letter.topic,
        from_offset=from_offset,
        to_offset=to_offset,
        from_ms=from_ms,
        to_ms=to_ms,
    )


async def replay(
    config: BridgeConfig,
    ranges: dict[TopicPartition, tuple[int, int]],
    stop: asyncio.Event | None = None,
) -> Counters:
    """Replay `ranges` of the dead-letter topic; return when all is done or `stop` is set."""
    stop = stop or asyncio.Event()
    todo = {tp: end for tp, (start, end) in ranges.items() if end > start}
    if not todo:
        log.info("replay.nothing_to_do", topic=config.dead_letter.topic)
        return Counters()
    group = config.kafka.group_id + REPLAY_GROUP_SUFFIX
    kafka = config.kafka.model_copy(update={"group_id": group})
    bridge = app.build(
        config, source=KafkaSource(kafka, ranges={tp: ranges[tp] for tp in todo}), restore=restore
    )
    log.info(
        "replay.started",
        topic=config.dead_letter.topic,
        group=group,
        records=sum(end - ranges[tp][0] for tp, end in todo.items()),
    )

    async def until_done() -> None:
        while not stop.is_set():
            committed = bridge.committed_offsets()
            if all((committed.get(tp) or -1) >= end for tp, end in todo.items()):
                stop.set()
            await asyncio.sleep(0.2)

    watcher = asyncio.create_task(until_done())
    try:
        await bridge.run(stop)
    finally:
        watcher.cancel()
    log.info("replay.complete", **bridge.counters.snapshot())
    return bridge.counters
