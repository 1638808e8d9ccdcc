"""The engine loop with a scripted Kafka source and Gameball behind httpx.MockTransport
(tests/unit/engine/harness.py): commits, backpressure, revocation while a request is out,
shutdown, the in-flight bound while batching, one customer's events coalesced."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

import httpx
import orjson

from bridge.engine.pipeline import SPAN_PER_IN_FLIGHT
from bridge.record import SourceRecord, TopicPartition
from tests.support import TP0, TP1, BatchGameball, FakeSource
from tests.unit.engine.harness import build, ok, rec, run_until, running, until


def test_everything_delivered_is_committed_per_partition() -> None:
    source = FakeSource([rec(0, 0, "a"), rec(0, 1, "b"), rec(1, 0, "a"), rec(0, 2, "c")])
    bridge, dead = build(source, ok)
    asyncio.run(run_until(bridge, lambda: bridge.counters.delivered == 4))
    assert source.last_commit(TP0) == 3
    assert source.last_commit(TP1) == 1
    assert not dead.written


def test_a_slow_earlier_record_holds_the_commit_of_later_ones() -> None:
    release = asyncio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        if orjson.loads(request.content)["customerId"] == "slow":
            await release.wait()
        return httpx.Response(200)

    source = FakeSource([rec(0, 0, "slow"), rec(0, 1, "b"), rec(0, 2, "c")])
    bridge, _ = build(source, handler)

    async def scenario() -> None:
        async with running(bridge):
            await until(lambda: bridge.counters.delivered >= 2)
            await asyncio.sleep(0.05)  # several commit intervals pass
            # Offsets 1 and 2 are done, 0 is not: the commit stays at 0 (1 and 2 ride along
            # as done-above metadata, so a crash now would not send them again).
            assert source.last_commit(TP0) == 0
            release.set()
            await until(lambda: source.last_commit(TP0) == 3)

    asyncio.run(scenario())


def test_one_customer_is_sent_in_offset_order_one_at_a_time() -> None:
    active: set[str] = set()
    order: list[int] = []
    overlaps = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal overlaps
        body = orjson.loads(request.content)
        if body["customerId"] in active:
            overlaps += 1
        active.add(body["customerId"])
        await asyncio.sleep(0.001)
        if body["customerId"] == "a":
            order.append(body["events"]["e"]["n"])
        active.discard(body["customerId"])
        return httpx.Response(200)

    records = [rec(0, i, "a" if i % 2 else f"other{i}") for i in range(40)]
    source = FakeSource(records)
    bridge, _ = build(source, handler)
    asyncio.run(run_until(bridge, lambda: bridge.counters.delivered == 40))
    assert order == [i for i in range(40) if i % 2]
    assert overlaps == 0


def test_backpressure_pauses_at_the_bound_and_resumes_at_half() -> None:
    release = asyncio.Event()

    async def handler(_request: httpx.Request) -> httpx.Response:
        await release.wait()
        return httpx.Response(200)

    source = FakeSource([rec(0, i, f"c{i}") for i in range(10)])
    bridge, _ = build(source, handler, max_in_flight=4)

    async def scenario() -> None:
        async with running(bridge):
            await until(lambda: source.paused)
            assert bridge.in_flight == 4  # fetched no further than the bound
            release.set()
            await until(lambda: bridge.counters.delivered >= 10)

    asyncio.run(scenario())
    assert source.resumed
    assert source.last_commit(TP0) == 10


def test_while_gameball_fails_a_batched_resource_holds_no_more_than_single_calls() -> None:
    # Batches raise the in-flight bound (here 4 -> 40) so that they can fill; in an outage the
    # records would only wait in their retries, 10,000 of them by default (~60 MB). Down, then
    # up: the bound stays at max_in_flight while every call fails, and rises once one lands.
    up = False
    gameball = BatchGameball()
    most: dict[str, int] = {"down": 0, "up": 0}

    async def handler(request: httpx.Request) -> httpx.Response:
        return await gameball(request) if up else httpx.Response(503)

    source = FakeSource([rec(0, i, f"c{i}") for i in range(400)])
    bridge, _ = build(
        source,
        handler,
        max_in_flight=4,
        retry={"initial_backoff": 0.01, "max_backoff": 0.02},
        batch={"mode": "auto", "max_in_flight": 40, "max_wait": 0.01, "first_poll": 0.01},
    )

    async def watch(phase: str) -> None:
        while True:
            most[phase] = max(most[phase], bridge.in_flight)
            await asyncio.sleep(0.002)

    async def scenario() -> None:
        nonlocal up
        async with running(bridge):
            down = asyncio.create_task(watch("down"))
            await until(lambda: bridge.counters.retried >= 50)
            await asyncio.sleep(0.2)  # every retry failing, the resource in batches
            down.cancel()
            assert bridge._sender.status().batching
            up = True
            rising = asyncio.create_task(watch("up"))
            await until(lambda: bridge.counters.delivered == 400)
            rising.cancel()

    asyncio.run(scenario())
    assert most["down"] <= 4
    assert most["up"] > 4  # batching again once Gameball answers
    assert source.last_commit(TP0) == 400


def test_partition_revoked_while_its_request_is_out_is_not_committed_by_us() -> None:
    release = asyncio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        await release.wait()
        return httpx.Response(200)

    source = FakeSource([rec(0, 0, "a"), rec(1, 0, "b")])
    bridge, dead = build(source, handler, drain_timeout=0.05)

    async def scenario() -> None:
        async with running(bridge):
            await until(lambda: bridge.in_flight >= 2)
            # The revoke waits (at most drain_timeout) and finds nothing done to commit.
            assert await bridge.partitions_revoked([TP0]) == {}
            source.assigned = [TP1]
            release.set()
            await until(lambda: bridge.in_flight == 0)

    asyncio.run(scenario())
    assert bridge.counters.abandoned == 1  # delivered, but the next owner will redo it
    assert source.last_commit(TP0) is None
    assert source.last_commit(TP1) == 1
    assert not dead.written


def test_revoke_commits_what_finished_within_the_wait() -> None:
    out: list[httpx.Request] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        out.append(request)
        await asyncio.sleep(0.05)
        return httpx.Response(200)

    source = FakeSource([rec(0, 0, "a"), rec(0, 1, "a")])
    bridge, _ = build(source, handler, commit_interval=60)

    async def scenario() -> None:
        async with running(bridge):
            await until(lambda: bridge.in_flight >= 2 and len(out) == 1)
            plan = await bridge.partitions_revoked([TP0])
            # Waited for the record in the air; the one queued behind it was withdrawn.
            assert plan[TP0].offset == 1
            source.assigned = [TP1]

    asyncio.run(scenario())


def test_lost_partition_commits_nothing_even_when_work_finishes() -> None:
    source = FakeSource([rec(0, 0, "a")])
    bridge, _ = build(source, ok, commit_interval=60)

    async def scenario() -> None:
        async with running(bridge):
            await bridge.partitions_lost([TP0])
            source.assigned = [TP1]
            await asyncio.sleep(0.05)

    asyncio.run(scenario())
    assert source.last_commit(TP0) is None


def test_mapping_failure_is_dead_lettered_and_committed() -> None:
    bad = SourceRecord("t", 0, 0, b"{oops")
    source = FakeSource([bad, rec(0, 1, "a")])
    bridge, dead = build(source, ok)
    asyncio.run(run_until(bridge, lambda: source.last_commit(TP0) == 2))
    assert [reason.kind for _, reason in dead.written] == ["invalid_json"]


def test_records_a_previous_owner_finished_are_not_sent_again() -> None:
    sent: list[int] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        sent.append(orjson.loads(request.content)["events"]["e"]["n"])
        return httpx.Response(200)

    source = FakeSource([rec(0, i, f"c{i}") for i in range(6)])
    source.done_before = {TP0: {1, 2, 4}}
    bridge, _ = build(source, handler)
    asyncio.run(run_until(bridge, lambda: source.last_commit(TP0) == 6))
    assert sorted(sent) == [0, 3, 5]
    assert bridge.counters.done_before == 3


def test_backpressure_also_bounds_bytes_in_flight() -> None:
    release = asyncio.Event()

    async def handler(_request: httpx.Request) -> httpx.Response:
        await release.wait()
        return httpx.Response(200)

    big = [
        SourceRecord(
            "t",
            0,
            i,
            orjson.dumps({"user": {"id": f"c{i}"}, "type": "e", "n": i, "pad": "x" * 600}),
        )
        for i in range(10)
    ]
    source = FakeSource(big[:5], big[5:])  # two fetches of five ~650-byte records
    bridge, _ = build(source, handler, max_in_flight=100, max_in_flight_bytes=2048)

    async def scenario() -> None:
        async with running(bridge):
            await until(lambda: source.paused)
            await asyncio.sleep(0.05)
            # Over the 2 KiB bound after the first fetch: paused before the second.
            assert bridge.in_flight == 5
            release.set()
            await until(lambda: bridge.counters.delivered >= 10)

    asyncio.run(scenario())
    assert source.resumed


class PartitionedSource(FakeSource):
    """Pauses per partition, and, like librdkafka, keeps a partition's pause flag across a
    revoke and a new assignment."""

    def __init__(self, records: list[SourceRecord]) -> None:
        super().__init__()
        self.queued = deque(records)
        self.paused_now: set[TopicPartition] = set()

    async def poll(self, max_records: int, timeout: float) -> list[SourceRecord]:
        out = []
        for record in list(self.queued):
            if len(out) >= max_records:
                break
            if (record.topic, record.partition) not in self.paused_now:
                self.queued.remove(record)
                out.append(record)
        if not out:
            await asyncio.sleep(0.005)
        return out

    async def pause(self, partitions: list[TopicPartition]) -> None:
        await super().pause(partitions)
        self.paused_now.update(partitions)

    async def resume(self, partitions: list[TopicPartition]) -> None:
        await super().resume(partitions)
        self.paused_now.difference_update(partitions)


def test_a_partition_given_back_while_paused_is_resumed() -> None:
    release = asyncio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        if orjson.loads(request.content)["customerId"].startswith("slow"):
            await release.wait()
        return httpx.Response(200)

    source = PartitionedSource([rec(0, 0, "slow0"), rec(1, 0, "slow1")])
    bridge, _ = build(source, handler, max_in_flight=2, drain_timeout=0.1)

    async def scenario() -> None:
        async with running(bridge):
            await until(lambda: source.paused_now == {TP0, TP1})  # 2 in flight: all paused
            # A rebalance takes partition 0 away and gives it back, still paused in librdkafka.
            await source.listener.partitions_revoked([TP0])
            await source.listener.partitions_assigned([TP0], {})
            source.queued.append(rec(0, 0, "c"))  # the new assignment reads it again
            release.set()
            # Its record read again proves partition 0 was resumed (a paused partition
            # fetches nothing) ...
            await until(lambda: source.last_commit(TP0) == 1 and source.last_commit(TP1) == 1)
            # ... and with nothing in flight, none stays paused. Asked here, not after the
            # stop: `c` in flight pauses its partition for its fair share (1 of 2) until the
            # next turn of the loop, which a stop right after the commit may never take.
            await until(lambda: not source.paused_now)

    asyncio.run(scenario())


def test_a_partition_whose_commit_is_held_back_pauses_at_its_span_limit() -> None:
    # One record of partition 0 takes long; later ones of other customers are done but kept
    # for the commit. The partition must stop fetching at the span limit, not grow forever.
    release = asyncio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        if orjson.loads(request.content)["customerId"] == "slow":
            await release.wait()
        return httpx.Response(200)

    limit = SPAN_PER_IN_FLIGHT * 5
    records = [rec(0, 0, "slow")] + [rec(0, i, f"c{i}") for i in range(1, 3 * limit)]
    source = PartitionedSource([*records, rec(1, 0, "other")])
    bridge, _ = build(source, handler, max_in_flight=5)

    async def scenario() -> None:
        async with running(bridge):
            # The other partition is not held up; partition 0 gets as far as its limit ...
            await until(lambda: source.last_commit(TP1) == 1)
            await until(lambda: bridge.counters.delivered >= limit - 1)
            await asyncio.sleep(0.2)  # ... and then no further while the first record is out
            assert TP0 in source.paused_now
            assert bridge.counters.delivered <= limit + 1  # of 3 x limit waiting
            release.set()
            await until(lambda: source.last_commit(TP0) == 3 * limit)

    asyncio.run(scenario())
    assert source.paused_now == set()


def test_a_job_that_raises_does_not_strand_the_jobs_behind_it_in_its_lane() -> None:
    from bridge.engine.lanes import Lanes

    ran: list[int] = []

    async def work(job: Any) -> None:
        ran.append(job.offset)
        if job.offset == 0:
            raise RuntimeError("a bug")

    async def scenario() -> None:
        lanes = Lanes(work)
        for offset in range(3):
            # A stand-in job: Lanes only hands jobs to `work` and logs their context.
            lanes.submit("customer", _StubJob(offset))  # type: ignore[arg-type]
        await until(lambda: len(ran) == 3 and len(lanes) == 0)

    asyncio.run(scenario())
    assert ran == [0, 1, 2]


class _StubJob:
    def __init__(self, offset: int) -> None:
        self.offset = offset

    def log_context(self) -> dict[str, object]:
        return {"offset": self.offset}


def test_a_dead_letter_that_cannot_be_restored_is_dead_lettered_again_not_fatal() -> None:
    source = FakeSource([rec(0, 0, "a"), rec(0, 1, "b")])
    bridge, dead = build(source, ok)

    def restore(record: SourceRecord) -> SourceRecord:
        if record.offset == 0:
            raise ValueError("bridge.source.offset: not a number")
        return record

    bridge._restore = restore
    asyncio.run(run_until(bridge, lambda: source.last_commit(TP0) == 2))
    [(record, reason)] = dead.written
    assert record.offset == 0
    assert reason.kind == "internal_error"
    assert "not a number" in reason.message
    assert bridge.counters.delivered == 1


# -- coalesce_events: one customer's waiting events as one operation ------------------------------


def test_a_customers_waiting_events_travel_as_one_batch_item() -> None:
    # 3 customers x 10 events of distinct names, consumed together: each customer's lane
    # holds its 10 when its turn comes, and they go as one item, in their records' order.
    gameball = BatchGameball()
    jobs = gameball.jobs

    records = [rec(0, n, f"c{n % 3}", f"e{n // 3}") for n in range(30)]
    source = FakeSource(records)
    bridge, dead = build(
        source,
        gameball,
        batch={"mode": "always", "coalesce_events": True, "max_wait": 0.01, "first_poll": 0.01},
    )
    asyncio.run(run_until(bridge, lambda: source.last_commit(TP0) == 30))
    assert len(jobs) == 1
    items = sorted(jobs[0], key=lambda item: str(item["customerId"]))
    assert [item["customerId"] for item in items] == ["c0", "c1", "c2"]
    for customer, item in enumerate(items):
        assert list(item["events"]) == [f"e{k}" for k in range(10)]
        assert [meta["n"] for meta in item["events"].values()] == [
            k * 3 + customer for k in range(10)
        ]
    assert bridge.counters.delivered == 30
    assert not dead.written


def test_a_merged_operation_refused_for_good_is_sent_again_record_by_record() -> None:
    # One customer's e0, e1, bad, e3 go as one single call, refused because of "bad": each
    # is sent again alone, and only "bad" is dead-lettered.
    calls: list[list[str]] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        names = list(orjson.loads(request.content)["events"])
        calls.append(names)
        if "bad" in names:
            return httpx.Response(422, json={"code": 3011, "message": "bad metadata"})
        return httpx.Response(200)

    records = [rec(0, n, "c1", name) for n, name in enumerate(["e0", "e1", "bad", "e3"])]
    source = FakeSource(records)
    bridge, dead = build(source, handler, batch={"mode": "never", "coalesce_events": True})
    asyncio.run(run_until(bridge, lambda: source.last_commit(TP0) == 4))
    assert calls == [["e0", "e1", "bad", "e3"], ["e0"], ["e1"], ["bad"], ["e3"]]
    assert [record.offset for record, _ in dead.written] == [2]
    assert dead.written[0][1].gameball_code == 3011
    assert bridge.counters.delivered == 3


def test_without_coalesce_events_each_record_is_its_own_operation() -> None:
    calls: list[list[str]] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        calls.append(list(orjson.loads(request.content)["events"]))
        return httpx.Response(200)

    records = [rec(0, n, "c1", f"e{n}") for n in range(5)]
    bridge, _ = build(FakeSource(records), handler)
    asyncio.run(run_until(bridge, lambda: bridge.counters.delivered == 5))
    assert calls == [[f"e{n}"] for n in range(5)]
