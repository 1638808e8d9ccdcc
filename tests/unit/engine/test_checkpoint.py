"""A partition's checkpoint (bridge/engine/checkpoint.py): only the contiguous done prefix
is committable; what a previous owner finished (commit metadata) or delivered through its
batch jobs (the journal) is not done again; the journal hears of each accepted commit."""

from __future__ import annotations

import random

import pytest

from bridge.engine.checkpoint import (
    MAX_METADATA_CHARS,
    Checkpoint,
    decode_done_above,
    encode_done_above,
)
from bridge.record import OffsetCommit

TP = ("t", 0)


def plan(t: Checkpoint, only: set[tuple[str, int]] | None = None) -> dict[tuple[str, int], int]:
    """The commit plan's offsets (the metadata is tested on its own below)."""
    return {tp: c.offset for tp, c in t.plan(only).items()}


def tracker(*offsets: int) -> Checkpoint:
    t = Checkpoint()
    t.assign(TP)
    for o in offsets:
        t.received(TP, o)
    return t


def test_nothing_done_nothing_to_commit() -> None:
    assert tracker(0, 1, 2).plan() == {}


def test_out_of_order_completion_commits_only_the_contiguous_prefix() -> None:
    t = tracker(5, 6, 7, 8)
    t.completed(TP, 7)
    t.completed(TP, 8)
    # 5 still pending: commit where the group was, 7 and 8 only as done-above metadata.
    assert plan(t) == {TP: 5}
    assert decode_done_above(5, t.plan()[TP].metadata) == {7, 8}
    t.completed(TP, 5)
    assert plan(t) == {TP: 6}  # 6 still pending: commit "next is 6"
    t.completed(TP, 6)
    assert plan(t) == {TP: 9}
    assert t.pending(TP) == 0


def test_gaps_in_offsets_are_fine() -> None:
    # Compacted topics and transaction markers leave holes in a partition's offsets.
    t = tracker(10, 13, 20)
    t.completed(TP, 13)
    t.completed(TP, 10)
    assert plan(t) == {TP: 14}


def test_committed_plan_is_not_proposed_again() -> None:
    t = tracker(0, 1)
    t.completed(TP, 0)
    t.committed(t.plan())
    assert plan(t) == {}
    t.completed(TP, 1)
    assert plan(t) == {TP: 2}


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
    assert plan(t) == {}


def test_plan_can_be_limited_to_some_partitions() -> None:
    t = tracker(0)
    t.assign(("t", 1))
    t.received(("t", 1), 0)
    t.completed(TP, 0)
    t.completed(("t", 1), 0)
    assert plan(t, {("t", 1)}) == {("t", 1): 1}


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
            # Nothing done from the start: where the group was (the first offset), with
            # what is done above it as metadata.
            position = offsets[prefix - 1] + 1 if prefix else offsets[0]
            if position is not None and position != last_committed:
                assert plan(t) == {TP: position}
            else:  # same offset; only the done-above metadata may have changed
                assert plan(t) in ({}, {TP: position})
            t.committed(t.plan())
            last_committed = position


# -- done-above metadata: fewer duplicates after a crash -----------------------------------


def test_commit_metadata_records_what_is_done_above_the_offset() -> None:
    t = tracker(*range(10, 20))
    for o in (10, 13, 14, 15, 18):
        t.completed(TP, o)
    [commit] = t.plan().values()
    assert commit.offset == 11
    assert decode_done_above(commit.offset, commit.metadata) == {13, 14, 15, 18}


def test_a_new_owner_skips_what_the_metadata_says_is_done() -> None:
    done = {13, 14, 18}
    t = Checkpoint()
    assert t.assign(TP, OffsetCommit(11, encode_done_above(11, done))) == done
    needed = [o for o in range(11, 20) if t.received(TP, o)]
    assert needed == [11, 12, 15, 16, 17, 19]
    for o in needed:
        t.completed(TP, o)
    assert plan(t) == {TP: 20}


def test_skipped_offsets_at_the_head_move_the_position_at_once() -> None:
    t = Checkpoint()
    t.assign(TP, OffsetCommit(5, encode_done_above(5, {5, 6})))
    assert t.received(TP, 5) is False
    assert t.received(TP, 6) is False
    assert plan(t) == {TP: 7}


@pytest.mark.parametrize(
    "done",
    [set(), {0}, {1, 2, 3}, {5, 7, 9, 100_000}, set(range(3, 500)) | {2_000, 70_000_000}],
)
def test_metadata_round_trips(done: set[int]) -> None:
    assert decode_done_above(1_000, encode_done_above(1_000, {1_000 + o for o in done})) == {
        1_000 + o for o in done
    }


def test_metadata_stays_under_the_broker_limit_by_dropping_the_highest_runs() -> None:
    done = set(range(0, 20_000, 2))  # 10,000 separate runs
    encoded = encode_done_above(0, done)
    assert len(encoded) <= MAX_METADATA_CHARS
    decoded = decode_done_above(0, encoded)
    assert decoded
    assert decoded < done
    assert min(done - decoded) > max(decoded)  # the lowest runs are the ones kept


@pytest.mark.parametrize("metadata", [None, "", "other-tool", "gbb1:zz", "gbb1:1+2,x"])
def test_foreign_or_corrupt_metadata_means_nothing_done(metadata: str | None) -> None:
    assert decode_done_above(10, metadata) == set()


def test_metadata_another_tool_wrote_is_ignored_at_an_assignment() -> None:
    t = Checkpoint()
    assert t.assign(TP, OffsetCommit(5, "some-other-tool:v1")) == set()
    assert t.received(TP, 5) is True


def test_operations_a_previous_owners_jobs_delivered_are_handed_out_once() -> None:
    t = Checkpoint()
    t.assign(TP, None, {7: {0, 2}})
    assert t.operations_done(TP, 7) == frozenset({0, 2})
    assert t.operations_done(TP, 7) == frozenset()  # asked once, when the record is mapped
    assert t.operations_done(TP, 8) == frozenset()
    t.assign(TP, None, {9: {1}})
    t.forget(TP)
    assert t.operations_done(TP, 9) == frozenset()


def test_the_journal_hears_every_accepted_commit_with_the_whole_committed_state() -> None:
    heard: list[dict[tuple[str, int], OffsetCommit]] = []
    t = Checkpoint(on_committed=lambda state: heard.append(dict(state)))
    t.assign(TP)
    t.assign(("t", 1))
    for o in (0, 1):
        t.received(TP, o)
        t.completed(TP, o)
    t.committed(t.plan())
    t.committed({})  # nothing accepted: nothing to hear
    assert heard == [{TP: OffsetCommit(2, "")}]
