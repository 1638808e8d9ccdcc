"""Lanes: jobs with the same key run one after another; different keys run concurrently.

The key is the Gameball customer (so one customer's records reach Gameball in offset order,
one request at a time, which is also what Gameball's code 2001 demands) or the partition
(strict partition order). A lane exists only while it has work.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Hashable

import structlog

from bridge.engine.jobs import Job

log = structlog.get_logger("bridge.engine")


class Lanes:
    def __init__(self, work: Callable[[Job], Awaitable[None]]) -> None:
        self._work = work
        self._lanes: dict[Hashable, deque[Job]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        return len(self._lanes)

    def submit(self, key: Hashable, job: Job) -> None:
        lane = self._lanes.get(key)
        if lane is not None:
            lane.append(job)
            return
        lane = self._lanes[key] = deque((job,))
        task = asyncio.create_task(self._drain(key, lane), name=f"lane:{key}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _drain(self, key: Hashable, lane: deque[Job]) -> None:
        try:
            while lane:
                # `work` never raises for a job's own failure (it dead-letters or retries),
                # so the lane moves on only when the job is done or abandoned.
                try:
                    await self._work(lane[0])
                except Exception:
                    # A bug in the engine itself. The job stays not done (its offset holds
                    # its partition's commit: a duplicate after a restart, never a loss), but
                    # the jobs queued behind it must still run: a dead lane would leave them
                    # neither done nor abandoned, and in flight for ever.
                    log.exception("lane.job_failed", **lane[0].log_context())
                lane.popleft()
        finally:
            del self._lanes[key]

    async def cancel(self) -> int:
        """Abandon every lane; return how many jobs were left unfinished."""
        left = sum(len(lane) for lane in self._lanes.values())
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return left
