"""Committing what is done, every `commit_interval`: the checkpoint plans (per partition, the
offset after the longest contiguous done prefix, with the done-above metadata), the Kafka
door sends it, and what the broker took goes back to the checkpoint."""

from __future__ import annotations

import asyncio

import structlog

from bridge.engine.checkpoint import Checkpoint
from bridge.engine.protocols import Source
from bridge.record import OffsetCommit, TopicPartition

log = structlog.get_logger("bridge.engine")


class Committer:
    def __init__(
        self, source: Source, checkpoint: Checkpoint, *, interval: float, enabled: bool = True
    ) -> None:
        """`enabled=False` (dry runs) commits nothing at all."""
        self._source = source
        self._checkpoint = checkpoint
        self._interval = interval
        self._enabled = enabled

    async def commit(self) -> None:
        plan = self._checkpoint.plan()
        if plan and self._enabled:
            self._checkpoint.committed(await self._source.commit(plan))

    def plan_for_revoke(self, revoked: set[TopicPartition]) -> dict[TopicPartition, OffsetCommit]:
        """What to commit for partitions being revoked: the consumer commits it before it
        lets them go (on revoke, never on lost: a lost partition may have a new owner)."""
        return self._checkpoint.plan(only=revoked) if self._enabled else {}

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.commit()
            except Exception:  # a bug here must not end all commits; the next one retries
                log.exception("engine.commit_failed")
