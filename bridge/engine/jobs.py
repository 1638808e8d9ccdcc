"""A record on its way through the engine."""

from __future__ import annotations

from dataclasses import dataclass

from bridge.errors import MappingError
from bridge.kafka.offsets import TopicPartition
from bridge.record import Operation, SourceRecord


@dataclass(slots=True)
class Job:
    record: SourceRecord
    operations: list[Operation]
    # Set when the record could not be mapped: the job is to dead-letter it.
    mapping_error: MappingError | None
    # The assignment of the record's partition it was fetched under; a job whose partition
    # was revoked (or lost) since then is abandoned, because it belongs to another member now.
    generation: int

    @property
    def tp(self) -> TopicPartition:
        return (self.record.topic, self.record.partition)

    @property
    def customer_id(self) -> str | None:
        return self.operations[0].customer_id if self.operations else None

    def log_context(self) -> dict[str, object]:
        return {
            "topic": self.record.topic,
            "partition": self.record.partition,
            "offset": self.record.offset,
            "customer_id": self.customer_id,
        }


class Abandoned(Exception):
    """The job's partition is no longer ours: stop working on it, do not mark it done."""
