"""Lanes: jobs with the same key run one after another; different keys run concurrently.

The key is the Gameball customer (so one customer's records reach Gameball in offset order,
one request at a time, which is also what Gameball's code 2001 demands) or the partition
(strict partition order). A lane exists only while it has work.

    submit(key, job) ──> lane of `key`: the job running (its task), then those queued behind

While batching, most lanes hold a single job (thousands of customers, one record each in
flight), so a lane is its running job plus a queue made only when a second job comes.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Hashable

import structlog

from bridge.engine.jobs import Job

log = structlog.get_logger("bridge.engine")


class _Lane:
    __slots__ = ("behind", "head")

    def __init__(self, head: Job) -> None:
        self.head = head
        self.behind: deque[Job] | None = None

    def __len__(self) -> int:
        return 1 + (len(self.behind) if self.behind else 0)


class Lanes:
    def __init__(self, work: Callable[[Job], Awaitable[None]]) -> None:
        self._work = work
        self._lanes: dict[Hashable, _Lane] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        return len(self._lanes)

    def submit(self, key: Hashable, job: Job) -> None:
        lane = self._lanes.get(key)
        if lane is not None:
            if lane.behind is None:
                lane.behind = deque()
            lane.behind.append(job)
            return
        lane = self._lanes[key] = _Lane(job)
        task = asyncio.create_task(self._drain(key, lane), name=f"lane:{key}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def take_following(self, key: Hashable, take: Callable[[Job], bool]) -> None:
        """Offer the jobs queued behind the running one in `key`'s lane to `take`, in order,
        until it declines one: those it took leave the lane (the running job carries them)."""
        lane = self._lanes.get(key)
        while lane is not None and lane.behind and take(lane.behind[0]):
            lane.behind.popleft()

    async def _drain(self, key: Hashable, lane: _Lane) -> None:
        try:
            while True:
                # `work` never raises for a job's own failure (it dead-letters or retries),
                # so the lane moves on only when the job is done or abandoned.
                try:
                    await self._work(lane.head)
                except Exception:
                    # A bug in the engine itself. The job stays not done (its offset holds
                    # its partition's commit: a duplicate after a restart, never a loss), but
                    # the jobs queued behind it must still run: a dead lane would leave them
                    # neither done nor abandoned, and in flight for ever.
                    log.exception("lane.job_failed", **lane.head.log_context())
                if not lane.behind:
                    return
                lane.head = lane.behind.popleft()
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
