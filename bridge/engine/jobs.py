"""A record on its way through the engine."""

from __future__ import annotations

from dataclasses import dataclass

from bridge.errors import MappingError
from bridge.record import Operation, SourceRecord, TopicPartition


@dataclass(slots=True)
class Job:
    # What is mapped, and dead-lettered if it fails.
    record: SourceRecord
    operations: list[Operation]
    # Set when the record could not be mapped: the job is to dead-letter it.
    mapping_error: MappingError | None
    # The assignment of the record's partition it was fetched under; a job whose partition
    # was revoked (or lost) since then is abandoned, because it belongs to another member now.
    generation: int
    # Where the record was read from, when that is not `record` itself: a dead letter being
    # replayed is mapped as the original record but tracked at its place in the dead letters.
    fetched: SourceRecord | None = None
    # Operations (by index) Gameball already confirmed for a previous owner, found in the
    # batch-job journal at the takeover: not sent again.
    done_operations: frozenset[int] = frozenset()

    @property
    def tp(self) -> TopicPartition:
        source = self.fetched or self.record
        return (source.topic, source.partition)

    @property
    def offset(self) -> int:
        return (self.fetched or self.record).offset

    @property
    def customer_id(self) -> str | None:
        return self.operations[0].customer_id if self.operations else None

    def log_context(self) -> dict[str, object]:
        return {
            "topic": self.tp[0],
            "partition": self.tp[1],
            "offset": self.offset,
            "customer_id": self.customer_id,
        }


class Abandoned(Exception):
    """The job's partition is no longer ours: stop working on it, do not mark it done."""
