"""Offset bookkeeping: only the contiguous done prefix of a partition is committable."""

from __future__ import annotations

import random

import pytest

from bridge.kafka.offsets import OffsetTracker

TP = ("t", 0)


def tracker(*offsets: int) -> OffsetTracker:
    t = OffsetTracker()
    t.assign(TP)
    for o in offsets:
        t.received(TP, o)
    return t


def test_nothing_done_nothing_to_commit() -> None:
    assert tracker(0, 1, 2).commit_plan() == {}


def test_out_of_order_completion_commits_only_the_contiguous_prefix() -> None:
    t = tracker(5, 6, 7, 8)
    t.completed(TP, 7)
    t.completed(TP, 8)
    assert t.commit_plan() == {}
    t.completed(TP, 5)
    assert t.commit_plan() == {TP: 6}  # 6 still pending: commit "next is 6"
    t.completed(TP, 6)
    assert t.commit_plan() == {TP: 9}
    assert t.pending(TP) == 0


def test_gaps_in_offsets_are_fine() -> None:
    # Compacted topics and transaction markers leave holes in a partition's offsets.
    t = tracker(10, 13, 20)
    t.completed(TP, 13)
    t.completed(TP, 10)
    assert t.commit_plan() == {TP: 14}


def test_committed_plan_is_not_proposed_again() -> None:
    t = tracker(0, 1)
    t.completed(TP, 0)
    plan = t.commit_plan()
    t.committed(plan)
    assert t.commit_plan() == {}
    t.completed(TP, 1)
    assert t.commit_plan() == {TP: 2}


def test_offsets_going_backwards_are_refused() -> None:
    t = tracker(5)
    with pytest.raises(ValueError, match="backwards"):
        t.received(TP, 5)
    t.completed(TP, 5)
    with pytest.raises(ValueError, match="backwards"):
        t.received(TP, 3)


def test_completing_an_unknown_offset_is_refused() -> None:
    t = tracker(1)
    with pytest.raises(ValueError, match="not pending"):
        t.completed(TP, 2)
    t.completed(TP, 1)
    with pytest.raises(ValueError, match="not pending"):
        t.completed(TP, 1)


def test_unassigned_partition_is_refused_and_forget_drops_state() -> None:
    t = tracker(0)
    with pytest.raises(ValueError, match="not assigned"):
        t.received(("t", 1), 0)
    t.forget(TP)
    assert not t.is_assigned(TP)
    assert t.commit_plan() == {}


def test_plan_can_be_limited_to_some_partitions() -> None:
    t = tracker(0)
    t.assign(("t", 1))
    t.received(("t", 1), 0)
    t.completed(TP, 0)
    t.completed(("t", 1), 0)
    assert t.commit_plan(only={("t", 1)}) == {("t", 1): 1}


def test_random_completion_order_matches_a_reference_model() -> None:
    rng = random.Random(7)
    for _ in range(50):
        offsets = sorted(rng.sample(range(200), 40))
        t = tracker(*offsets)
        done: set[int] = set()
        last_committed = None
        for o in rng.sample(offsets, len(offsets)):
            t.completed(TP, o)
            done.add(o)
            prefix = 0
            while prefix < len(offsets) and offsets[prefix] in done:
                prefix += 1
            position = offsets[prefix - 1] + 1 if prefix else None
            expected = {TP: position} if position not in (None, last_committed) else {}
            assert t.commit_plan() == expected
            t.committed(expected)
            last_committed = position
