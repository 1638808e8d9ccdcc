"""The dead-letter producer: a failed record, with headers that say why, acknowledged by the
broker before its source offset may be committed."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import structlog
from confluent_kafka import KafkaError, KafkaException, Message, Producer

from bridge.errors import DeadLetterError
from bridge.kafka.dead_letter_reason import DeadLetterReason
from bridge.kafka.properties import producer_properties
from bridge.kafka.settings import DeadLetterConfig, KafkaConfig
from bridge.record import SourceRecord

log = structlog.get_logger("bridge.kafka")

DeadLetterObserver = Callable[[str, DeadLetterReason], None]


class DeadLetterProducer:
    def __init__(
        self,
        kafka: KafkaConfig,
        config: DeadLetterConfig,
        *,
        observe: DeadLetterObserver | None = None,
    ) -> None:
        """`observe(source_topic, reason)` is told of each dead letter the broker acknowledged
        (the status page's tally, bridge/observability/dead_letters.py)."""
        self.topic = config.topic
        self._observe = observe
        self._properties = producer_properties(kafka, config)
        self._producer = Producer(self._properties)
        # Set by a fatal error (the idempotent producer can lose its guarantees for good):
        # the next write replaces the producer instead of failing for ever.
        self._fatal: KafkaError | None = None
        self._closed = threading.Event()
        # Delivery callbacks fire inside poll(); a thread of its own keeps calling it so
        # acknowledgements arrive while the event loop does other work.
        self._poller = threading.Thread(target=self._poll, name="dead-letter", daemon=True)
        self._poller.start()

    def _poll(self) -> None:
        while not self._closed.is_set():
            self._producer.poll(0.1)

    async def write(self, record: SourceRecord, reason: DeadLetterReason) -> None:
        """Produce the record with its original key, value and headers plus the reason;
        return once the broker acknowledged it, or raise `DeadLetterError`."""
        if self._fatal is not None:
            self._replace_producer(self._fatal)
        loop = asyncio.get_running_loop()
        acked: asyncio.Future[None] = loop.create_future()

        def on_delivery(err: KafkaError | None, _msg: Message) -> None:
            if err is not None and err.fatal():
                self._fatal = err
            loop.call_soon_threadsafe(_settle, acked, err, self.topic, record)

        headers: list[tuple[str, Any]] = list(record.headers)
        headers += reason.headers(record, datetime.now(UTC))
        try:
            self._producer.produce(
                self.topic,
                value=record.value,
                key=record.key,
                headers=headers,
                on_delivery=on_delivery,
            )
        except BufferError as exc:
            raise DeadLetterError("the dead-letter producer's queue is full") from exc
        except KafkaException as exc:
            error: KafkaError = exc.args[0]
            if error.fatal():
                self._fatal = error
            raise DeadLetterError(
                f"cannot produce to {self.topic}: {error}{_size_hint(error, self.topic, record)}"
            ) from exc
        await acked
        if self._observe is not None:
            self._observe(record.topic, reason)

    def _replace_producer(self, error: KafkaError) -> None:
        old, self._producer = self._producer, Producer(self._properties)
        self._fatal = None
        # What the old producer still holds fails now (its writers retry through the new
        # one, so nothing waits for an acknowledgement that can no longer come).
        old.purge()
        old.poll(0)
        log.error("dead_letter.producer_replaced", dead_letter_topic=self.topic, error=str(error))

    def close(self, timeout: float = 10.0) -> int:
        """Flush, stop the poller; return how many messages were still unacknowledged."""
        remaining: int = self._producer.flush(timeout)
        self._closed.set()
        self._poller.join()
        return remaining


_TOO_LARGE = {KafkaError.MSG_SIZE_TOO_LARGE, KafkaError.RECORD_LIST_TOO_LARGE}


def _size_hint(error: KafkaError, topic: str, record: SourceRecord) -> str:
    """What to change when a dead letter is too large: it is retried (its offset held) until
    it fits, since dropping or truncating it would lose the record."""
    if error.code() not in _TOO_LARGE:
        return ""
    size = len(record.value or b"") + len(record.key or b"")
    return (
        f" (the record is {size:,} bytes: raise max.message.bytes of topic {topic} and, above "
        "64 MiB, message.max.bytes in dead_letter.properties; the record's offset is held "
        "until it fits)"
    )


def _settle(
    future: asyncio.Future[None], err: KafkaError | None, topic: str, record: SourceRecord
) -> None:
    if future.done():  # the writer gave up waiting (shutdown)
        return
    if err is None:
        future.set_result(None)
    else:
        future.set_exception(
            DeadLetterError(
                f"the broker refused the dead letter: {err.str()}{_size_hint(err, topic, record)}"
            )
        )
