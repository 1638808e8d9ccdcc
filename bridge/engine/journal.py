"""Batch jobs that outlive the process that created them.

    job created ──> JobJournal.created: an entry (which record and operation each item is)
                    written to the journal topic, keyed by the job's id
    job settled ──> JobJournal.settled; once a commit covers its records ──> forgotten
    partitions assigned ──> JobJournal.recover: the entries that name them, and for each
                    job Gameball's own status: confirmed items are done, the rest is sent

Without it, a process killed while batching leaves its unfinished jobs to chance: the
partitions' next owner sends every item again, and the jobs that did land deliver them twice
(about 2,000 events a kill at the defaults). Gameball keeps the job: its id is all a new owner
needs to ask what landed. What can still repeat after a SIGKILL: items whose create call had
not answered yet (or whose entry had not reached the broker), items of jobs that never finish
or that Gameball no longer knows, and single calls in the air.

The entry names each item by (topic, partition, offset, operation index), the operation's
place in its record's mapped operations: a record that maps to an order and a customer
upsert has both in different jobs, and one of them may have landed without the other. An
item that carries several records' events (`coalesce_events`) names each of them, with the
item's position (a version-2 entry: older versions do not read it, and send its items again).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeGuard

import orjson
import structlog

from bridge.engine.checkpoint import decode_done_above
from bridge.gameball.batch_status import JobStatus
from bridge.record import OffsetCommit, Resource, TopicPartition

log = structlog.get_logger("bridge.engine")

# An item's origin: topic, partition, offset, and the operation's index in its record's.
Origin = tuple[str, int, int, int]
# Asks Gameball for a job's final status: resource, job id, item count; None when it did not
# finish in time, or Gameball does not know it.
AskJob = Callable[[Resource, int, int], Awaitable[JobStatus | None]]

# How long a takeover waits at most for the jobs it found to finish.
RECOVERY_TIMEOUT = 30.0
# An entry older than this is forgotten by whoever reads it: its records were committed
# or sent again long since (an entry normally goes within a commit interval of its job).
MAX_ENTRY_AGE = 7 * 24 * 3600.0
_VERSION = 1
# An entry with an item carrying several records' operations: its origins have positions.
_VERSION_MERGED = 2


class JournalDoor(Protocol):
    """The journal topic (`bridge.kafka.job_journal.JobJournalTopic`)."""

    def ensure_topic(self) -> None: ...

    def write(self, job_id: int, entry: bytes) -> None: ...

    def forget(self, job_id: int) -> None: ...

    def read(self) -> dict[int, bytes]: ...

    def committed_offsets(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]: ...

    def close(self, timeout: float = 10.0) -> int: ...


@dataclass(frozen=True, slots=True)
class JournalEntry:
    job_id: int
    resource: Resource
    created_at: float  # wall clock, seconds
    items: tuple[Origin, ...]
    # The job's item each origin is in; None: one origin per item, in order.
    positions: tuple[int, ...] | None = None

    def encode(self) -> bytes:
        doc: dict[str, Any] = {
            "v": _VERSION if self.positions is None else _VERSION_MERGED,
            "resource": self.resource.value,
            "createdAt": self.created_at,
            "items": self.items,
        }
        if self.positions is not None:
            doc["positions"] = self.positions
        return orjson.dumps(doc)

    @classmethod
    def decode(cls, job_id: int, raw: bytes) -> JournalEntry | None:
        """The entry, or None for anything this version did not write."""
        try:
            doc: Any = orjson.loads(raw)
            version = doc.get("v")
            if version not in (_VERSION, _VERSION_MERGED):
                return None
            items = tuple((str(t), int(p), int(o), int(k)) for t, p, o, k in doc["items"])
            positions = None
            if version == _VERSION_MERGED:
                positions = tuple(int(i) for i in doc["positions"])
                if len(positions) != len(items) or min(positions, default=0) < 0:
                    return None
            created = float(doc["createdAt"])
            return cls(job_id, Resource(doc["resource"]), created, items, positions)
        except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError, ValueError):
            return None

    def position(self, index: int) -> int:
        """The job's item that origin `index` is in."""
        return index if self.positions is None else self.positions[index]

    def count(self) -> int:
        """The job's items."""
        if self.positions is None:
            return len(self.items)
        return max(self.positions, default=-1) + 1

    def partitions(self) -> set[TopicPartition]:
        return {(t, p) for t, p, _, _ in self.items}


