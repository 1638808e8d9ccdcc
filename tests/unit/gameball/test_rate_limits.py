"""Client-side rate limits: sliding windows, several windows at once, holds after a 429."""

from __future__ import annotations

import asyncio
import time

import pytest

from bridge.gameball.rate_limits import (
    WINDOW_MARGIN,
    RateLimiter,
    ResourceLimiter,
    SlidingWindow,
)
from bridge.gameball.settings import RateLimitConfig
from bridge.record import Resource


def test_sliding_window_counts_completions_in_the_last_window_and_requests_in_flight() -> None:
    window = SlidingWindow(limit=2, seconds=1.0)
    assert window.wait_time(0.0) == 0
    window.started()
    window.started()
    assert window.wait_time(0.1) is None  # both in flight: only a completion makes room
    window.finished(0.2)
    window.finished(0.4)
    assert window.wait_time(0.5) == pytest.approx(0.7)  # until 0.2 leaves the window
    assert window.wait_time(1.2) == 0
    window.started()
    window.finished(1.2)
    assert window.wait_time(1.3) == pytest.approx(0.1)  # now 0.4 is the oldest that counts


def admitted_at(limiter: ResourceLimiter, count: int) -> list[float]:
    async def go() -> list[float]:
        start = time.monotonic()
        times = []
        for _ in range(count):
            async with limiter.slot():
                times.append(time.monotonic() - start)
        return times

    return asyncio.run(go())


def test_never_more_than_the_limit_in_any_window() -> None:
    times = admitted_at(ResourceLimiter({0.2: 3}), 10)
    for i in range(len(times) - 3):
        assert times[i + 3] - times[i] >= 0.2 - 1e-3  # any 4 consecutive span a full window
    assert times[2] < 0.05  # the first burst goes at once


def test_the_tighter_of_two_windows_wins() -> None:
    # 5 per 0.1 s, but only 6 per 0.5 s: after the 6th, wait for the long window.
    times = admitted_at(ResourceLimiter({0.1: 5, 0.5: 6}), 7)
    assert times[5] < 0.15
    assert times[6] >= 0.5 - 1e-3


def test_concurrent_waiters_share_one_limit() -> None:
    limiter = ResourceLimiter({0.2: 4})

    async def go() -> float:
        start = time.monotonic()

        async def one() -> None:
            async with limiter.slot():
                pass

        await asyncio.gather(*(one() for _ in range(12)))
        return time.monotonic() - start

    assert asyncio.run(go()) >= 0.4 - 1e-3  # 12 requests at 4 per 0.2 s: three windows


def test_hold_blocks_every_request_of_the_resource() -> None:
    limiter = ResourceLimiter({1.0: 100})

    async def go() -> float:
        async with limiter.slot():
            pass
        limiter.hold(0.3)
        async with limiter.slot() as waited:
            return waited

    assert asyncio.run(go()) >= 0.3 - 1e-3


def test_requests_in_flight_hold_their_place_until_they_complete() -> None:
    limiter = ResourceLimiter({0.1: 2})
    release = asyncio.Event

    async def go() -> float:
        done = release()

        async def slow() -> None:
            async with limiter.slot():
                await done.wait()

        tasks = [asyncio.create_task(slow()) for _ in range(2)]
        await asyncio.sleep(0.3)  # three windows pass while both are still in flight
        asyncio.get_running_loop().call_later(0.2, done.set)
        async with limiter.slot() as waited:
            await asyncio.gather(*tasks)
            return waited

    # The third request goes only once one of the first two completed (0.2 s later), and
    # then waits out a full window after that completion.
    assert asyncio.run(go()) >= 0.2 + 0.1 - 1e-2


def test_resources_without_limits_pass_freely_but_can_be_held() -> None:
    limiter = RateLimiter({Resource.ORDERS: {1.0: 1}})

    async def take() -> float:
        async with limiter.slot(Resource.EVENTS) as waited:
            return waited

    async def go() -> tuple[list[float], float]:
        free = [await take() for _ in range(50)]
        limiter.hold(Resource.EVENTS, 0.2)
        return free, await take()

    free, held = asyncio.run(go())
    assert max(free) < 0.01
    assert held >= 0.2 - 1e-3


def test_defaults_follow_gameball_and_share_splits_them() -> None:
    windows = RateLimitConfig().windows()
    assert windows[Resource.EVENTS] == {1.0: 100, 30.0: 1200}
    assert windows[Resource.ORDERS] == {1.0: 30, 30.0: 360}
    assert RateLimitConfig().fixed_share is None  # auto
    assert RateLimitConfig(share=0.5).fixed_share == 0.5
    halved = SlidingWindow(1200, 30.0, share=0.5)
    assert (halved.account_limit, halved.limit) == (1200, 600)
    assert RateLimitConfig(enabled=False).windows() == {}


@pytest.mark.parametrize("text", ["auto", 0.25, "0.5", 1])
def test_a_share_is_auto_or_a_fraction(text: object) -> None:
    assert RateLimitConfig(share=text).share == (text if text == "auto" else float(text))


@pytest.mark.parametrize("text", [0, 1.5, -0.1, "half", True, float("nan")])
def test_other_shares_are_refused_with_what_is_allowed(text: object) -> None:
    with pytest.raises(ValueError, match="share must be auto, or a finite number above 0"):
        RateLimitConfig(share=text)


def test_a_smaller_share_applies_at_once_a_larger_one_after_the_longest_window() -> None:
    async def go() -> list[tuple[float, float | None]]:
        limiter = RateLimiter({Resource.EVENTS: {0.1: 10, 0.3: 30}})
        seen = []
        assert limiter.set_share(0.5) == 0.0
        seen.append((limiter.share, limiter.pending_share))
        waits = limiter.set_share(1.0)
        assert waits == pytest.approx(0.3 + WINDOW_MARGIN.get(0.3, 0.0))
        seen.append((limiter.share, limiter.pending_share))
        await asyncio.sleep(waits + 0.05)
        seen.append((limiter.share, limiter.pending_share))
        return seen

    assert asyncio.run(go()) == [(0.5, None), (0.5, 1.0), (1.0, None)]


def test_a_smaller_share_cancels_a_larger_one_still_waiting() -> None:
    async def go() -> tuple[float, float | None]:
        limiter = RateLimiter({Resource.EVENTS: {0.1: 10}})
        limiter.set_share(0.25)
        limiter.set_share(0.75)  # waits for the window
        limiter.set_share(0.5)  # less than what waits, more than now: it waits too
        limiter.set_share(0.2)  # less than now: at once, and nothing waits any more
        await asyncio.sleep(0.2)
        return limiter.share, limiter.pending_share

    assert asyncio.run(go()) == (0.2, None)


def test_the_share_scales_what_a_window_lets_through() -> None:
    # 10 per 0.2 s for the account; a quarter share lets 2 go (10 x 0.25, rounded down).
    times = admitted_at(ResourceLimiter({0.2: 10}, share=0.25), 3)
    assert times[1] < 0.05
    assert times[2] >= 0.2 - 1e-3


def test_no_share_lets_nothing_through_until_a_share_comes() -> None:
    async def go() -> tuple[bool, float]:
        limiter = ResourceLimiter({1.0: 100}, share=0.0)

        async def one() -> float:
            async with limiter.slot() as waited:
                return waited

        task = asyncio.create_task(one())
        await asyncio.sleep(0.1)
        blocked = not task.done()
        limiter.share(0.5)
        return blocked, await asyncio.wait_for(task, 1)

    blocked, waited = asyncio.run(go())
    assert blocked
    assert waited >= 0.1 - 1e-3
