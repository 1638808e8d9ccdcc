"""What flows through the bridge: a Kafka record in, Gameball operations out.

Both are plain data; an operation's description (method, path, fields) is in
`bridge.operations`, which also defines `Resource` (re-exported here, where every stage has
always found it). `SourceRecord` is built from a librdkafka message at the Kafka door
(`bridge.kafka.consumer`), so mapping and engine code never touch confluent_kafka, and tests
build records directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bridge.operations import OPERATIONS, TRACKING, Description
from bridge.operations import Resource as Resource  # re-exported: its old home

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


@dataclass(frozen=True, slots=True)
class Operation:
    """One request to Gameball: the operation `name` (its description in `bridge.operations`:
    method, path, body's fields), its `body`, and the values of its path's parameters.

    `resource` is the rate-limit bucket it counts in and, for an operation that has one, the
    batch resource: what the sender reads. Built without a name, an operation is its
    resource's tracking call (``Operation(Resource.EVENTS, "c-1", body)``); `Operation.of`
    builds any other by name. `customer_id` is the customer it belongs to: the engine's
    per-customer order keys on it.
    """

    resource: Resource
    customer_id: str
    body: dict[str, Any] = field(hash=False)
    name: str = ""
    params: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if not self.name:
            object.__setattr__(self, "name", TRACKING[self.resource].name)
        elif OPERATIONS[self.name].bucket is not self.resource:
            raise ValueError(
                f"operation {self.name!r} counts in {OPERATIONS[self.name].bucket.value}, "
                f"not {self.resource.value}"
            )

    @classmethod
    def of(
        cls,
        name: str,
        customer_id: str,
        body: dict[str, Any],
        params: tuple[tuple[str, str], ...] = (),
    ) -> Operation:
        """The operation `name` (a key of `bridge.operations.OPERATIONS`)."""
        return cls(OPERATIONS[name].bucket, customer_id, body, name, params)

    @property
    def description(self) -> Description:
        return OPERATIONS[self.name]

    @property
    def batchable(self) -> bool:
        """Whether Gameball's batch API takes it (events, orders, customer upserts); the
        others always travel as single calls."""
        return OPERATIONS[self.name].batch_path is not None

    @property
    def label(self) -> str:
        """How logs and dead-letter reasons name it: the resource for a tracking call (as
        they always did: "orders"), else the operation ("refund")."""
        return self.resource.value if self.name == TRACKING[self.resource].name else self.name
