"""Small Kafka helpers for the demo, the tests and the benchmarks: produce sample records,
read a topic back, and compare a group's committed offsets with the topic's end."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, cast

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

# librdkafka log level for these helpers: only critical lines. Their transient complaints
# (a coordinator still loading on a fresh broker) are retried by librdkafka and mean nothing.
QUIET = 2


_COORDINATOR_MOVES = {
    KafkaError.NOT_COORDINATOR,
    KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
    KafkaError.COORDINATOR_NOT_AVAILABLE,
    KafkaError._TIMED_OUT,
}


@dataclass(frozen=True, slots=True)
class ReadRecord:
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, bytes]


def produce(
    bootstrap: str,
    topic: str,
    values: Iterable[bytes | None],
    *,
    keys: Iterable[bytes | None] | None = None,
    headers: Iterable[list[tuple[str, bytes | None]]] | None = None,
    partition: int | None = None,
) -> int:
    """Produce every value (acks=all) and wait for all acknowledgements; return the count."""
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "acks": "all",
            "linger.ms": 5,
            "enable.idempotence": True,
            "log_level": QUIET,
        }
    )
    failures: list[str] = []

    def on_delivery(err: object, _msg: object) -> None:
        if err is not None:
            failures.append(str(err))

    key_iter = iter(keys) if keys is not None else None
    header_iter = iter(headers) if headers is not None else None
    count = 0
    for value in values:
        key = next(key_iter) if key_iter is not None else None
        extra: dict[str, Any] = {}
        if header_iter is not None:
            extra["headers"] = next(header_iter)
        if partition is not None:
            extra["partition"] = partition
        while True:
            try:
                producer.produce(topic, value=value, key=key, on_delivery=on_delivery, **extra)
                break
            except BufferError:
                producer.poll(0.1)
        count += 1
    remaining = producer.flush(60)
    if remaining or failures:
        raise KafkaException(f"{remaining} unflushed, failures: {failures[:3]}")
    return count


def _probe(bootstrap: str, group: str | None = None) -> Consumer:
    return Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group or f"probe-{uuid.uuid4()}",
            "enable.auto.commit": False,
            "log_level": QUIET,
        }
    )


def partitions(bootstrap: str, topic: str) -> list[int]:
    consumer = _probe(bootstrap)
    try:
        meta = consumer.list_topics(topic, timeout=10).topics[topic]
        return sorted(meta.partitions)
    finally:
        consumer.close()


def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    consumer = _probe(bootstrap)
    try:
        return {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in partitions(bootstrap, topic)
        }
    finally:
        consumer.close()


def committed_offsets(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    """The group's committed offset per partition (-1001 where it has committed nothing)."""
    consumer = _probe(bootstrap, group)
    try:
        tps = [TopicPartition(topic, p) for p in partitions(bootstrap, topic)]
        for attempt in range(20):
            try:
                return {tp.partition: tp.offset for tp in consumer.committed(tps, timeout=10)}
            except KafkaException as exc:
                # A fresh broker moves and loads group coordinators for a while: retriable.
                error = exc.args[0]
                if attempt == 19 or not (error.retriable() or error.code() in _COORDINATOR_MOVES):
                    raise
                time.sleep(0.25)
        raise AssertionError("unreachable")
    finally:
        consumer.close()


def fully_committed(bootstrap: str, group: str, topic: str) -> bool:
    """True when the group has committed every partition up to its end (an empty partition,
    with nothing to commit, counts as done)."""
    ends = end_offsets(bootstrap, topic)
    committed = committed_offsets(bootstrap, group, topic)
    return all(committed.get(p, -1) == end or end == 0 for p, end in ends.items())


def read_topic(bootstrap: str, topic: str, *, timeout: float = 10.0) -> list[ReadRecord]:
    """Every record of the topic from the beginning to its current end."""
    ends = end_offsets(bootstrap, topic)
    consumer = _probe(bootstrap)
    try:
        consumer.assign([TopicPartition(topic, p, 0) for p in ends])
        wanted = sum(ends.values())
        out: list[ReadRecord] = []
        deadline = time.monotonic() + timeout
        while len(out) < wanted and time.monotonic() < deadline:
            for msg in consumer.consume(500, 0.5):
                if msg.error() is not None:
                    continue
                raw_headers = cast(list[tuple[str, bytes | None]], msg.headers() or [])
                out.append(
                    ReadRecord(
                        partition=msg.partition() or 0,
                        offset=msg.offset() or 0,
                        key=msg.key(),
                        value=msg.value(),
                        headers={k: v for k, v in raw_headers if isinstance(v, bytes)},
                    )
                )
        return sorted(out, key=lambda r: (r.partition, r.offset))
    finally:
        consumer.close()
