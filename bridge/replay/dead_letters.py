"""`bridge dlq replay`: send dead letters through the current mappings again.

After a mapping is fixed (or Gameball's problem is gone), the records it rejected are read back
from the dead-letter topic, restored to what they were (original topic, partition, offset and
headers, from the `bridge.*` headers the bridge added), and run through the same engine: each
replayed dead letter is committed, under the group ``<group_id>-dlq-replay``, only once it is
delivered or dead-lettered again. One that fails again lands at the end of the dead-letter
topic, beyond the range being replayed, so a replay always ends. The loop itself is shared
with the source replay (`bridge.replay.ranges`).
"""

from __future__ import annotations

import asyncio
import re

from bridge.config import BridgeConfig
from bridge.kafka.admin import offset_ranges
from bridge.kafka.dead_letter_reason import HEADER_PREFIX
from bridge.kafka.properties import consumer_properties
from bridge.observability.stats import Counters
from bridge.record import SourceRecord
from bridge.replay.ranges import Ranges, replay_ranges

REPLAY_GROUP_SUFFIX = "-dlq-replay"
_INTEGER = re.compile(r"-?[0-9]+")


def restore(record: SourceRecord) -> SourceRecord:
    """The record as it was before it was dead-lettered."""
    ours = {k: v for k, v in record.headers if k.startswith(HEADER_PREFIX) and v is not None}

    def header(name: str) -> str | None:
        value = ours.get(HEADER_PREFIX + name)
        return value.decode("utf-8", "replace") if value is not None else None

    def number(name: str, default: int) -> int:
        text = header(name)
        # ASCII digits only: str.isdigit() also takes "²", and int() then raises.
        return int(text) if text is not None and _INTEGER.fullmatch(text) else default

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
) -> Ranges:
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
    ranges: Ranges,
    stop: asyncio.Event | None = None,
    force_stop: asyncio.Event | None = None,
) -> Counters:
    """Replay `ranges` of the dead-letter topic; return when all is done or `stop` is set."""
    return await replay_ranges(
        config,
        ranges,
        group=config.kafka.group_id + REPLAY_GROUP_SUFFIX,
        restore=restore,
        stop=stop,
        force_stop=force_stop,
        topic=config.dead_letter.topic,
    )
