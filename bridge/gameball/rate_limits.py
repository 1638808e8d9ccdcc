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

Under the windows, requests are *paced*: the longest window's limit is spread at its sustained
rate (1,200 per 30 s: one event every 25 ms) by a token bucket (`Pacer`) that holds a few
requests at most. Without it a backlog spends the 30-second window in its first 12 seconds at
the per-second limit, then sends nothing for 18; paced, a live stream above the sustained
rate waits milliseconds, never a window.

The limiter also says how far behind single calls are (`wait_ahead`: how long a call asked for
now would be held, behind the calls queued before it), which is what `auto` switches to
batches on (bridge/gameball/modes.py).

Several instances on one account share its limits: each takes `share` of them, a fixed
fraction or (`share: auto`) the fraction of the group's partitions it is assigned, set at every
rebalance (`set_share`), at once, larger or smaller. That is safe because the pacing bounds
what any window can hold: in any 30 s an instance sends at most its bucket plus its rate
times 30 s, and the rates of all instances add up to the account's sustained rate at every
moment, as partitions move from one owner to the next: the giver's share drops when it is
revoked (it sends nothing more of those partitions), and the taker's rises only at the
assignment that follows, once the giver has let go. The buckets are sized so that, summed
over the group (and a restart whose old process spent its bucket), they fit in what the
window's margin leaves: `BURST_FRACTION`.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping

from bridge.record import Resource


class SlotDeclined(Exception):  # not an error: the caller chose another way
    """A call left the queue for a slot because its `declined` said so."""


# Seconds added to each window.
WINDOW_MARGIN = {1.0: 0.05, 30.0: 0.5}
# The part of the longest window's margin that buckets may burst into (the rest is for a
# restarted process whose predecessor spent its bucket just before it stopped).
BURST_FRACTION = 0.5


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


