"""Which offsets may be committed: pure bookkeeping, no Kafka calls.

Records of a partition finish out of order (customers are delivered concurrently), but a
partition's committed offset means "everything below is done". So a partition's commit
position advances only over the contiguous prefix of finished records: `completed()` of
offsets 5 and 7 while 6 is pending lets the position move to 6, not 8.

Offsets are committed as "next offset to read" (last done + 1), as Kafka expects.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

TopicPartition = tuple[str, int]


@dataclass(slots=True)
class PartitionOffsets:
    """Offsets received from one partition, in order, until they are done and committable."""

    # Every offset received and not yet below the commit position, in order ...
    received_order: deque[int] = field(default_factory=deque)
    # ... and those of them not yet done (a set, so completion is O(1)).
    outstanding: set[int] = field(default_factory=set)
    # Next offset to read, once the first record of this assignment is done.
    position: int | None = None
    committed: int | None = None

    def received(self, offset: int) -> None:
        if self.received_order:
            last = self.received_order[-1]
        else:
            last = -1 if self.position is None else self.position - 1
        if offset <= last:
            raise ValueError(f"offset {offset} received after {last}: offsets went backwards")
        self.received_order.append(offset)
        self.outstanding.add(offset)

    def completed(self, offset: int) -> None:
        try:
            self.outstanding.remove(offset)
        except KeyError:
            raise ValueError(f"offset {offset} completed but it is not pending") from None
        order = self.received_order
        while order and order[0] not in self.outstanding:
            self.position = order.popleft() + 1

    @property
    def pending(self) -> int:
        return len(self.outstanding)

    def to_commit(self) -> int | None:
        """The offset to commit, or None when nothing new is done since the last commit."""
        if self.position is None or self.position == self.committed:
            return None
        return self.position


class OffsetTracker:
    """Per assigned partition: what was received, what is done, what may be committed."""

    def __init__(self) -> None:
        self._partitions: dict[TopicPartition, PartitionOffsets] = {}

    def assign(self, tp: TopicPartition) -> None:
        self._partitions[tp] = PartitionOffsets()

    def forget(self, tp: TopicPartition) -> None:
        self._partitions.pop(tp, None)

    def is_assigned(self, tp: TopicPartition) -> bool:
        return tp in self._partitions

    def received(self, tp: TopicPartition, offset: int) -> None:
        self._partition(tp).received(offset)

    def completed(self, tp: TopicPartition, offset: int) -> None:
        self._partition(tp).completed(offset)

    def _partition(self, tp: TopicPartition) -> PartitionOffsets:
        try:
            return self._partitions[tp]
        except KeyError:
            raise ValueError(f"partition {tp[0]}[{tp[1]}] is not assigned") from None

    def pending(self, tp: TopicPartition) -> int:
        part = self._partitions.get(tp)
        return part.pending if part else 0

    def commit_plan(self, only: set[TopicPartition] | None = None) -> dict[TopicPartition, int]:
        """Offsets to commit now: partitions whose done prefix moved since the last commit."""
        plan: dict[TopicPartition, int] = {}
        for tp, part in self._partitions.items():
            if only is not None and tp not in only:
                continue
            offset = part.to_commit()
            if offset is not None:
                plan[tp] = offset
        return plan

    def committed(self, plan: dict[TopicPartition, int]) -> None:
        """Record that the broker accepted `plan` (partitions revoked since are ignored)."""
        for tp, offset in plan.items():
            part = self._partitions.get(tp)
            if part is not None and (part.committed is None or offset > part.committed):
                part.committed = offset

    def committed_offsets(self) -> dict[TopicPartition, int | None]:
        return {tp: part.committed for tp, part in self._partitions.items()}
