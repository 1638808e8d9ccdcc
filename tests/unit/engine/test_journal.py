"""The batch-job journal (bridge/engine/journal.py): entries written as jobs are created and
forgotten once commits cover their records; a takeover asks Gameball about the jobs a
previous owner left and learns which operations were delivered. The door is an in-memory
stand-in for the compacted topic (its real one is tested on the broker)."""

from __future__ import annotations

import asyncio

import httpx
import orjson
import pytest

from bridge.engine.checkpoint import encode_done_above
from bridge.engine.journal import MAX_ENTRY_AGE, JobJournal, JournalEntry
from bridge.gameball.batch_status import ItemFailure, JobState, JobStatus
from bridge.record import OffsetCommit, Resource
from tests.support import FakeSource
from tests.unit.engine.harness import rec, running, until
from tests.unit.engine.test_revoke import build

TP0, TP1 = ("t", 0), ("t", 1)


class MemoryDoor:
    """The journal topic as a dict, with the writes and tombstones it saw."""

    def __init__(self) -> None:
        self.entries: dict[int, bytes] = {}
        self.forgotten: list[int] = []
        self.reads = 0
        self.fail_reads = False
        # The group's committed offsets, whichever member committed them.
        self.group_committed: dict[tuple[str, int], int] = {}

    def ensure_topic(self) -> None:
        return None

    def write(self, job_id: int, entry: bytes) -> None:
        self.entries[job_id] = entry

    def forget(self, job_id: int) -> None:
        self.entries.pop(job_id, None)
        self.forgotten.append(job_id)

    def read(self) -> dict[int, bytes]:
        self.reads += 1
        if self.fail_reads:
            raise RuntimeError("broker down")
        return dict(self.entries)

    def committed_offsets(self, partitions: list[tuple[str, int]]) -> dict[tuple[str, int], int]:
        return {tp: self.group_committed[tp] for tp in partitions if tp in self.group_committed}

    def close(self, timeout: float = 10.0) -> int:
        return 0


def test_an_entry_says_which_record_and_operation_each_item_is() -> None:
    entry = JournalEntry(7, Resource.EVENTS, 1000.0, (("t", 0, 5, 0), ("t", 1, 9, 1)))
    assert JournalEntry.decode(7, entry.encode()) == entry
    assert entry.partitions() == {TP0, TP1}


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"[]",
        orjson.dumps({"v": 2, "resource": "events", "createdAt": 1, "items": []}),
        orjson.dumps({"v": 1, "resource": "nope", "createdAt": 1, "items": []}),
        orjson.dumps({"v": 1, "resource": "events", "createdAt": 1, "items": [["t", 0]]}),
        orjson.dumps({"v": 1, "resource": "events", "items": []}),
    ],
)
def test_an_entry_this_version_did_not_write_is_ignored(raw: bytes) -> None:
    assert JournalEntry.decode(1, raw) is None


def test_a_job_is_written_when_created_and_forgotten_once_commits_cover_its_records() -> None:
    door = MemoryDoor()
    journal = JobJournal(door, clock=lambda: 1000.0)
    journal.created(Resource.EVENTS, 7, [("t", 0, 5, 0), ("t", 0, 8, 0), ("t", 1, 2, 0)])
    assert JournalEntry.decode(7, door.entries[7]) is not None
    # Partition 0 committed to 6 (5 below it; 8 neither below nor done above): kept.
    journal.committed({TP0: OffsetCommit(6), TP1: OffsetCommit(3)})
    assert 7 in door.entries
    # 8 recorded as done above the position in the commit's metadata: covered.
    journal.committed({TP0: OffsetCommit(6, encode_done_above(6, [8])), TP1: OffsetCommit(3)})
    assert 7 not in door.entries
    assert door.forgotten == [7]
    assert len(journal) == 0


def test_a_job_with_a_partition_not_committed_here_is_kept() -> None:
    door = MemoryDoor()
    journal = JobJournal(door)
    journal.created(Resource.EVENTS, 7, [("t", 0, 5, 0), ("t", 1, 2, 0)])
    journal.committed({TP0: OffsetCommit(100)})  # partition 1: no commit of ours
    assert 7 in door.entries
    journal.released([TP1])  # revoked: the entry stays, for partition 1's next owner
    assert 7 in door.entries
    assert len(journal) == 0


