"""Health and readiness evaluation: pure functions of a status snapshot."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from bridge.observability.health import (
    EngineStatus,
    FailureStreak,
    PartitionStatus,
    ProgressWatch,
    Snapshot,
    check_health,
    check_readiness,
)
from bridge.record import TopicPartition

NOW = 10_000.0
TP: TopicPartition = ("orders", 0)
STUCK_AFTER = 300.0


def engine(
    *,
    at: float = NOW,
    loop_turned_at: float = NOW - 0.1,
    assignments: int = 1,
    partitions: Mapping[TopicPartition, PartitionStatus] | None = None,
    gameball_open: bool = True,
) -> EngineStatus:
    return EngineStatus(
        at=at,
        loop_turned_at=loop_turned_at,
        assignments=assignments,
        partitions={TP: PartitionStatus(0, 10, 0)} if partitions is None else partitions,
        in_flight=0,
        gameball_open=gameball_open,
    )


BUSY = {TP: PartitionStatus(pending=5, committed=10, lag=40)}

READINESS = [
    ("assigned and delivering", Snapshot(engine()), True, ""),
    ("idle by design: an empty assignment", Snapshot(engine(partitions={})), True, ""),
    (
        "no assignment yet",
        Snapshot(engine(assignments=0, partitions={})),
        False,
        "no partition assignment",
    ),
    ("access gate closed", Snapshot(engine(gameball_open=False)), False, "access denied"),
    ("two failures in a row", Snapshot(engine(), gameball_failures=2), True, ""),
    ("three failures in a row", Snapshot(engine(), gameball_failures=3), False, "unreachable"),
    (
        "stalled, not for long",
        Snapshot(engine(partitions=BUSY), stalled_since={TP: NOW - STUCK_AFTER + 1}),
        True,
        "",
    ),
    (
        "stuck partition",
        Snapshot(engine(partitions=BUSY), stalled_since={TP: NOW - STUCK_AFTER}),
        False,
        "orders[0] stuck: 5 record(s) pending",
    ),
    ("loop stopped turning", Snapshot(engine(loop_turned_at=NOW - 61)), False, "not turned"),
    ("shutting down", Snapshot(engine(), stopping=True), False, "shutting down"),
    ("no status yet", None, False, "starting"),
]


@pytest.mark.parametrize(
    ("snapshot", "ready", "reason"),
    [case[1:] for case in READINESS],
    ids=[case[0] for case in READINESS],
)
def test_readiness(snapshot: Snapshot | None, ready: bool, reason: str) -> None:
    verdict = check_readiness(snapshot, NOW, stuck_after=STUCK_AFTER)
    assert verdict.ok is ready
    if reason:
        assert any(reason in r for r in verdict.reasons), verdict.reasons
    else:
        assert verdict.reasons == ()


def test_every_reason_is_reported() -> None:
    snapshot = Snapshot(
        engine(gameball_open=False, partitions=BUSY),
        gameball_failures=5,
        stalled_since={TP: 0.0},
    )
    verdict = check_readiness(snapshot, NOW, stuck_after=STUCK_AFTER)
    assert len(verdict.reasons) == 3
    assert verdict.as_dict()["status"] == "unavailable"


@pytest.mark.parametrize(
    ("snapshot", "healthy"),
    [
        (Snapshot(engine()), True),
        (Snapshot(engine(loop_turned_at=NOW - 59)), True),
        (Snapshot(engine(loop_turned_at=NOW - 61)), False),
        # Draining on request: a liveness probe must not cut the drain short.
        (Snapshot(engine(loop_turned_at=NOW - 600), stopping=True), True),
        # Unready reasons are not about liveness.
        (Snapshot(engine(gameball_open=False, assignments=0), gameball_failures=9), True),
        (None, False),
    ],
)
def test_health(snapshot: Snapshot | None, healthy: bool) -> None:
    assert check_health(snapshot, NOW).ok is healthy


def test_a_stuck_partition_makes_the_bridge_unready_until_its_commits_move_again() -> None:
    watch = ProgressWatch()

    def ready_at(t: float, pending: int, committed: int | None) -> bool:
        status = engine(
            at=t, loop_turned_at=t, partitions={TP: PartitionStatus(pending, committed, 0)}
        )
        snapshot = Snapshot(status, stalled_since=watch.update(status))
        return check_readiness(snapshot, t, stuck_after=STUCK_AFTER).ok

    assert ready_at(0, pending=5, committed=None)
    assert ready_at(200, pending=5, committed=None)
    assert not ready_at(300, pending=5, committed=None)  # nothing committed for 300 s
    assert ready_at(301, pending=5, committed=12)  # progress
    assert ready_at(600, pending=5, committed=12)
    assert not ready_at(601, pending=5, committed=12)
    assert ready_at(602, pending=0, committed=12)  # nothing pending: idle, not stuck
    assert ready_at(900, pending=0, committed=12)
    # Pending again: stalled since it was last seen idle.
    assert ready_at(1000, pending=3, committed=12)
    assert not ready_at(1200, pending=3, committed=12)


def test_a_revoked_partition_is_forgotten() -> None:
    watch = ProgressWatch()
    watch.update(engine(at=0, partitions=BUSY))
    assert watch.update(engine(at=500, partitions={})) == {}
    # Assigned again later: stalled since it came back, not since the first time.
    assert watch.update(engine(at=900, partitions=BUSY)) == {TP: 900}


def test_failure_streak_counts_unanswered_and_5xx_until_any_answer() -> None:
    streak = FailureStreak()
    for status in ("error", 503, 500, "error"):
        streak.record(status)
    assert streak.count == 4
    streak.record(429)  # rate limited: Gameball is there
    assert streak.count == 0
    streak.record(502)
    streak.record(400)
    assert streak.count == 0
