"""Pausing on its own: a partition that fills its fair part of the in-flight bound pauses
while the others keep fetching, and resumes at half of it."""

from __future__ import annotations

import asyncio

from bridge.engine.pausing import Pausing
from bridge.engine.settings import DeliveryConfig
from bridge.record import TopicPartition
from tests.support import FakeSource

A, B, C = ("t", 0), ("t", 1), ("t", 2)


def paused_after(pending_steps: list[dict[TopicPartition, int]]) -> list[set[TopicPartition]]:
    """The partitions paused after each update (bound 300, so each one's part is 100)."""

    async def go() -> list[set[TopicPartition]]:
        source = FakeSource()
        pausing = Pausing(source, DeliveryConfig(max_in_flight=300), span_per_in_flight=20)
        seen = []
        for pending in pending_steps:
            await pausing.update(
                [A, B, C],
                max_in_flight=300,
                in_flight=sum(pending.values()),
                in_flight_bytes=0,
                span=lambda _tp: 0,
                pending=lambda tp, counts=pending: counts.get(tp, 0),
            )
            seen.append(set(pausing._paused))
        return seen

    return asyncio.run(go())


def test_a_partition_at_its_part_of_the_bound_pauses_alone_and_resumes_at_half() -> None:
    assert paused_after(
        [
            {A: 99, B: 10},  # below its part
            {A: 100, B: 10},  # at it: A alone pauses, the others fetch on
            {A: 60, B: 10},  # above half: still paused
            {A: 50, B: 10},  # half: resumed
        ]
    ) == [set(), {A}, {A}, set()]


def test_every_partition_pauses_at_the_whole_bound() -> None:
    assert paused_after([{A: 100, B: 100, C: 100}]) == [{A, B, C}]
