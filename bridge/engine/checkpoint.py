"""A partition's checkpoint: what it has done, what is pending in batch jobs, and what is
committed, in one object the engine owns; the Kafka door only sends the commit it plans.

    assign(tp, committed, recovered) ─ the group's commit (offset and metadata) and what the
                                       previous owner's jobs delivered (bridge/engine/journal)
    received(tp, offset) ──> needed? ─ False: done before (metadata, or every operation
                                       confirmed by a journaled job)
    completed(tp, offset) ─ the contiguous done prefix moves the commit position
    plan() ──> {tp: OffsetCommit} ──> Source.commit ──> committed(accepted) ──> the journal
                                       forgets the jobs the commits now cover

Records of a partition finish out of order (customers are delivered concurrently), but a
partition's committed offset means "everything below is done". So a partition's commit
position advances only over the contiguous prefix of finished records: `completed()` of
offsets 5 and 7 while 6 is pending lets the position move to 6, not 8.

Offsets are committed as "next offset to read" (last done + 1), as Kafka expects. With each
commit goes, in the commit's metadata, which records above that offset are done already (see
`encode_done_above`): after a crash, the next owner of the partition skips them instead of
sending them to Gameball a second time, so only what was truly in flight is repeated.

Pure bookkeeping: no Kafka calls (quix-streams' checkpointing/checkpoint.py is the model), so
every rule is unit-tested with plain data (tests/unit/engine/test_checkpoint.py).
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from bridge.record import OffsetCommit, TopicPartition

# Kafka brokers refuse commit metadata over offset.metadata.max.bytes (4096 by default).
MAX_METADATA_CHARS = 3000
_METADATA_PREFIX = "gbb1:"
_RANGE = re.compile(r"([0-9a-z]+)\+([0-9a-z]+)")

# A record none of whose operations a previous owner delivered (most of them).
NONE_DONE: frozenset[int] = frozenset()


def encode_done_above(position: int, done: Iterable[int]) -> str:
    """``gbb1:`` then comma-separated ``start+length`` runs, base 36, relative to `position`.
    Runs that do not fit `MAX_METADATA_CHARS` are left out (the highest first): that costs
    duplicates, never a loss."""
    runs: list[list[int]] = []  # [first, last]
    for offset in sorted(done):
        if runs and offset == runs[-1][1] + 1:
            runs[-1][1] = offset
        else:
            runs.append([offset, offset])
    parts: list[str] = []
    size = len(_METADATA_PREFIX)
    for first, last in runs:
        part = f"{_b36(first - position)}+{_b36(last - first + 1)}"
        size += len(part) + 1
        if size > MAX_METADATA_CHARS:
            break
        parts.append(part)
    return _METADATA_PREFIX + ",".join(parts) if parts else ""


def decode_done_above(position: int, metadata: str | None) -> set[int]:
    """The offsets `encode_done_above` recorded; an empty set for anything it did not write
    (another tool's metadata, a truncated or corrupt string)."""
    if not metadata or not metadata.startswith(_METADATA_PREFIX):
        return set()
    done: set[int] = set()
    for part in metadata[len(_METADATA_PREFIX) :].split(","):
        match = _RANGE.fullmatch(part)
        if match is None:
            return set()
        start, length = int(match.group(1), 36), int(match.group(2), 36)
        done.update(range(position + start, position + start + length))
    return done


def _b36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if n == 0:
            return out


@dataclass(slots=True)
class PartitionOffsets:
    """Offsets received from one partition, in order, until they are done and committable."""

    # Every offset received and not yet below the commit position, in order ...
    received_order: deque[int] = field(default_factory=deque)
    # ... and those of them not yet done (a set, so completion is O(1)).
    outstanding: set[int] = field(default_factory=set)
    # Next offset to read, once the first record of this assignment is done.
    position: int | None = None
    # The first offset received in this assignment: where the group's position was (or where
    # auto_offset_reset put it), so nothing before it needs work.
    first: int | None = None
    committed: OffsetCommit | None = None
    # Offsets a previous owner recorded as done (commit metadata): not to be sent again.
    done_before: set[int] = field(default_factory=set)

    def received(self, offset: int) -> bool:
        """Record a fetched offset; False when it was done before and needs no work."""
        if self.first is None:
            self.first = offset
        if self.received_order:
            last = self.received_order[-1]
        else:
            last = -1 if self.position is None else self.position - 1
        if offset <= last:
            raise ValueError(f"offset {offset} received after {last}: offsets went backwards")
        self.received_order.append(offset)
        if offset in self.done_before:
            self.done_before.discard(offset)
            self._advance()
            return False
        self.outstanding.add(offset)
        return True

    def completed(self, offset: int) -> None:
        try:
            self.outstanding.remove(offset)
        except KeyError:
            raise ValueError(f"offset {offset} completed but it is not pending") from None
        self._advance()

    def _advance(self) -> None:
        order = self.received_order
        while order and order[0] not in self.outstanding:
            self.position = order.popleft() + 1

    @property
    def pending(self) -> int:
        return len(self.outstanding)

    def to_commit(self) -> OffsetCommit | None:
        """What to commit, or None when nothing new is done since the last commit."""
        # Done above the position: received, no longer outstanding (the deque holds only
        # offsets from the position up).
        done = [o for o in self.received_order if o not in self.outstanding]
        if self.position is not None:
            position = self.position
        elif done and self.first is not None:
            # The first record is still out, later ones are done: commit where the group
            # already was, with them as done-above metadata, so that a crash now does not
            # send them all again.
            position = self.first
        else:
            return None
        commit = OffsetCommit(position, encode_done_above(position, done))
        return None if commit == self.committed else commit


class Checkpoint:
    """Per assigned partition: what was received, what is done (here, or by a previous owner),
    and what is committed; `plan()` says what to commit next."""

    def __init__(
        self, *, on_committed: Callable[[Mapping[TopicPartition, OffsetCommit]], None] | None = None
    ) -> None:
        """`on_committed` is told every assigned partition's committed state after each
        commit the broker took (the journal forgets the jobs it covers)."""
        self._on_committed = on_committed
        self._partitions: dict[TopicPartition, PartitionOffsets] = {}
        # Per partition, per offset: operations a previous owner's batch jobs delivered (the
        # journal), dropped from the record's job when it comes.
        self._operations_done: dict[TopicPartition, dict[int, set[int]]] = {}

    def assign(
        self,
        tp: TopicPartition,
        committed: OffsetCommit | None = None,
        operations_done: Mapping[int, set[int]] | None = None,
    ) -> set[int]:
        """Take `tp` on: the group's commit for it (its metadata says which records above
        the offset the previous owner finished), and the operations its batch jobs
        delivered. Returns the offsets known done above the committed one."""
        done_before = (
            decode_done_above(committed.offset, committed.metadata) if committed else set()
        )
        self._partitions[tp] = PartitionOffsets(done_before=set(done_before))
        if operations_done:
            self._operations_done[tp] = {o: set(ops) for o, ops in operations_done.items()}
        return done_before

    def forget(self, tp: TopicPartition) -> None:
        self._partitions.pop(tp, None)
        self._operations_done.pop(tp, None)

    def operations_done(self, tp: TopicPartition, offset: int) -> frozenset[int]:
        """The operations (by index) of the record at `offset` that a previous owner's
        batch jobs delivered: asked once, when the record is mapped."""
        done = self._operations_done.get(tp, {}).pop(offset, None)
        # Not a new empty frozenset each time: 216 bytes of each record in flight.
        return frozenset(done) if done else NONE_DONE

    def is_assigned(self, tp: TopicPartition) -> bool:
        return tp in self._partitions

    def received(self, tp: TopicPartition, offset: int) -> bool:
        """Record a fetched offset; False when a previous owner already did it."""
        return self._partition(tp).received(offset)

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

    def span(self, tp: TopicPartition) -> int:
        """Offsets received and not yet below the commit position: what the partition holds
        in memory, and what each commit walks."""
        part = self._partitions.get(tp)
        return len(part.received_order) if part else 0

    def plan(self, only: set[TopicPartition] | None = None) -> dict[TopicPartition, OffsetCommit]:
        """What to commit now: partitions where something got done since the last commit."""
        plan: dict[TopicPartition, OffsetCommit] = {}
        for tp, part in self._partitions.items():
            if only is not None and tp not in only:
                continue
            offset = part.to_commit()
            if offset is not None:
                plan[tp] = offset
        return plan

    def committed(self, plan: Mapping[TopicPartition, OffsetCommit]) -> None:
        """Record that the broker accepted `plan` (partitions revoked since are ignored)."""
        for tp, commit in plan.items():
            part = self._partitions.get(tp)
            if part is not None and (
                part.committed is None or commit.offset >= part.committed.offset
            ):
                part.committed = commit
        if plan and self._on_committed is not None:
            self._on_committed(self.committed_state())

    def committed_state(self) -> dict[TopicPartition, OffsetCommit]:
        """What the broker took last per partition (partitions with no commit left out)."""
        return {tp: part.committed for tp, part in self._partitions.items() if part.committed}

    def committed_offsets(self) -> dict[TopicPartition, int | None]:
        return {
            tp: part.committed.offset if part.committed else None
            for tp, part in self._partitions.items()
        }
