"""`bridge dlq replay`: send dead letters through the current mappings again.

After a mapping is fixed (or Gameball's problem is gone), the records it rejected are read back
from the dead-letter topic, restored to what they were (original topic, partition, offset and
headers, from the `bridge.*` headers the bridge added), and run through the same engine: each
replayed dead letter is committed, under the group ``<group_id>-dlq-replay``, only once it is
delivered or dead-lettered again. One that fails again lands at the end of the dead-letter
topic, beyond the range being replayed, so a replay always ends. The loop itself is shared
with the source replay (`bridge.replay.ranges`).

    dead-letter topic ──> Selection (filters, loop guard) ──> restore ──> engine
                               └── the rest: read past, not sent, still on the topic

A selective replay sends only the dead letters its `Filters` match (bridge/dlq/filters.py).
The loop guard holds back a dead letter whose replays have already failed
`max_failed_replays` times in a row for the same reason (bridge/dlq/letters.py says how the
`bridge.replay.*` headers count it), unless `force` is set.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import structlog

from bridge.config import BridgeConfig
from bridge.dlq.filters import Filters
from bridge.dlq.letters import MappingNames, read_dead_letter, replay_headers
from bridge.kafka.admin import offset_ranges
from bridge.kafka.dead_letter_reason import HEADER_PREFIX
from bridge.kafka.properties import consumer_properties
from bridge.observability.stats import Counters
from bridge.record import SourceRecord
from bridge.replay.ranges import Ranges, replay_ranges

log = structlog.get_logger("bridge.replay")

DLQ_REPLAY_GROUP_SUFFIX = "-dlq-replay"
# Replays in a row that may fail for the same reason before the loop guard holds a dead
# letter back: the third replay of a record that keeps failing does not happen.
MAX_FAILED_REPLAYS = 2


def restore(record: SourceRecord) -> SourceRecord:
    """The record as it was before it was dead-lettered, with the loop guard's headers
    (`bridge.replay.reason`, `bridge.replay.failures`) in place of the bridge's others: if it
    fails again, its next dead letter carries them and says how often it has failed so."""
    letter = read_dead_letter(record)
    own = tuple((k, v) for k, v in record.headers if not k.startswith(HEADER_PREFIX))
    return SourceRecord(
        topic=letter.source_topic or record.topic,
        partition=_or(letter.source_partition, record.partition),
        offset=_or(letter.source_offset, record.offset),
        value=record.value,
        key=record.key,
        headers=own + replay_headers(letter),
        timestamp_ms=record.timestamp_ms,
    )


def _or(value: int | None, default: int) -> int:
    return default if value is None else value


@dataclass
class Selection:
    """Which dead letters a replay sends: those `filters` match, less those the loop guard
    holds back. Called with each dead letter as read; counts what it decided."""

    filters: Filters
    mapping_of: MappingNames
    max_failed_replays: int = MAX_FAILED_REPLAYS
    force: bool = False
    chosen: int = 0
    not_matching: int = 0
    held_back: int = 0
    held_back_by_kind: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        config: BridgeConfig,
        filters: Filters | None = None,
        *,
        max_failed_replays: int = MAX_FAILED_REPLAYS,
        force: bool = False,
    ) -> Selection:
        return cls(filters or Filters(), MappingNames(config.mappings), max_failed_replays, force)

    def __call__(self, record: SourceRecord) -> bool:
        return self.decide(record) == "replay"

    def decide(self, record: SourceRecord) -> str:
        """``replay``, ``not_matching`` or ``held_back``."""
        letter = read_dead_letter(record)
        if not self.filters.matches(letter, self.mapping_of(letter.source_topic)):
            self.not_matching += 1
            return "not_matching"
        if letter.failed_again >= self.max_failed_replays and not self.force:
            self.held_back += 1
            self.held_back_by_kind[letter.kind] = self.held_back_by_kind.get(letter.kind, 0) + 1
            return "held_back"
        self.chosen += 1
        return "replay"

    def context(self) -> dict[str, object]:
        """What this selection is, for the replay's log lines."""
        return {
            "filters": self.filters.describe(),
            "max_failed_replays": self.max_failed_replays,
            "force": self.force,
        }

    def counts(self) -> dict[str, object]:
        return {
            "chosen": self.chosen,
            "not_matching": self.not_matching,
            "held_back": self.held_back,
            "held_back_by_kind": dict(sorted(self.held_back_by_kind.items())),
        }


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
    *,
    selection: Selection | None = None,
) -> Counters:
    """Replay the dead letters of `ranges` that `selection` keeps (default: every one the
    loop guard lets through); return when all is done or `stop` is set."""
    selection = selection or Selection.of(config)
    counters = await replay_ranges(
        config,
        ranges,
        group=config.kafka.group_id + DLQ_REPLAY_GROUP_SUFFIX,
        restore=restore,
        select=selection,
        stop=stop,
        force_stop=force_stop,
        topic=config.dead_letter.topic,
        **selection.context(),
    )
    log.info(
        "dlq_replay.selected",
        topic=config.dead_letter.topic,
        **selection.context(),
        **selection.counts(),
    )
    return counters
