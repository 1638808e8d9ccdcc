"""Records that wait for their schema: a partition whose record names a schema id the
registry has not been asked for yet holds that record and every later one of the partition,
in order, while a task asks the registry off the event loop (`SchemaPending.prepare`).

An outage of the registry holds the records (asked again with backoff, for as long as it
takes); it never drops or dead-letters them. Held records count against their own
partition's share of the in-flight bound, not against the bound every partition shares: the
partition that waits for a schema pauses at its share, and the others go on. They are never
committed past.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

import structlog

from bridge.backoff import Backoff
from bridge.errors import SchemaPending
from bridge.record import SourceRecord, TopicPartition

log = structlog.get_logger("bridge.engine")


class SchemaHolds:
    """`resume(record, generation)` maps and submits a record again (raising SchemaPending
    when it needs another schema first); `count(record, +1 | -1)` keeps the engine's in-flight
    figures; `is_current(tp, generation)` tells a held record whose partition moved on."""

    def __init__(
        self,
        backoff: Backoff,
        *,
        resume: Callable[[SourceRecord, int], None],
        count: Callable[[SourceRecord, int], None],
        is_current: Callable[[TopicPartition, int], bool],
    ) -> None:
        self._backoff = backoff
        self._resume = resume
        self._count = count
        self._is_current = is_current
        self._held: dict[TopicPartition, deque[tuple[SourceRecord, int]]] = {}
        self._tasks: dict[TopicPartition, asyncio.Task[None]] = {}

    def __contains__(self, tp: TopicPartition) -> bool:
        return tp in self._held

    def __len__(self) -> int:
        """How many records are held, in all."""
        return sum(len(queue) for queue in self._held.values())

    def count(self, tp: TopicPartition) -> int:
        """How many records of `tp` are held."""
        queue = self._held.get(tp)
        return len(queue) if queue is not None else 0

    def hold(
        self,
        tp: TopicPartition,
        record: SourceRecord,
        generation: int,
        pending: SchemaPending | None = None,
    ) -> None:
        """Hold `record` behind its partition's others; `pending`: it is the first, and
        this is the schema to ask for."""
        self._held.setdefault(tp, deque()).append((record, generation))
        self._count(record, 1)
        if pending is not None:
            self._tasks[tp] = asyncio.create_task(
                self._wait(tp, pending), name=f"schema for {tp[0]}[{tp[1]}]"
            )

    def drop(self, tp: TopicPartition) -> None:
        """Forget the partition's held records (revoked, or shutting down): not done, so
        never committed; the partition's next owner reads them again."""
        task = self._tasks.pop(tp, None)
        if task is not None:
            task.cancel()
        for record, _generation in self._held.pop(tp, ()):
            self._count(record, -1)

    def drop_all(self) -> None:
        for tp in list(self._held):
            self.drop(tp)

    async def _wait(self, tp: TopicPartition, pending: SchemaPending) -> None:
        queue = self._held[tp]
        while True:
            await self._prepare(pending)
            while queue:
                record, generation = queue[0]
                if not self._is_current(tp, generation):
                    queue.popleft()
                    self._count(record, -1)
                    continue
                try:
                    self._resume(record, generation)
                except SchemaPending as another:  # a later record names another new schema
                    pending = another
                    break
                queue.popleft()
                self._count(record, -1)
            else:
                del self._held[tp]
                self._tasks.pop(tp, None)
                return

    async def _prepare(self, pending: SchemaPending) -> None:
        failures = 0
        while True:
            try:
                # Off the event loop: the registry's client is synchronous.
                await asyncio.to_thread(pending.prepare)
            except Exception as exc:  # RegistryUnavailable; a bug too holds, never drops
                failures += 1
                delay = self._backoff.delay(failures)
                log.warning(
                    "schema_registry.unavailable",
                    schema=pending.what,
                    attempt=failures,
                    retry_in=round(delay, 2),
                    held=len(self),
                    error=str(exc),
                )
                await asyncio.sleep(delay)
                continue
            if failures:
                log.info("schema_registry.recovered", schema=pending.what, attempts=failures + 1)
            return
