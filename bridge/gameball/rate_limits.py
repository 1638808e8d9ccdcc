"""Client-side rate limits: stay inside Gameball's per-account limits instead of finding them
with 429s.

Gameball limits each resource both per second and per 30 seconds (API.md: events 100/s and
1,200/30 s, so 40/s sustained; orders, customers and payments 30/s and 360/30 s). A limiter per
resource lets a request go only when both sliding windows have room.

What Gameball counts is when a request *arrives*, which the bridge cannot see: a request may
wait for a connection, or a TCP and TLS handshake, after it was let go. So a request takes its
place in a window from the moment it is let go until it *completes*, and stays in the window
with its completion time: every request that arrived inside any Gameball window is then counted
when the last of them was let go, and no window can receive more than the limit. The price is
a little rate (a request occupies `latency` longer); against the 30 s window it is negligible.
Windows are also measured a little longer than Gameball's (`WINDOW_MARGIN`) for clock skew.

Several instances on one account share its limits: each takes `share` of them, a fixed
fraction or (`share: auto`) the fraction of the group's partitions it is assigned, set at every
rebalance (`set_share`). A smaller share applies at once; a larger one only after the longest
window has passed, because the instance that gave up the partitions may have used its larger
share within that window: erring on the side of fewer requests, the account never sees more
than its limit while partitions move.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping

from bridge.record import Resource

# Seconds added to each window.
WINDOW_MARGIN = {1.0: 0.05, 30.0: 0.5}


class SlidingWindow:
    """At most `share` of the account's `limit` requests in flight or completed within any
    `seconds`-long window."""

    def __init__(self, limit: int, seconds: float, share: float = 1.0) -> None:
        self.account_limit = limit
        self.limit = _shared(limit, share)
        self.seconds = seconds
        self.in_flight = 0
        self._completed: deque[float] = deque()

    def wait_time(self, now: float) -> float | None:
        """0 when one more request fits now; else seconds until one fits, or None when only
        the completion of a request in flight can make room."""
        done = self._completed
        while done and done[0] <= now - self.seconds:
            done.popleft()
        excess = len(done) + self.in_flight - self.limit
        if excess < 0:
            return 0.0
        if excess < len(done):
            return done[excess] + self.seconds - now
        return None

    def share(self, share: float) -> None:
        self.limit = _shared(self.account_limit, share)

    def started(self) -> None:
        self.in_flight += 1

    def finished(self, now: float) -> None:
        self.in_flight -= 1
        self._completed.append(now)


class ResourceLimiter:
    """The limits of one Gameball resource, shared by every lane that posts to it."""

    def __init__(
        self,
        windows: Mapping[float, int],
        *,
        share: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._windows = [
            SlidingWindow(limit, seconds + WINDOW_MARGIN.get(seconds, 0.0), share)
            for seconds, limit in windows.items()
        ]
        self._clock = clock
        # Waiters queue on the lock, so requests go in the order they asked.
        self._lock = asyncio.Lock()
        self._completion = asyncio.Event()
        self._blocked_until = 0.0

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[float]:
        """Hold a place in the windows for one request; yields the seconds spent waiting."""
        waited = await self._acquire()
        try:
            yield waited
        finally:
            now = self._clock()
            for window in self._windows:
                window.finished(now)
            self._completion.set()

    async def _acquire(self) -> float:
        started = self._clock()
        async with self._lock:
            while True:
                now = self._clock()
                waits = [w.wait_time(now) for w in self._windows]
                delay = max([self._blocked_until - now] + [w for w in waits if w is not None])
                if delay <= 0 and None not in waits:
                    for window in self._windows:
                        window.started()
                    return self._clock() - started
                self._completion.clear()
                # Sleep until a window frees up, or a request completes, whichever is first.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._completion.wait(), delay if delay > 0 else None)

    def share(self, share: float) -> None:
        for window in self._windows:
            window.share(share)
        self._completion.set()  # waiters look again: a larger share may let them go

    def hold(self, seconds: float) -> None:
        """Gameball said 429 anyway (another client on the account, or a smaller limit than
        documented): let nothing more go for `seconds`."""
        self._blocked_until = max(self._blocked_until, self._clock() + seconds)


class RateLimiter:
    """One `ResourceLimiter` per resource. A resource without configured limits still gets
    one, with no windows: a 429 must hold it all the same."""

    def __init__(
        self,
        limits: Mapping[Resource, Mapping[float, int]],
        *,
        share: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limiters = {
            resource: ResourceLimiter(limits.get(resource, {}), share=share, clock=clock)
            for resource in Resource
        }
        self._clock = clock
        self.share = share
        # The longest window (with its margin): how long a larger share waits.
        self._raise_after = max(
            (seconds + WINDOW_MARGIN.get(seconds, 0.0) for w in limits.values() for seconds in w),
            default=0.0,
        )
        self._raise: asyncio.TimerHandle | None = None
        self.pending_share: float | None = None  # a larger share, waiting for its time

    def slot(self, resource: Resource) -> contextlib.AbstractAsyncContextManager[float]:
        return self._limiters[resource].slot()

    def hold(self, resource: Resource, seconds: float) -> None:
        self._limiters[resource].hold(seconds)

    def set_share(self, share: float, *, at_once: bool = False) -> float:
        """Take `share` of the account's limits: a smaller one now, a larger one once the
        longest window has passed (`at_once`: now, for an instance that knows no other used
        the account lately). Returns the seconds until it applies."""
        if self._raise is not None:
            self._raise.cancel()
            self._raise, self.pending_share = None, None
        if share <= self.share or at_once or self._raise_after == 0:
            self._apply(share)
            return 0.0
        self.pending_share = share
        self._raise = asyncio.get_running_loop().call_later(self._raise_after, self._apply, share)
        return self._raise_after

    def _apply(self, share: float) -> None:
        self._raise, self.pending_share = None, None
        self.share = share
        for limiter in self._limiters.values():
            limiter.share(share)


def _shared(account_limit: int, share: float) -> int:
    """This instance's part of a limit: nothing for no share (a member that joined sends
    nothing until its part is safe to take: the others may fill the account meanwhile, and
    one request more is a 429); otherwise at least 1, so that an instance with a tiny share
    (one partition of hundreds) still moves."""
    if share <= 0:
        return 0
    return max(1, int(account_limit * share))