def test_items_without_an_origin_are_not_journaled() -> None:
    door = MemoryDoor()
    journal = JobJournal(door)
    journal.created(Resource.EVENTS, 7, [("t", 0, 5, 0), None])
    assert door.entries == {}


def completed(*delivered: int, failed: tuple[int, ...] = ()) -> JobStatus:
    items: dict[int, ItemFailure | None] = dict.fromkeys(delivered)
    items.update({i: ItemFailure(500, 5000, "") for i in failed})
    return JobStatus(JobState.COMPLETED, items)


def test_a_takeover_learns_which_operations_the_previous_owners_jobs_delivered() -> None:
    door = MemoryDoor()
    left = JobJournal(door, clock=lambda: 1000.0)  # the process that was killed
    left.created(Resource.EVENTS, 7, [("t", 0, 5, 0), ("t", 0, 6, 0), ("t", 1, 2, 0)])
    left.created(Resource.ORDERS, 8, [("t", 0, 6, 1), ("t", 0, 9, 0)])
    left.created(Resource.EVENTS, 9, [("t", 0, 1, 0)])  # below the committed offset
    statuses = {
        7: completed(0, 2, failed=(1,)),  # offset 6's event failed: sent again
        8: None,  # never finished, or unknown to Gameball: sent again
    }
    asked: list[tuple[Resource, int, int]] = []

    async def ask(resource: Resource, job_id: int, count: int) -> JobStatus | None:
        asked.append((resource, job_id, count))
        return statuses[job_id]

    taker = JobJournal(door, clock=lambda: 1000.0)
    recovered = asyncio.run(taker.recover([TP0], {TP0: 3}, ask))
    assert sorted(asked) == [(Resource.EVENTS, 7, 3), (Resource.ORDERS, 8, 2)]
    assert recovered.done == {TP0: {5: {0}}}  # partition 1 is not the taker's
    assert recovered.operations_done(TP0, 5) == {0}
    assert recovered.operations_done(TP0, 6) == set()
    # Offset 6's event was refused (it did not land: no duplicate risk in sending it again);
    # job 8's two items are unknown.
    assert (recovered.jobs, recovered.confirmed, recovered.unknown) == (2, 1, 2)


def test_an_item_carrying_several_records_events_names_each_and_they_land_together() -> None:
    # Job 7's item 0 is three records' events merged into one operation (coalesce_events),
    # item 1 a record of its own; item 0 landed, item 1 was refused.
    door = MemoryDoor()
    merged = (("t", 0, 5, 0), ("t", 0, 6, 0), ("t", 0, 7, 0))
    JobJournal(door, clock=lambda: 1000.0).created(Resource.EVENTS, 7, [merged, ("t", 0, 9, 0)])
    entry = JournalEntry.decode(7, door.entries[7])
    assert entry is not None
    assert entry.count() == 2
    assert [entry.position(i) for i in range(4)] == [0, 0, 0, 1]
    # An older version reads only version 1: it ignores this entry (and sends the items
    # again) rather than take item 1's outcome for offset 6's.
    assert orjson.loads(door.entries[7])["v"] == 2
    asked: list[int] = []

    async def ask(resource: Resource, job_id: int, count: int) -> JobStatus | None:
        asked.append(count)
        return completed(0, failed=(1,))

    recovered = asyncio.run(JobJournal(door, clock=lambda: 1000.0).recover([TP0], {}, ask))
    assert asked == [2]
    assert recovered.done == {TP0: {5: {0}, 6: {0}, 7: {0}}}
    assert (recovered.confirmed, recovered.unknown) == (3, 0)


def test_a_takeover_that_cannot_read_the_journal_sends_everything_again() -> None:
    door = MemoryDoor()
    door.fail_reads = True

    async def ask(resource: Resource, job_id: int, count: int) -> JobStatus | None:
        raise AssertionError("not asked")

    recovered = asyncio.run(JobJournal(door).recover([TP0], {}, ask))
    assert recovered.done == {}


