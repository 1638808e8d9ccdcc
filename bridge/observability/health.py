"""Is the bridge alive, and is it ready? Pure evaluation of status snapshots.

- **Healthy** (``/healthz``): the engine's main loop turned within `LOOP_STALE_AFTER` seconds
  (it turns every poll, about ten times a second). A loop that stopped turning will not come
  back by itself: restart the process. A bridge shutting down on request counts as healthy,
  so that a liveness probe does not cut its drain short.
- **Ready** (``/readyz``): all of
  - not shutting down;
  - the consumer group has given this instance an assignment (possibly an empty one: more
    instances than partitions leaves some idle by design);
  - Gameball is reachable: the access gate is open (keys and account accepted) and the last
    `UNREACHABLE_AFTER` requests did not all fail without an answer or with a 5xx;
  - no partition is stuck: records pending and no committed progress for `stuck_after`
    seconds.

Times are `time.monotonic()` seconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from bridge.gameball.status import SenderStatus
from bridge.record import TopicPartition

LOOP_STALE_AFTER = 60.0
# Requests in a row that failed without an answer from Gameball, or with a 5xx.
UNREACHABLE_AFTER = 3


@dataclass(frozen=True, slots=True)
class PartitionStatus:
    pending: int  # records received and not done yet
    committed: int | None  # last committed offset of this assignment (None: none yet)
    lag: int | None  # records between the committed offset and the partition's end


@dataclass(frozen=True, slots=True)
class EngineStatus:
    """The engine's state at one moment: what `Pipeline.status()` returns."""

    at: float
    loop_turned_at: float  # when the main loop last went round
    assignments: int  # assignments received from the group, empty ones included
    partitions: Mapping[TopicPartition, PartitionStatus]
    in_flight: int
    gameball_open: bool  # False while Gameball refuses the keys or the account
    in_flight_bytes: int = 0  # bytes of record keys and values in flight
    lanes: int = 0  # customers (or partitions) with work queued or in flight
    sender: SenderStatus = field(default_factory=SenderStatus)  # modes, batches
    # Records held (in in_flight too) until the schema registry gives their schema.
    held_for_schema: int = 0


@dataclass(frozen=True, slots=True)
class Snapshot:
    """An `EngineStatus` with what is learnt by watching it over time."""

    engine: EngineStatus
    stopping: bool = False
    # Requests in a row that failed without an answer or with a 5xx (0 after any answer).
    gameball_failures: int = 0
    # Partitions with records pending -> since when their committed offset has not moved.
    stalled_since: Mapping[TopicPartition, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    reasons: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, object]:
        return {"status": "ok" if self.ok else "unavailable", "reasons": list(self.reasons)}


def check_health(
    snapshot: Snapshot | None, now: float, *, stale_after: float = LOOP_STALE_AFTER
) -> Verdict:
    if snapshot is None:
        return Verdict(False, ("starting: no status yet",))
    if snapshot.stopping:
        return Verdict(True, ("shutting down",))
    idle = now - snapshot.engine.loop_turned_at
    if idle > stale_after:
        return Verdict(False, (f"the engine loop has not turned for {idle:.0f}s",))
    return Verdict(True)


def check_readiness(
    snapshot: Snapshot | None,
    now: float,
    *,
    stuck_after: float,
    unreachable_after: int = UNREACHABLE_AFTER,
    stale_after: float = LOOP_STALE_AFTER,
) -> Verdict:
    health = check_health(snapshot, now, stale_after=stale_after)
    if snapshot is None or not health.ok:
        return health
    if snapshot.stopping:
        return Verdict(False, ("shutting down",))
    engine = snapshot.engine
    reasons: list[str] = []
    if engine.assignments == 0:
        reasons.append("no partition assignment yet (joining the consumer group)")
    if not engine.gameball_open:
        reasons.append("Gameball refuses the keys or the account (access denied)")
    if snapshot.gameball_failures >= unreachable_after:
        reasons.append(
            f"Gameball unreachable: {snapshot.gameball_failures} requests in a row failed "
            "(timeout, connection error or 5xx)"
        )
    for (topic, partition), since in sorted(snapshot.stalled_since.items()):
        stalled = now - since
        if stalled >= stuck_after:
            pending = engine.partitions[(topic, partition)].pending
            reasons.append(
                f"{topic}[{partition}] stuck: {pending} record(s) pending and no committed "
                f"progress for {stalled:.0f}s"
            )
    return Verdict(not reasons, tuple(reasons))


class ProgressWatch:
    """Turns successive `EngineStatus`es into "stalled since" per partition: since the last
    time its committed offset moved or nothing was pending, whichever is later."""

    def __init__(self) -> None:
        self._seen: dict[TopicPartition, tuple[int | None, float]] = {}

    def update(self, engine: EngineStatus) -> dict[TopicPartition, float]:
        seen: dict[TopicPartition, tuple[int | None, float]] = {}
        stalled: dict[TopicPartition, float] = {}
        for tp, part in engine.partitions.items():
            previous = self._seen.get(tp)
            if part.pending == 0 or previous is None or previous[0] != part.committed:
                seen[tp] = (part.committed, engine.at)
            else:
                seen[tp] = previous
            if part.pending:
                stalled[tp] = seen[tp][1]
        self._seen = seen  # revoked partitions are forgotten
        return stalled


class FailureStreak:
    """Requests in a row that got no answer from Gameball or a 5xx; any other answer (2xx,
    4xx, 429) shows Gameball is there and resets it."""

    def __init__(self) -> None:
        self.count = 0

    def record(self, status: int | str) -> None:
        if isinstance(status, int) and status < 500:
            self.count = 0
        else:
            self.count += 1
