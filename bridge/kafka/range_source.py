"""A replay's source: fixed offset ranges ``[start, end)`` of given partitions, read from their
start without joining the group's rebalances (offsets are still committed under the replay's
group id), beside the live `KafkaSource` (bridge/kafka/consumer.py).

    assign(ranges) ──> poll: records below each range's end ──> the engine
                       └── past the end (or the position past it): the range is read through

Once a range is read through, it is done when the engine has committed past the last record
handed out from it, even if the range's last offsets held no record (`range_read_through`).
"""

from __future__ import annotations

from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka import TopicPartition as KafkaTopicPartition

from bridge.kafka.consumer import ConsumerDoor
from bridge.kafka.properties import consumer_properties, without_membership
from bridge.kafka.settings import KafkaConfig
from bridge.record import SourceRecord, TopicPartition

Ranges = dict[TopicPartition, tuple[int, int]]


class RangeSource(ConsumerDoor):
    def __init__(self, config: KafkaConfig, ranges: Ranges) -> None:
        # Assigned by hand: no group membership, so no static instance id either.
        super().__init__(without_membership(consumer_properties(config)))
        self._ranges = ranges
        # Per partition, the last record handed out, and whether the consumer has read
        # through the end of its range.
        self._last_handed_out: dict[TopicPartition, int] = {}
        self._read_through: set[TopicPartition] = set()

    def _begin(self) -> None:
        self._consumer.assign(
            [KafkaTopicPartition(t, p, start) for (t, p), (start, _end) in self._ranges.items()]
        )
        self._on_assign(self._consumer, self._consumer.assignment())

    def _before_close(self) -> None:
        # Assigned by hand: no rebalance to commit in, so the revoke is called here.
        self._on_revoke(self._consumer, self._consumer.assignment())

    async def partition_count(self) -> int:
        return len(self._ranges)

    def _take(self, record: SourceRecord) -> bool:
        tp = (record.topic, record.partition)
        end = self._ranges.get(tp, (0, 0))[1]
        if record.offset >= end:
            self._read_through.add(tp)
            return False  # past the end of the range being replayed
        self._last_handed_out[tp] = record.offset
        if record.offset == end - 1:
            self._read_through.add(tp)
        return True

    def _polled(self) -> None:
        if len(self._read_through) < len(self._ranges):
            self._note_positions_past_the_end()

    def _note_positions_past_the_end(self) -> None:
        # The last offsets of a range may hold no record to hand out: a transaction's commit
        # marker, or records compacted away. The consumer's position moves past them all the
        # same, and that is how a range that ends in them is known to be read through.
        unread = [
            KafkaTopicPartition(t, p) for (t, p) in self._ranges if (t, p) not in self._read_through
        ]
        try:
            positions: Any = self._consumer.position(unread)
        except KafkaException:
            return  # asked again after the next poll
        for tp in positions:
            end = self._ranges.get((tp.topic, tp.partition), (0, 0))[1]
            if tp.error is None and tp.offset >= end:
                self._read_through.add((tp.topic, tp.partition))

    def range_read_through(self, tp: TopicPartition) -> tuple[bool, int | None]:
        """Whether the consumer has read partition `tp` through the end of its range, and
        the offset of the last record it handed out from it (None: none)."""
        return tp in self._read_through, self._last_handed_out.get(tp)
