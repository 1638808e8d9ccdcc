"""The batch-job journal's door: a compacted Kafka topic, keyed by Gameball's job id, that
says which records a batch job carries while its outcome is not yet committed.

    a job is created ──> write(job_id, entry)      (the entry: bytes the engine wrote)
    its records are committed ──> forget(job_id)   (a tombstone: compaction drops the entry)
    a partition is taken over ──> read()           (every entry not forgotten)

A process killed with jobs pending leaves their entries behind: the partitions' next owner
reads them and asks Gameball what those jobs did before sending their records again
(bridge/engine/journal.py), so a crash repeats only what was truly in the air. What an entry
says is the engine's business; this module only moves bytes.

Writes are not waited for: a job's create call has answered already, so waiting would not
make the job less likely to have landed, it would only slow the sender. The window this
leaves (a kill between the create call's answer and the broker's acknowledgement, a few
milliseconds) is counted among the items in the air.
"""

from __future__ import annotations

import threading
import time

import structlog
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer
from confluent_kafka import TopicPartition as KafkaTopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from bridge.errors import KafkaClientError
from bridge.kafka.admin import admin_properties
from bridge.kafka.properties import consumer_properties, producer_properties, without_membership
from bridge.kafka.settings import DeadLetterConfig, KafkaConfig

log = structlog.get_logger("bridge.kafka")

# The topic's own settings: compacted, and cleaned often, so that a read at a takeover reads
# little more than the jobs still pending.
TOPIC_CONFIG = {
    "cleanup.policy": "compact",
    "segment.ms": str(10 * 60 * 1000),
    "min.cleanable.dirty.ratio": "0.1",
    "delete.retention.ms": str(60 * 60 * 1000),
}
READ_TIMEOUT = 30.0


class JobJournalTopic:
    """Writes and reads the journal topic (one partition: the entries are few, and a reader
    must see them all)."""

    def __init__(self, kafka: KafkaConfig, topic: str) -> None:
        self.topic = topic
        self._kafka = kafka
        self._producer = Producer(
            {
                **producer_properties(kafka, DeadLetterConfig(topic=topic)),
                "linger.ms": 2,
                "compression.type": "lz4",
            }
        )
        self._closed = threading.Event()
        self._failures = 0
        self._poller = threading.Thread(target=self._poll, name="job-journal", daemon=True)
        self._poller.start()

    def ensure_topic(self, timeout: float = READ_TIMEOUT) -> None:
        """Create the topic (compacted, the cluster's replication factor) unless it exists."""
        admin = AdminClient(admin_properties(consumer_properties(self._kafka)))
        try:
            if self.topic in admin.list_topics(timeout=timeout).topics:
                return
            new = NewTopic(self.topic, num_partitions=1, replication_factor=-1, config=TOPIC_CONFIG)
            [future] = admin.create_topics([new], operation_timeout=timeout).values()
            future.result(timeout)
        except KafkaException as exc:
            error = exc.args[0]
            if isinstance(error, KafkaError) and error.code() == KafkaError.TOPIC_ALREADY_EXISTS:
                return
            raise KafkaClientError(
                f"cannot create the batch-job journal topic {self.topic}: {error}"
            ) from exc
        log.info("job_journal.topic_created", topic=self.topic)

    def _poll(self) -> None:
        while not self._closed.is_set():
            self._producer.poll(0.1)

    def write(self, job_id: int, entry: bytes) -> None:
        self._produce(str(job_id).encode(), entry)

    def forget(self, job_id: int) -> None:
        self._produce(str(job_id).encode(), None)

    def _produce(self, key: bytes, value: bytes | None) -> None:
        try:
            self._producer.produce(self.topic, value, key=key, on_delivery=self._delivered)
        except (KafkaException, BufferError) as exc:
            self._failed(str(exc))

    def _delivered(self, err: KafkaError | None, _msg: Message) -> None:
        if err is not None:
            self._failed(err.str())

    def _failed(self, error: str) -> None:
        # Not fatal: without the entry, a crash repeats that job's items (as before the
        # journal); with a tombstone lost, the entry is read and asked about once too often.
        self._failures += 1
        log.warning("job_journal.write_failed", topic=self.topic, error=error)

    def read(self, timeout: float = READ_TIMEOUT) -> dict[int, bytes]:
        """Every entry not forgotten: job id -> entry. Blocking (run it off the loop)."""
        consumer = Consumer(
            {
                **without_membership(consumer_properties(self._kafka)),
                "group.id": f"{self._kafka.group_id}-journal-reader",
                "enable.auto.commit": False,
                "enable.partition.eof": True,
            }
        )
        entries: dict[int, bytes] = {}
        try:
            low, high = consumer.get_watermark_offsets(
                KafkaTopicPartition(self.topic, 0), timeout=timeout
            )
            if high <= low:
                return {}
            consumer.assign([KafkaTopicPartition(self.topic, 0, low)])
            deadline = time.monotonic() + timeout
            position = low
            while position < high:
                if time.monotonic() > deadline:
                    raise KafkaClientError(
                        f"reading the batch-job journal {self.topic} took over {timeout:g} s"
                    )
                for msg in consumer.consume(num_messages=500, timeout=0.5):
                    err = msg.error()
                    if err is not None:
                        if err.code() == KafkaError._PARTITION_EOF:
                            position = high
                            continue
                        raise KafkaClientError(f"reading the batch-job journal: {err.str()}")
                    position = (msg.offset() or 0) + 1
                    key = msg.key()
                    if not key or not key.isdigit():
                        continue
                    value = msg.value()
                    if value is None:
                        entries.pop(int(key), None)
                    else:
                        entries[int(key)] = value
        except KafkaException as exc:
            raise KafkaClientError(f"reading the batch-job journal: {exc.args[0]}") from exc
        finally:
            consumer.close()
        return entries

    def committed_offsets(
        self, partitions: list[tuple[str, int]], timeout: float = READ_TIMEOUT
    ) -> dict[tuple[str, int], int]:
        """The group's committed offsets of `partitions` (any member's): an entry whose
        every record is below them is needed by no one. Blocking (run it off the loop)."""
        if not partitions:
            return {}
        consumer = Consumer(
            {
                **without_membership(consumer_properties(self._kafka)),
                "enable.auto.commit": False,
            }
        )
        try:
            found = consumer.committed(
                [KafkaTopicPartition(t, p) for t, p in partitions], timeout=timeout
            )
        except KafkaException as exc:
            raise KafkaClientError(f"reading the group's committed offsets: {exc.args[0]}") from exc
        finally:
            consumer.close()
        return {(tp.topic, tp.partition): tp.offset for tp in found if tp.offset >= 0}

    def close(self, timeout: float = 10.0) -> int:
        """Flush; return how many writes were left unacknowledged."""
        left = int(self._producer.flush(timeout))
        self._closed.set()
        self._poller.join()
        return left