def test_a_status_that_fails_or_hangs_leaves_the_items_to_be_sent_again() -> None:
    door = MemoryDoor()
    JobJournal(door).created(Resource.EVENTS, 7, [("t", 0, 5, 0)])
    JobJournal(door).created(Resource.EVENTS, 8, [("t", 0, 6, 0)])

    async def ask(resource: Resource, job_id: int, count: int) -> JobStatus | None:
        if job_id == 7:
            raise RuntimeError("refused")
        await asyncio.sleep(10)
        return completed(0)

    recovered = asyncio.run(JobJournal(door).recover([TP0], {}, ask, timeout=0.05))
    assert recovered.done == {}
    assert recovered.unknown == 2


def test_entries_older_than_the_limit_are_forgotten_when_read() -> None:
    door = MemoryDoor()
    JobJournal(door, clock=lambda: 0.0).created(Resource.EVENTS, 7, [("t", 0, 5, 0)])

    async def ask(resource: Resource, job_id: int, count: int) -> JobStatus | None:
        raise AssertionError("not asked")

    reader = JobJournal(door, clock=lambda: MAX_ENTRY_AGE + 1)
    recovered = asyncio.run(reader.recover([TP0], {}, ask))
    assert recovered.jobs == 0
    assert door.forgotten == [7]


def test_the_engine_sends_nothing_a_previous_owners_job_delivered() -> None:
    # A previous owner's job 42 carried records 0 and 1 of partition 0: Gameball applied
    # record 0's item and refused record 1's (a 5000). The new owner sends 1 and 2 only.
    door = MemoryDoor()
    JobJournal(door).created(Resource.EVENTS, 42, [("t", 0, 0, 0), ("t", 0, 1, 0)])
    sent: list[int] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            assert request.url.path.endswith("/batches/42/status")
            return httpx.Response(
                200,
                json={
                    "status": "completed",
                    "results": [
                        {"index": 0, "success": True},
                        {"index": 1, "success": False, "error": {"code": 5000}},
                    ],
                },
            )
        sent.append(orjson.loads(request.content)["events"]["e"]["n"])
        return httpx.Response(200)

    source = FakeSource([rec(0, 0, "a"), rec(0, 1, "b"), rec(0, 2, "c")])
    bridge = build(
        source,
        handler,
        journal=JobJournal(door),
        gameball={"rate_limits": {"enabled": False}},
        delivery={"commit_interval": 0.01},
    )

    async def scenario() -> None:
        async with running(bridge):
            await until(lambda: source.last_commit(TP0) == 3, timeout=3)

    asyncio.run(scenario())
    assert sorted(sent) == [1, 2]
    assert bridge.counters.done_before == 1
    assert bridge.counters.resent_unknown == 0


def test_an_entry_the_group_has_committed_past_is_forgotten_not_asked_about() -> None:
    # Job 7 spans partitions 0 and 1; another member committed partition 1 past its item,
    # and partition 0's commit is past its item too: nobody needs the entry any more.
    door = MemoryDoor()
    JobJournal(door).created(Resource.EVENTS, 7, [("t", 0, 5, 0), ("t", 1, 2, 0)])
    JobJournal(door).created(Resource.EVENTS, 8, [("t", 0, 9, 0), ("t", 1, 3, 0)])
    door.group_committed = {TP0: 6, TP1: 3}

    async def ask(resource: Resource, job_id: int, count: int) -> JobStatus | None:
        return completed(0, 1)

    recovered = asyncio.run(JobJournal(door).recover([TP0], {TP0: 0}, ask))
    assert door.forgotten == [7]
    assert recovered.jobs == 1  # job 8 only: its offset 9 of partition 0 is past the commit
    assert recovered.operations_done(TP0, 9) == {0}


def test_the_largest_job_fits_one_kafka_message() -> None:
    # Gameball's largest job (1,000 items) of the longest topic name Kafka allows (249
    # characters), at offsets near the top of the range: under the broker's default
    # message.max.bytes (1,048,588) with room to spare, before compression.
    topic = "t" * 249
    origins: list[object] = [(topic, 999, 2**62 + i, 3) for i in range(1000)]
    door = MemoryDoor()
    JobJournal(door).created(Resource.ORDERS, 2**53, origins)
    [entry] = door.entries.values()
    assert len(entry) < 1_048_588 // 2
    decoded = JournalEntry.decode(2**53, entry)
    assert decoded is not None
    assert len(decoded.items) == 1000