@dataclass(slots=True)
class Recovered:
    """What a takeover learnt from the jobs a previous owner left: per partition, per
    offset, the operations Gameball confirmed (not to be sent again)."""

    done: dict[TopicPartition, dict[int, set[int]]] = field(default_factory=dict)
    jobs: int = 0
    confirmed: int = 0
    # Items whose outcome stayed unknown (a job that did not finish, or that Gameball no
    # longer knows): sent again, each a possible duplicate.
    unknown: int = 0

    def operations_done(self, tp: TopicPartition, offset: int) -> set[int]:
        return self.done.get(tp, {}).get(offset, set())


class JobJournal:
    def __init__(self, door: JournalDoor, *, clock: Callable[[], float] = time.time) -> None:
        self._door = door
        self._clock = clock
        self._enabled = True
        # Jobs of this process not yet forgotten: id -> partition -> its items' offsets.
        self._open: dict[int, dict[TopicPartition, set[int]]] = {}
        # Entries found covered by the group's commits, forgotten.
        self._covered: set[int] = set()

    def __len__(self) -> int:
        return len(self._open)

    def disable(self) -> None:
        """No journal from now on (its topic could not be created)."""
        self._enabled = False

    async def start(self) -> None:
        """Create the topic unless it exists (off the loop: an admin request)."""
        await asyncio.to_thread(self._door.ensure_topic)

    async def close(self) -> None:
        left = await asyncio.to_thread(self._door.close)
        if left:
            log.warning("job_journal.unflushed", writes=left)

    def created(self, resource: Resource, job_id: int, origins: list[object]) -> None:
        if not self._enabled:
            return
        items: list[Origin] = []
        positions: list[int] = []
        merged = False
        for position, origin in enumerate(origins):
            # One origin, or a merged operation's tuple of them (bridge/engine/coalescing.py).
            ones: tuple[object, ...] = (origin,)
            if isinstance(origin, tuple) and origin and isinstance(origin[0], tuple):
                ones, merged = origin, True
            for one in ones:
                if not _is_origin(one):  # an item without an origin (a replay's, a test's)
                    return
                items.append(one)
                positions.append(position)
        entry = JournalEntry(
            job_id, resource, self._clock(), tuple(items), tuple(positions) if merged else None
        )
        self._door.write(job_id, entry.encode())
        carried: dict[TopicPartition, set[int]] = {}
        for topic, partition, offset, _ in entry.items:
            carried.setdefault((topic, partition), set()).add(offset)
        self._open[job_id] = carried

    def committed(self, state: Mapping[TopicPartition, OffsetCommit]) -> None:
        """The partitions' committed state now (offset and done-above metadata): a job whose
        every item's record is covered by it needs its entry no more (a restart would skip
        those records anyway). A job with items of a partition no longer ours keeps its
        entry: the next owner may need it."""
        done_above: dict[TopicPartition, set[int]] = {}
        for job_id, carried in list(self._open.items()):
            for tp, offsets in carried.items():
                commit = state.get(tp)
                if commit is None:
                    break
                if tp not in done_above:
                    done_above[tp] = decode_done_above(commit.offset, commit.metadata)
                if any(o >= commit.offset and o not in done_above[tp] for o in offsets):
                    break
            else:
                self._door.forget(job_id)
                del self._open[job_id]

    def released(self, partitions: Collection[TopicPartition]) -> None:
        """Partitions revoked or lost: a job carrying items of one of them keeps its entry
        for the next owner; this process stops tracking it."""
        gone = set(partitions)
        for job_id, carried in list(self._open.items()):
            if gone & carried.keys():
                del self._open[job_id]

    async def recover(
        self,
        partitions: Collection[TopicPartition],
        committed: Mapping[TopicPartition, int],
        ask: AskJob,
        timeout: float = RECOVERY_TIMEOUT,
    ) -> Recovered:
        """The entries naming `partitions` above their `committed` offsets, and for each
        such job what Gameball says it did. Never raises: a journal or a Gameball that
        cannot be read leaves everything to be sent again (duplicates, never a loss)."""
        recovered = Recovered()
        if not self._enabled:
            return recovered
        wanted = set(partitions)
        try:
            raw = await asyncio.to_thread(self._door.read)
        except Exception as exc:
            log.warning("job_journal.unreadable", error=str(exc))
            return recovered
        entries = []
        oldest = self._clock() - MAX_ENTRY_AGE
        for job_id, data in raw.items():
            entry = JournalEntry.decode(job_id, data)
            if entry is None or entry.created_at < oldest:
                # Not ours to read, or left by partitions that moved on long ago.
                self._door.forget(job_id)
                continue
            if job_id in self._open:
                continue
            mine = [
                (i, item)
                for i, item in enumerate(entry.items)
                if (item[0], item[1]) in wanted and item[2] >= committed.get((item[0], item[1]), 0)
            ]
            if mine:
                entries.append((entry, mine))
        await self._forget_the_covered(entries)
        entries = [(entry, mine) for entry, mine in entries if entry.job_id not in self._covered]
        if not entries:
            return recovered
        statuses = await asyncio.gather(*(self._ask(ask, entry, timeout) for entry, _ in entries))
        for (entry, mine), status in zip(entries, statuses, strict=True):
            recovered.jobs += 1
            for index, (topic, partition, offset, op_index) in mine:
                position = entry.position(index)
                outcome = status.outcome(position) if status is not None else False
                if outcome is None:
                    by_offset = recovered.done.setdefault((topic, partition), {})
                    by_offset.setdefault(offset, set()).add(op_index)
                    recovered.confirmed += 1
                elif outcome is False:
                    recovered.unknown += 1
                # else refused: it did not land, and is sent again with no duplicate risk
        log.info(
            "job_journal.recovered",
            jobs=recovered.jobs,
            confirmed=recovered.confirmed,
            sent_again=recovered.unknown,
        )
        return recovered

    async def _forget_the_covered(self, entries: list[tuple[JournalEntry, Any]]) -> None:
        """Forget (and drop from `entries`' source) the entries whose every record the group
        has committed past, whichever member committed it: an entry spanning partitions of
        several owners is forgotten by none of them otherwise, and asked about at every
        takeover."""
        partitions = sorted({tp for entry, _ in entries for tp in entry.partitions()})
        try:
            committed = await asyncio.to_thread(self._door.committed_offsets, partitions)
        except Exception as exc:  # only tidiness is lost
            log.debug("job_journal.committed_unreadable", error=str(exc))
            return
        for entry, _ in entries:
            if all(offset < committed.get((t, p), 0) for t, p, offset, _ in entry.items):
                self._door.forget(entry.job_id)
                self._covered.add(entry.job_id)

    async def _ask(self, ask: AskJob, entry: JournalEntry, timeout: float) -> JobStatus | None:
        try:
            return await asyncio.wait_for(ask(entry.resource, entry.job_id, entry.count()), timeout)
        except TimeoutError:
            return None
        except Exception as exc:  # a refused or failed status call: its items are sent again
            log.warning("job_journal.status_failed", job_id=entry.job_id, error=str(exc))
            return None


def _is_origin(origin: object) -> TypeGuard[Origin]:
    return (
        isinstance(origin, tuple)
        and len(origin) == 4
        and isinstance(origin[0], str)
        and all(isinstance(part, int) for part in origin[1:])
    )
