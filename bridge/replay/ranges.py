"""Run fixed offset ranges through the engine under a group of their own, until all are done.

Both replays are this one loop: `bridge dlq replay` over a range of the dead-letter topic,
`bridge replay` over a time window of the source topics. The records go through the same
engine as `bridge run` (mappings, lanes, retries, rate limits, dead letters); each range is
read from its start, whatever the group committed before, and the replay ends once the engine
has committed every range up to its end (or when `stop` is set).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import structlog

from bridge import app
from bridge.config import BridgeConfig
from bridge.gameball.tls import log_insecure_transport
from bridge.kafka.range_source import RangeSource
from bridge.kafka.settings import KafkaConfig
from bridge.observability.stats import Counters
from bridge.record import OffsetCommit, SourceRecord, TopicPartition

log = structlog.get_logger("bridge.replay")

Ranges = dict[TopicPartition, tuple[int, int]]

# How often the engine's committed offsets are compared with the ends of the ranges.
DONE_CHECK_INTERVAL = 0.2


class _RangeSource(RangeSource):
    """A `RangeSource` that remembers what the broker accepted: the engine's
    own record of its commits is dropped when it releases the partitions at close, and the
    final line needs it to say how much of each range was left.

    With `select`, the engine is handed only the records it keeps (a selective dead-letter
    replay); the others are read past and never sent, and a range is done once the last
    record handed out is committed."""

    def __init__(
        self,
        config: KafkaConfig,
        ranges: Ranges,
        select: Callable[[SourceRecord], bool] | None = None,
    ) -> None:
        super().__init__(config, ranges)
        self.committed: dict[TopicPartition, int] = {}
        self._select = select
        self._last_kept: dict[TopicPartition, int] = {}

    async def poll(self, max_records: int, timeout: float) -> list[SourceRecord]:
        records = await super().poll(max_records, timeout)
        if self._select is None:
            return records
        kept = [record for record in records if self._select(record)]
        for record in kept:
            self._last_kept[record.topic, record.partition] = record.offset
        return kept

    def range_read_through(self, tp: TopicPartition) -> tuple[bool, int | None]:
        read_through, last = super().range_read_through(tp)
        return read_through, last if self._select is None else self._last_kept.get(tp)

    async def commit(
        self, offsets: dict[TopicPartition, OffsetCommit]
    ) -> dict[TopicPartition, OffsetCommit]:
        accepted = await super().commit(offsets)
        for tp, done in accepted.items():
            self.committed[tp] = max(done.offset, self.committed.get(tp, done.offset))
        return accepted


async def replay_ranges(
    config: BridgeConfig,
    ranges: Ranges,
    *,
    group: str,
    restore: Callable[[SourceRecord], SourceRecord] | None = None,
    select: Callable[[SourceRecord], bool] | None = None,
    stop: asyncio.Event | None = None,
    force_stop: asyncio.Event | None = None,
    **context: Any,
) -> Counters:
    """Send the records of `ranges` (``[start, end)`` per partition) through the engine,
    committing under `group`; return its counters once every range is committed to its end,
    or once `stop` is set (`force_stop` cuts the drain short, as in `bridge run`). `select`
    (as fetched, before `restore`) keeps the records to send; the rest are passed over.

    `context` (what is being replayed) goes into every `replay.*` log line."""
    stop = stop or asyncio.Event()
    todo = {tp: (start, end) for tp, (start, end) in ranges.items() if end > start}
    if not todo:
        log.info("replay.nothing_to_do", group=group, **context)
        return Counters()
    kafka = config.kafka.model_copy(update={"group_id": group})
    # The consumer assigns each partition at its range start by hand, so an earlier replay's
    # commits under `group` (of this window or an overlapping one) do not shorten this one:
    # a replay is an explicit request to send the range again. The group is still fixed, not
    # one per run, so that its progress can be watched like any consumer group's lag.
    source = _RangeSource(kafka, todo, select)
    bridge = app.build(config, source=source, restore=restore)
    log.info(
        "replay.started",
        group=group,
        partitions=_names(todo),
        records=sum(end - start for start, end in todo.values()),
        **context,
    )
    # As `bridge run` does at every start: a replay posts to Gameball just the same.
    log_insecure_transport(config.gameball.base_url, config.gameball.tls)

    def remaining() -> dict[str, int]:
        """Per partition not finished yet, the offsets this run has not committed past (an
        earlier run's commits do not count)."""
        left = {}
        for (t, p), (start, end) in todo.items():
            position = max(source.committed.get((t, p), start), start)
            if position >= end:
                continue
            # A range whose last offsets hold no record (transaction markers, compacted
            # records) is never committed to its end: it is done once the consumer has read
            # past its end and every record it handed out is committed.
            read_through, last = source.range_read_through((t, p))
            if read_through and (last is None or position > last):
                continue
            left[f"{t}[{p}]"] = end - position
        return left

    async def stop_when_done() -> None:
        while not stop.is_set():
            if not remaining():
                stop.set()
            await asyncio.sleep(DONE_CHECK_INTERVAL)

    watcher = asyncio.create_task(stop_when_done(), name="replay-done")
    try:
        await bridge.run(stop, force_stop)
    finally:
        watcher.cancel()
    left = remaining()
    log.info(
        "replay.complete",
        group=group,
        finished=not left,
        remaining=left,
        **context,
        **bridge.counters.snapshot(),
    )
    return bridge.counters


def _names(ranges: Ranges) -> dict[str, list[int]]:
    return {f"{t}[{p}]": [start, end] for (t, p), (start, end) in sorted(ranges.items())}
