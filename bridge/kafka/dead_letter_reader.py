"""The dead-letter topic read by a person's command (`bridge dlq show`, a replay's dry run):
by assignment, joining no consumer group and committing nothing, so reading changes nothing.

    DeadLetterReader.plan(bounds) ──> {partition: [start, end)}   (offsets, or times looked up)
    DeadLetterReader.records(plan) ──> SourceRecord, ..., CAUGHT_UP, (with follow:) new ones

The reader holds at most one fetched batch (`BATCH` records) besides librdkafka's capped
read-ahead; whoever iterates keeps what it needs (a summary, not a list), so a topic of any
size is read in bounded memory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final

from confluent_kafka import Consumer, KafkaException
from confluent_kafka import TopicPartition as KafkaTopicPartition

from bridge.errors import KafkaClientError
from bridge.kafka.admin import offset_ranges
from bridge.kafka.consumer import to_record
from bridge.kafka.properties import consumer_properties, without_membership
from bridge.kafka.settings import KafkaConfig
from bridge.record import SourceRecord, TopicPartition

READER_GROUP_SUFFIX = "-dlq-reader"  # never joined, never committed to
BATCH = 500
POLL_TIMEOUT = 0.5
# Consumer properties that only make sense for a member of a group; this reader is none.
_GROUP_ONLY = ("group.id", "group.protocol", "partition.assignment.strategy", "session.timeout.ms")


class _CaughtUp:
    """Yielded once every partition has been read to the end of its planned range."""

    def __repr__(self) -> str:
        return "CAUGHT_UP"


CAUGHT_UP: Final = _CaughtUp()

Plan = dict[TopicPartition, tuple[int, int]]


@dataclass(frozen=True, slots=True)
class Bounds:
    """Which part of the topic to read: offsets (the same for every partition, inclusive) and
    times (epoch ms, inclusive: looked up per partition by the records' timestamps)."""

    from_offset: int | None = None
    to_offset: int | None = None
    from_ms: int | None = None
    to_ms: int | None = None

    @property
    def open_ended(self) -> bool:
        return self.to_offset is None and self.to_ms is None


class DeadLetterReader:
    def __init__(self, kafka: KafkaConfig, topic: str) -> None:
        self.topic = topic
        props = without_membership(consumer_properties(kafka))
        self._lookup_props = props
        # Partitions are assigned by hand and nothing is ever committed, so the group id the
        # client insists on is never joined and never appears on the cluster: a running
        # bridge or replay is not disturbed.
        self._props: dict[str, Any] = {k: v for k, v in props.items() if k not in _GROUP_ONLY}
        self._props["group.id"] = f"{kafka.group_id}{READER_GROUP_SUFFIX}"
        self._props["enable.auto.commit"] = False
        self._consumer: Any = None
        self.read = 0  # records handed out so far

    def plan(self, bounds: Bounds = Bounds()) -> Plan:
        """Per partition, the offsets ``[start, end)`` to read now. Raises `KafkaClientError`."""
        return offset_ranges(
            self._lookup_props,
            self.topic,
            from_offset=bounds.from_offset,
            to_offset=bounds.to_offset,
            from_ms=bounds.from_ms,
            to_ms=bounds.to_ms,
        )

    def records(
        self,
        plan: Plan,
        *,
        follow: bool = False,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> Iterator[SourceRecord | _CaughtUp]:
        """The records of `plan` in each partition's order, then `CAUGHT_UP`; with `follow`,
        then every record written after the plan's ends, as it arrives, until `should_stop`
        says so (asked between polls, at least every `POLL_TIMEOUT` seconds). Raises
        `KafkaClientError`."""
        ends = {tp: end for tp, (_start, end) in plan.items()}
        todo = {tp for tp, (start, end) in plan.items() if end > start}
        try:
            self._consumer = Consumer(self._props)
            self._consumer.assign(
                [KafkaTopicPartition(t, p, start) for (t, p), (start, _end) in plan.items()]
            )
            # Records past a partition's end that arrive in the same batch as its last ones:
            # handed out after CAUGHT_UP when following, dropped otherwise (at most a batch).
            later: list[SourceRecord] = []
            while todo and not should_stop():
                got = self._poll()
                for record in got:
                    tp = (record.topic, record.partition)
                    if record.offset >= ends.get(tp, 0):
                        todo.discard(tp)
                        if follow:
                            later.append(record)
                        continue
                    if record.offset == ends[tp] - 1:
                        todo.discard(tp)
                    self.read += 1
                    yield record
                if not got and todo:
                    todo -= self._read_through(todo, ends)
            if should_stop():
                return
            yield CAUGHT_UP
            if not follow:
                return
            for record in later:
                self.read += 1
                yield record
            while not should_stop():
                for record in self._poll():
                    self.read += 1
                    yield record
        except KafkaException as exc:
            raise KafkaClientError(f"cannot read {self.topic}: {exc.args[0]}") from exc
        finally:
            self.close()

    def _poll(self) -> list[SourceRecord]:
        out = []
        for msg in self._consumer.consume(num_messages=BATCH, timeout=POLL_TIMEOUT):
            err = msg.error()
            if err is None:
                out.append(to_record(msg))
            elif err.fatal():
                raise KafkaClientError(f"cannot read {self.topic}: {err.str()}")
        return out

    def _read_through(
        self, todo: set[TopicPartition], ends: dict[TopicPartition, int]
    ) -> set[TopicPartition]:
        """The partitions of `todo` whose position has passed their end although their last
        offsets handed out no record (a transaction marker, compacted records)."""
        positions = self._consumer.position([KafkaTopicPartition(t, p) for t, p in todo])
        return {
            (tp.topic, tp.partition)
            for tp in positions
            if tp.error is None and tp.offset >= ends[(tp.topic, tp.partition)]
        }

    def close(self) -> None:
        if self._consumer is not None:
            consumer, self._consumer = self._consumer, None
            consumer.close()
