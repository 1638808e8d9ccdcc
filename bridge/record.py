"""What flows through the bridge: a Kafka record in, Gameball operations out.

Both are plain data. `SourceRecord` is built from a librdkafka message at the Kafka door
(`bridge.kafka.consumer`), so mapping and engine code never touch confluent_kafka, and tests
build records directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

# A Kafka partition, by topic and number: plain data every stage passes around.
TopicPartition = tuple[str, int]


@dataclass(frozen=True, slots=True)
class OffsetCommit:
    """A partition's commit: what the engine asks the Kafka door to commit, and what the
    door reads back at an assignment."""

    offset: int  # the next offset to read: everything below it is done
    metadata: str = ""  # which offsets above it are done too (bridge/engine/checkpoint.py)


@dataclass(frozen=True, slots=True)
class SourceRecord:
    topic: str
    partition: int
    offset: int
    value: bytes | None
    key: bytes | None = None
    headers: tuple[tuple[str, bytes | None], ...] = ()
    timestamp_ms: int | None = None

    @property
    def size(self) -> int:
        return len(self.value or b"") + len(self.key or b"")


class Resource(StrEnum):
    """A Gameball integration endpoint; the value is the path under /integrations/."""

    EVENTS = "events"
    ORDERS = "orders"
    CUSTOMERS = "customers"
    PAYMENTS = "payments"


@dataclass(frozen=True, slots=True)
class Operation:
    """One request to Gameball: POST /api/{version}/integrations/{resource} with `body`."""

    resource: Resource
    customer_id: str
    body: dict[str, Any] = field(hash=False)
