"""`bridge replay`: send a time window of the source topics through the engine again.

A backfill after an incident (Gameball lost data, a mapping was wrong and its output needs
sending again): the records whose offsets fall between the first record at or after `from`
and the first record at or after `to` are read again, per partition, and go through the same
engine as `bridge run`, committed under ``<group_id>-replay``; the live group's offsets are
never touched. The window's end is fixed when the replay starts, so a replay of a live topic
ends. Records that fail are dead-lettered as usual.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from datetime import UTC, datetime

from bridge.config import BridgeConfig
from bridge.errors import ConfigError
from bridge.kafka.admin import describe_topics, offset_ranges
from bridge.kafka.properties import consumer_properties
from bridge.observability.stats import Counters
from bridge.replay.ranges import Ranges, replay_ranges

# `bridge replay` (a time window of the source topics) consumes under <group_id>-replay; the
# dead-letter replay has its own group and suffix (bridge/replay/dead_letters.py).
WINDOW_REPLAY_GROUP_SUFFIX = "-replay"


def check_window(from_ms: int, to_ms: int | None) -> None:
    """Refuse a window that ends before it starts (``[from, to)``: equal bounds are empty)."""
    if to_ms is not None and to_ms <= from_ms:
        raise ConfigError(
            f"--to {_iso(to_ms)} is not later than --from {_iso(from_ms)}: "
            "the window [from, to) would be empty or backwards"
        )


def topics_to_replay(config: BridgeConfig, requested: Sequence[str] = ()) -> list[str]:
    """The topic names to replay: `requested`, each of which the config must subscribe to,
    or else every subscribed topic, with patterns (``^...``) resolved against the cluster's
    topic list now. Raises `ConfigError` for a topic that is not subscribed or does not exist,
    `KafkaClientError` when the cluster cannot be reached."""
    subscribed = config.subscribed_topics()
    dead_letters = config.dead_letter.topic
    for name in requested:
        if name == dead_letters:
            raise ConfigError(
                f"{name} is the dead-letter topic; replay it with `bridge dlq replay`"
            )
        if not _subscribed(name, subscribed):
            raise ConfigError(
                f"--topic {name} is not among the topics the config subscribes to "
                f"({', '.join(subscribed)}); its records would have no mapping"
            )
    specs = list(dict.fromkeys(requested)) or list(subscribed)
    found = describe_topics(consumer_properties(config.kafka), specs)
    missing = [spec for spec in specs if not found[spec]]
    if missing:
        hint = "" if requested else " (--topic chooses which of the subscribed topics to replay)"
        raise ConfigError(f"no such topic on the cluster: {', '.join(missing)}{hint}")
    names: dict[str, None] = {}
    for spec in specs:
        # A pattern may match the dead-letter topic too (``^app.*`` and ``app-dlq``); its
        # records are dead letters, which only `bridge dlq replay` knows how to restore.
        names.update(dict.fromkeys(name for name in found[spec] if name != dead_letters))
    return list(names)


def _subscribed(name: str, subscribed: Sequence[str]) -> bool:
    # The same test as the mappings' topic matching (bridge.mapping.rules).
    return any(
        re.match(spec, name) if spec.startswith("^") else spec == name for spec in subscribed
    )


def plan(config: BridgeConfig, topics: Sequence[str], from_ms: int, to_ms: int | None) -> Ranges:
    """Per partition of `topics`, the offsets ``[start, end)`` of the window: from the first
    record timestamped at or after `from_ms` to the first at or after `to_ms` (or the
    partition's end now, when `to_ms` is None). Kafka looks offsets up by time, so with
    producer timestamps out of order the window is the offsets between those two records."""
    check_window(from_ms, to_ms)
    props = consumer_properties(config.kafka)
    ranges: Ranges = {}
    for topic in topics:
        # offset_ranges' `to_ms` is inclusive (the dead-letter replay's --to-time); this
        # window is half-open so that back-to-back windows never send a record twice.
        ranges.update(
            offset_ranges(props, topic, from_ms=from_ms, to_ms=None if to_ms is None else to_ms - 1)
        )
    return ranges


async def replay(
    config: BridgeConfig,
    ranges: Ranges,
    *,
    from_ms: int,
    to_ms: int | None = None,
    stop: asyncio.Event | None = None,
    force_stop: asyncio.Event | None = None,
) -> Counters:
    """Replay `ranges` of the source topics; return when all is done or `stop` is set."""
    return await replay_ranges(
        config,
        ranges,
        group=config.kafka.group_id + WINDOW_REPLAY_GROUP_SUFFIX,
        stop=stop,
        force_stop=force_stop,
        topics=sorted({topic for topic, _partition in ranges}),
        from_time=_iso(from_ms),
        to_time=None if to_ms is None else _iso(to_ms),
    )


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")
