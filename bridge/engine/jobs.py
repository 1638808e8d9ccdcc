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
    # Its place in the order records were consumed in, all partitions together: what the
    # fence keeps erasures in (bridge/engine/fences.py).
    seq: int = 0
    # Operations (by index) Gameball confirmed in an earlier turn of this job in its lane:
    # a job parked (a refund whose order is not there yet) comes back for the rest. Made
    # when first needed: most jobs never need it, and an empty set is 216 bytes of each of
    # the 10,000 records in flight while batching.
    sent: set[int] | None = None
    # When Gameball first answered that what an operation refers to is not there yet (per
    # code), and the attempts so far: a parked job's retries go on counting from them.
    pending_since: dict[int | None, float] | None = None
    attempts: int = 0

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

    @property
    def customers(self) -> frozenset[str]:
        """Every customer its operations name."""
        return frozenset(op.customer_id for op in self.operations)

    @property
    def erased(self) -> frozenset[str]:
        """The customers it erases."""
        return frozenset(op.customer_id for op in self.operations if op.description.erases_customer)

    def log_context(self) -> dict[str, object]:
        return {
            "topic": self.tp[0],
            "partition": self.tp[1],
            "offset": self.offset,
            "customer_id": self.customer_id,
        }


class Abandoned(Exception):
    """The job's partition is no longer ours: stop working on it, do not mark it done."""


class Parked(Exception):
    """Gameball answered that what the job's operation refers to is not there yet (a refund's
    order, which may still be on its way, perhaps behind it in its own lane): the job leaves
    its lane, so that the customer's later records go on, and comes back after `delay`
    seconds for its remaining operations. Not done, so its offset is not committed past."""

    def __init__(self, delay: float) -> None:
        super().__init__(f"parked for {delay:.3f} s")
        self.delay = delay
