"""Committing what is done: every `commit_interval`, per partition, the offset after the
longest contiguous done prefix (`OffsetTracker.commit_plan`), and what the broker accepted is
recorded so the next plan starts there."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

import structlog

from bridge.engine.protocols import Source
from bridge.kafka.offsets import OffsetCommit, OffsetTracker
from bridge.record import TopicPartition

log = structlog.get_logger("bridge.engine")


class Committer:
    def __init__(
        self,
        source: Source,
        tracker: OffsetTracker,
        *,
        interval: float,
        enabled: bool = True,
        on_committed: Callable[[Mapping[TopicPartition, OffsetCommit]], None] | None = None,
    ) -> None:
        """`enabled=False` (dry runs) commits nothing at all. `on_committed` is told the
        committed state of every assigned partition after each commit the broker took."""
        self._source = source
        self._tracker = tracker
        self._interval = interval
        self._enabled = enabled
        self._on_committed = on_committed

    async def commit(self) -> None:
        plan = self._tracker.commit_plan()
        if plan and self._enabled:
            accepted = await self._source.commit(plan)
            self._tracker.committed(accepted)
            if accepted and self._on_committed is not None:
                self._on_committed(self._tracker.committed_state())

    def plan_for_revoke(self, revoked: set[TopicPartition]) -> dict[TopicPartition, OffsetCommit]:
        """What to commit for partitions being revoked: the consumer commits it before it
        lets them go (on revoke, never on lost: a lost partition may have a new owner)."""
        return self._tracker.commit_plan(only=revoked) if self._enabled else {}

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.commit()
            except Exception:  # a bug here must not end all commits; the next one retries
                log.exception("engine.commit_failed")
