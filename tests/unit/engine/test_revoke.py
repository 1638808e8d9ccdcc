"""A revoke or a stop hands partitions over without repeating anything: what has not reached
the wire is withdrawn wherever it waits (a lane, a rate-limit slot, a batch not yet created),
what is in the air finishes and is committed, and nothing of a revoked partition is sent by
this member afterwards."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson

from bridge.engine.journal import JobJournal
from bridge.engine.pipeline import Pipeline
from tests.support import TP0, TP1, BatchGameball, FakeSource
from tests.unit.engine import harness
from tests.unit.engine.harness import Handler, rec, running, until


def build(
    source: FakeSource,
    handler: Handler,
    *,
    journal: JobJournal | None = None,
    gameball: dict[str, Any] | None = None,
    delivery: dict[str, Any] | None = None,
) -> Pipeline:
    """The engine in `auto` mode, committing only when a revoke or a stop makes it (every
    60 s otherwise): what a revoke commits is then its own doing."""
    settings = {"commit_interval": 60, "batch": {}, **(delivery or {})}
    bridge, _ = harness.build(source, handler, journal=journal, gameball=gameball, **settings)
    return bridge


def sent_ns(requests: list[httpx.Request]) -> list[int]:
    """The `n` of every event posted, single calls and batch items alike."""
    out = []
    for request in requests:
        doc = orjson.loads(request.content)
        for item in doc.get("body", [doc]):
            out += [meta["n"] for meta in item["events"].values()]
    return out


def test_a_revoke_waits_for_what_is_in_the_air_and_withdraws_the_rest() -> None:
    # Customer a's records 0 and 1 on partition 0: 0 is out when the revoke comes, 1 waits
    # behind it in a's lane. 0 finishes and is committed; 1 is the next owner's.
    requests: list[httpx.Request] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        await asyncio.sleep(0.2)
        return httpx.Response(200)

    source = FakeSource([rec(0, 0, "a"), rec(0, 1, "a")])
    bridge = build(source, handler)

    async def scenario() -> None:
        async with running(bridge):
            await until(lambda: len(requests) == 1)
            plan = await bridge.partitions_revoked([TP0])
            assert plan[TP0].offset == 1  # 0 finished within the wait; 1 was never sent
            source.assigned = [TP1]
            await asyncio.sleep(0.4)

    asyncio.run(scenario())
    assert sent_ns(requests) == [0]
    assert bridge.counters.abandoned == 1


def test_records_waiting_for_the_rate_limit_are_never_sent_after_the_revoke() -> None:
    # 150 events per 30 s for the account, paced (one every 0.2 s, and the pacer starts
    # empty): the records of partition 0 wait for the rate limit when the revoke comes. As
    # room comes, none of them goes: they are withdrawn at the slot.
    requests: list[httpx.Request] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(200)

    source = FakeSource([rec(0, n, f"c{n}") for n in range(5)])
    limits = {"events": {"per_second": 100, "per_30s": 150}}
    bridge = build(source, handler, gameball={"rate_limits": limits})

    async def scenario() -> None:
        async with running(bridge):
            await until(lambda: bridge.in_flight == 5)
            plan = await bridge.partitions_revoked([TP0])
            assert plan == {}
            source.assigned = [TP1]
            await until(lambda: bridge.in_flight == 0, timeout=5)

    asyncio.run(scenario())
    assert requests == []
    assert bridge.counters.abandoned == 5


def test_batch_items_of_a_revoked_partition_are_left_out_of_the_job() -> None:
    # Partition 0's and partition 1's records are in one batch whose create call waits for
    # the "others" rate limit (paced: 30 per 30 s, its first token a second away) when
    # partition 0 is revoked: the job that is created carries partition 1's items only.
    handler = BatchGameball()
    requests = handler.requests

    source = FakeSource([rec(0, 0, "a"), rec(0, 1, "b"), rec(1, 0, "c"), rec(1, 1, "d")])
    batch = {"mode": "always", "first_poll": 0.01, "poll_interval": 0.01}
    limits = {
        "events": {"per_second": 1000, "per_30s": 30000},
        "payments": {"per_second": 30, "per_30s": 30},  # Gameball's "others": batch calls
        "share": 1.0,
    }
    bridge = build(source, handler, delivery={"batch": batch}, gameball={"rate_limits": limits})

    async def scenario() -> None:
        async with running(bridge):
            await until(lambda: bridge.in_flight == 4)
            await asyncio.sleep(0.3)  # the batch has gone to wait for its create call's slot
            assert requests == []
            plan = await bridge.partitions_revoked([TP0])
            assert plan == {}
            source.assigned = [TP1]
            await until(lambda: bridge.in_flight == 0, timeout=5)

    asyncio.run(scenario())
    creates = [r for r in requests if r.method == "POST"]
    assert len(creates) == 1
    assert sent_ns(creates) == [0, 1]  # partition 1's records only (n is the offset)
    assert source.last_commit(TP1) == 2


def test_a_merged_item_of_a_revoked_partition_is_left_out_whole() -> None:
    # coalesce_events: partition 0's customer a (three events) and partition 1's customer b
    # (two) wait as one item each for the create call's slot when partition 0 is revoked:
    # a's item is withdrawn (its three records are the next owner's), b's goes.
    handler = BatchGameball()
    requests = handler.requests

    source = FakeSource(
        [rec(0, n, "a", f"e{n}") for n in range(3)] + [rec(1, n, "b", f"e{n}") for n in range(2)]
    )
    batch = {"mode": "always", "first_poll": 0.01, "poll_interval": 0.01, "coalesce_events": True}
    limits = {
        "events": {"per_second": 1000, "per_30s": 30000},
        "payments": {"per_second": 30, "per_30s": 30},  # Gameball's "others": batch calls
        "share": 1.0,
    }
    bridge = build(source, handler, delivery={"batch": batch}, gameball={"rate_limits": limits})

    async def scenario() -> None:
        async with running(bridge):
            await until(lambda: bridge.in_flight == 5)
            await asyncio.sleep(0.3)  # the batch waits for its create call's slot
            assert requests == []
            assert await bridge.partitions_revoked([TP0]) == {}
            source.assigned = [TP1]
            await until(lambda: bridge.in_flight == 0, timeout=5)

    asyncio.run(scenario())
    creates = [r for r in requests if r.method == "POST"]
    assert len(creates) == 1
    body = orjson.loads(creates[0].content)["body"]
    assert [item["customerId"] for item in body] == ["b"]
    assert list(body[0]["events"]) == ["e0", "e1"]
    assert bridge.counters.abandoned == 3
    assert source.last_commit(TP1) == 2


def test_a_stop_cancels_nothing_that_is_in_the_air() -> None:
    # The drain's time runs out with a slow request out: the rest is withdrawn, the request
    # in the air is waited for (not cancelled, which could land it and send it again), and
    # committed.
    requests: list[httpx.Request] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        await asyncio.sleep(0.4)
        return httpx.Response(200)

    source = FakeSource([rec(0, n, "a") for n in range(5)])
    limits = {"rate_limits": {"enabled": False}}
    bridge = build(source, handler, delivery={"drain_timeout": 2.0}, gameball=limits)

    async def scenario() -> None:
        async with running(bridge):
            await until(lambda: len(requests) == 1)

    asyncio.run(scenario())
    # Customer a's records go one at a time, 0.4 s each. The drain's first 1.5 s (of 2: a
    # quarter is kept for the air) see records 0 to 2 done and 3 out; 3 is waited for and
    # committed, 4 is withdrawn (the next owner sends it).
    assert sent_ns(requests) == [0, 1, 2, 3]
    assert source.last_commit(TP0) == 4
    assert bridge.counters.abandoned == 1
