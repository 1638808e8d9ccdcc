"""Client-side rate limits: sliding windows, several windows at once, pacing at the longest
window's sustained rate, shares that apply at once, holds after a 429."""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest

from bridge.gameball.rate_limits import (
    BURST_FRACTION,
    Pacer,
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


def test_requests_are_paced_at_the_longest_windows_sustained_rate() -> None:
    # 100 per second, but 6 per 0.5 s: one every 83 ms, not 6 at once and then nothing.
    times = admitted_at(ResourceLimiter({0.1: 100, 0.5: 6}), 7)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= 0.5 / 6 - 0.01
    assert times[-1] < 0.5 / 6 * 7 + 0.1  # and no longer than the rate needs


def test_the_tighter_of_two_windows_wins() -> None:
    # Paced at 100 per second by the long window, but only 1 per 0.1 s by the short one.
    times = admitted_at(ResourceLimiter({0.1: 1, 1.0: 100}), 4)
    for a, b in itertools.pairwise(times):
        assert b - a >= 0.1 - 1e-3


def test_the_pacer_starts_empty_and_holds_a_small_bucket() -> None:
    # Gameball's events: 1,200 per 30 s (30.5 with the margin).
    pacer = Pacer(1200, 30.5, 0.5, 1.0, now=0.0)
    assert pacer.rate == pytest.approx(1200 / 30.5)
    assert pacer.capacity == pytest.approx(1200 * 0.5 / 30.5 * BURST_FRACTION)
    assert pacer.wait_time(0.0) == pytest.approx(30.5 / 1200)  # no burst saved up
    assert pacer.wait_time(100.0) == 0.0
    assert pacer.tokens == pytest.approx(pacer.capacity)  # filled to the bucket, no more
    pacer.share(0.25, 100.0)
    assert pacer.rate == pytest.approx(1200 / 30.5 / 4)
    assert pacer.tokens <= pacer.capacity == pytest.approx(1200 * 0.5 / 30.5 * 0.5 / 4)
    pacer.share(0.0, 100.0)
    for _ in range(int(pacer.tokens)):
        pacer.take()
    assert pacer.tokens < 1
    assert pacer.wait_time(200.0) is None  # no share, no rate


def test_what_a_group_sends_in_any_window_fits_the_account_as_shares_move() -> None:
    # Three instances on one account, shares moving at every step as partitions move (the
    # giver's drop at its revoke, then the taker's rise at the assignment), every instance
    # sending as fast as its pacer lets it. Counted as Gameball counts, in every 30 s window:
    # never over 1,200, and the group keeps near the sustained rate throughout.
    step, limit, window = 0.01, 1200, 30.0
    shares = [1 / 3, 1 / 3, 1 / 3]
    pacers = [Pacer(limit, window + 0.5, 0.5, s, now=0.0) for s in shares]
    sent: list[float] = []
    moves = [(1, 0, 2), (2, 1, 0), (0, 2, 1)] * 20  # (giver, taker, partition count)
    now = 0.0
    for n in range(int(120 / step)):
        now = n * step
        if n % int(3 / step) == 0 and n:  # a rebalance every 3 s
            giver, taker, _ = moves[n // int(3 / step) % len(moves)]
            moved = min(shares[giver], 1 / 6)
            shares[giver] -= moved
            pacers[giver].share(shares[giver], now)
            shares[taker] += moved
            pacers[taker].share(shares[taker], now + step / 2)
        for pacer in pacers:
            while pacer.wait_time(now) == 0.0:
                pacer.take()
                sent.append(now)
    assert sum(shares) == pytest.approx(1.0)
    j = 0
    worst = 0
    for i, start in enumerate(sent):
        while j < len(sent) and sent[j] < start + window:
            j += 1
        worst = max(worst, j - i)
    assert worst <= limit
    assert len(sent) / 120 >= 0.95 * limit / window


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


def test_a_share_applies_at_once_larger_or_smaller() -> None:
    limiter = RateLimiter({Resource.EVENTS: {0.1: 10, 0.3: 30}})
    limiter.set_share(0.5)
    assert limiter.share == 0.5
    limiter.set_share(1.0)
    assert limiter.share == 1.0
    limiter.set_share(0.2)
    assert limiter.share == 0.2


def test_the_share_scales_the_rate() -> None:
    # 40 per 0.4 s for the account (100/s); a quarter share paces at 25/s.
    times = admitted_at(ResourceLimiter({0.4: 40}, share=0.25), 5)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= 1 / 25 - 0.005


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


@pytest.mark.parametrize("wake", ["completion", "share"])
@pytest.mark.parametrize("turns", [0, 1, 2, 3])
def test_a_waiter_cancelled_as_it_is_woken_ends_cancelled(wake: str, turns: int) -> None:
    # Cancelled around the turn a completion (or a share change) wakes it: the cancellation
    # must not be lost (asyncio.wait_for on 3.11 returned the wake-up instead, and the waiter
    # then waited for ever: a shutdown that hangs).
    now = [1000.0]

    async def go() -> list[bool]:
        limiter = ResourceLimiter({1.0: 100, 30.0: 1200}, clock=lambda: now[0])
        now[0] += 1.5 * 30.5 / 1200  # a token and a half: one call goes, the rest wait
        release = asyncio.Event()

        async def call() -> None:
            async with limiter.slot():
                await release.wait()

        first = asyncio.create_task(call())
        waiters = [asyncio.create_task(call()) for _ in range(3)]
        for _ in range(3):
            await asyncio.sleep(0)
        if wake == "completion":
            release.set()
        else:
            limiter.share(0.0)
        for _ in range(turns):
            await asyncio.sleep(0)
        for task in waiters:
            task.cancel()
        done, _ = await asyncio.wait(waiters, timeout=2)
        first.cancel()
        await asyncio.gather(first, return_exceptions=True)
        return [task.cancelled() for task in waiters if task in done]

    assert asyncio.run(go()) == [True, True, True]
