"""The dead-letter producer recovers from a fatal error by replacing itself (librdkafka's
idempotent producer is unusable for good after one); the broker is faked here, the real
producer is covered by the integration tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException
from structlog.testing import capture_logs

from bridge.errors import DeadLetterError
from bridge.kafka import dead_letter
from bridge.kafka.dead_letter import DeadLetterProducer
from bridge.kafka.dead_letter_reason import DeadLetterReason
from bridge.kafka.settings import DeadLetterConfig, KafkaConfig
from bridge.record import SourceRecord

FATAL = KafkaError(KafkaError._FATAL, "idempotent producer: sequence desynchronised", fatal=True)


class FakeProducer:
    """The first one made is broken for good; later ones acknowledge every message."""

    made: list[FakeProducer] = []

    def __init__(self, _props: dict[str, Any]) -> None:
        self.broken = not FakeProducer.made
        self.purged = False
        self.waiting: list[Callable[[KafkaError | None, Any], None]] = []
        self.written: list[bytes | None] = []
        FakeProducer.made.append(self)

    def produce(self, topic: str, *, value: bytes | None, on_delivery: Any, **_: Any) -> None:
        if self.broken:
            raise KafkaException(FATAL)
        self.written.append(value)
        self.waiting.append(on_delivery)

    def poll(self, timeout: float) -> int:
        while self.waiting:
            self.waiting.pop()(None, None)
        time.sleep(min(timeout, 0.01))
        return 0

    def purge(self) -> None:
        self.purged = True

    def flush(self, timeout: float = 0) -> int:
        return 0


def test_a_fatal_error_replaces_the_producer(monkeypatch: pytest.MonkeyPatch) -> None:
    FakeProducer.made = []
    monkeypatch.setattr(dead_letter, "Producer", FakeProducer)
    producer = DeadLetterProducer(
        KafkaConfig(bootstrap_servers="127.0.0.1:1"), DeadLetterConfig(topic="dlq")
    )
    record = SourceRecord("t", 0, 7, b"{bad")
    reason = DeadLetterReason("invalid_json", "the value is not valid JSON")

    async def scenario() -> None:
        with pytest.raises(DeadLetterError, match="sequence desynchronised"):
            await producer.write(record, reason)
        # The engine retries the write: it must go through a new producer.
        await asyncio.wait_for(producer.write(record, reason), 5)

    try:
        with capture_logs() as logs:
            asyncio.run(scenario())
    finally:
        producer.close()
    first, second = FakeProducer.made
    assert first.purged
    assert second.written == [b"{bad"]
    assert [e["event"] for e in logs] == ["dead_letter.producer_replaced"]