class Pacer:
    """A token bucket: `share` of `limit` requests per `seconds` (the window with its margin),
    at an even rate, with a bucket of a few requests. It starts empty: a process that just
    started (or took a larger share) has no burst saved up."""

    def __init__(self, limit: int, seconds: float, margin: float, share: float, now: float) -> None:
        self.account_limit = limit
        self.seconds = seconds
        # What the margin leaves the whole account for bursts, of which BURST_FRACTION.
        self._account_burst = limit * margin / seconds * BURST_FRACTION if seconds else 0.0
        self.tokens = 0.0
        self._updated = now
        self.rate = 0.0
        self.capacity = 1.0
        self.share(share, now)

    def share(self, share: float, now: float) -> None:
        self._refill(now)
        self.rate = self.account_limit * max(share, 0.0) / self.seconds
        self.capacity = max(1.0, self._account_burst * share)
        self.tokens = min(self.tokens, self.capacity)

    def wait_time(self, now: float) -> float | None:
        """0 when a token is there; else seconds until one is, None with no rate at all."""
        self._refill(now)
        if self.tokens >= 1.0:
            return 0.0
        if self.rate <= 0:
            return None
        return (1.0 - self.tokens) / self.rate

    def take(self) -> None:
        self.tokens -= 1.0

    def time_for(self, calls: int, now: float) -> float | None:
        """Seconds until `calls` more calls have had their tokens, at the paced rate; None
        with no rate at all."""
        self._refill(now)
        short = calls - self.tokens
        if short <= 0:
            return 0.0
        if self.rate <= 0:
            return None
        return short / self.rate

    def _refill(self, now: float) -> None:
        self.tokens = min(self.capacity, self.tokens + (now - self._updated) * self.rate)
        self._updated = now


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
        # The longest window's limit, paced at its sustained rate.
        self._pacer: Pacer | None = None
        if windows:
            longest = max(windows)
            margin = WINDOW_MARGIN.get(longest, 0.0)
            self._pacer = Pacer(windows[longest], longest + margin, margin, share, clock())
        # Waiters queue on the lock, so requests go in the order they asked.
        self._lock = asyncio.Lock()
        # Calls asking for a slot and not let go yet (on the lock, or holding it and waiting).
        self._queued = 0
        self._completion = asyncio.Event()
        self._blocked_until = 0.0

    @contextlib.asynccontextmanager
    async def slot(self, declined: Callable[[], bool] | None = None) -> AsyncIterator[float]:
        """Hold a place in the windows for one request; yields the seconds spent waiting.
        `declined` is asked whenever the call could be let go and after every `wake`: True
        leaves the queue without a place (`SlotDeclined`), so the calls behind it move up at
        once (a resource that switched to batches takes its queued single calls along). The
        calls queue in order: those behind one that does not decline ask when it is let go."""
        waited = await self._acquire(declined)
        try:
            yield waited
        finally:
            now = self._clock()
            for window in self._windows:
                window.finished(now)
            self._completion.set()

    def wait_ahead(self) -> float | None:
        """Seconds a call asked for now would be held by the pacing and the windows, behind
        the calls queued before it (a 429's hold is left out: it says nothing of how fast
        single calls go); None when this instance has no rate at all (no share)."""
        now = self._clock()
        waits = [0.0]
        if self._pacer is not None:
            paced = self._pacer.time_for(self._queued + 1, now)
            if paced is None:
                return None
            waits.append(paced)
        for window in self._windows:
            waits.append(window.wait_time(now) or 0.0)
        return max(waits)

    def sustained_rate(self) -> float:
        """Calls per second that can go for as long as it takes (inf: no limits)."""
        return self._pacer.rate if self._pacer is not None else math.inf

    async def _acquire(self, declined: Callable[[], bool] | None) -> float:
        started = self._clock()
        self._queued += 1
        try:
            return await self._acquired(started, declined)
        finally:
            self._queued -= 1

    async def _acquired(self, started: float, declined: Callable[[], bool] | None) -> float:
        async with self._lock:
            while True:
                if declined is not None and declined():
                    raise SlotDeclined
                now = self._clock()
                waits = [w.wait_time(now) for w in self._windows]
                if self._pacer is not None:
                    waits.append(self._pacer.wait_time(now))
                delay = max([self._blocked_until - now] + [w for w in waits if w is not None])
                if delay <= 0 and None not in waits:
                    for window in self._windows:
                        window.started()
                    if self._pacer is not None:
                        self._pacer.take()
                    return self._clock() - started
                self._completion.clear()
                # Sleep until a window frees up, or a request completes, whichever is first.
                # Not `wait_for`: on Python 3.11 it swallows a cancellation that comes in the
                # same turn as the completion, and the cancelled waiter would then wait for
                # ever (a shutdown that never ends) or send after all.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay if delay > 0 else None):
                        await self._completion.wait()

    def share(self, share: float) -> None:
        for window in self._windows:
            window.share(share)
        if self._pacer is not None:
            self._pacer.share(share, self._clock())
        self._completion.set()  # waiters look again: a larger share may let them go

    def wake(self) -> None:
        """Have the waiting calls ask their `declined` again now."""
        self._completion.set()

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
        self.share = share

    def slot(
        self, resource: Resource, declined: Callable[[], bool] | None = None
    ) -> contextlib.AbstractAsyncContextManager[float]:
        return self._limiters[resource].slot(declined)

    def of(self, resource: Resource) -> ResourceLimiter:
        return self._limiters[resource]

    def hold(self, resource: Resource, seconds: float) -> None:
        self._limiters[resource].hold(seconds)

    def set_share(self, share: float) -> None:
        """Take `share` of the account's limits, from now on (see the module's docstring for
        why a larger share needs no wait)."""
        self.share = share
        for limiter in self._limiters.values():
            limiter.share(share)


def _shared(account_limit: int, share: float) -> int:
    """This instance's part of a limit: nothing for no share (a member that joined sends
    nothing until it knows its part: the others may fill the account meanwhile, and one
    request more is a 429); otherwise at least 1, so that an instance with a tiny share (one
    partition of hundreds) still moves."""
    if share <= 0:
        return 0
    return max(1, int(account_limit * share))
