"""`auto` sees a backlog that the waiting count cannot: few customers (one operation each at
the sender, fewer than switch_up) whose single calls queue at the rate limiter. Up on the
limiter's own wait, against a threshold that grows with the batch cycle; down only once the
stream is one single calls can carry. On a fake clock, but for the last test (the sender)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import httpx
import pytest
from structlog.testing import capture_logs

from bridge.gameball.modes import BATCH_ADVANTAGE, KEEP_UP, Mode, ModeSwitch
from bridge.gameball.rate_limits import ResourceLimiter, SlotDeclined
from bridge.gameball.sender import AnswerWatch, GameballSender
from bridge.gameball.settings import BatchConfig, GameballConfig
from bridge.record import Operation, Resource
from tests.support import BatchGameball

# Gameball's event limits, and the rate the bridge paces them at (the window with its margin).
EVENTS = {1.0: 100, 30.0: 1200}
PACED = 1200 / 30.5


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeSingle:
    """Single calls that would be held `wait` seconds and sustain `rate` per second."""

    def __init__(self, wait: float | None = 0.0, rate: float = PACED) -> None:
        self.wait = wait
        self.rate = rate

    def wait_ahead(self) -> float | None:
        return self.wait

    def sustained_rate(self) -> float:
        return self.rate


def auto(
    single: Any,
    clock: FakeClock,
    cycle: float | None = None,
    **config: Any,
) -> ModeSwitch:
    return ModeSwitch(
        Resource.EVENTS,
        BatchConfig.model_validate({"mode": "auto", **config}),
        single=single,
        batch_cycle=(lambda: cycle) if cycle is not None else None,
        clock=clock,
    )


async def queue_calls(limiter: ResourceLimiter, count: int) -> list[asyncio.Task[None]]:
    """`count` calls asking the limiter for a slot (one per customer), queued behind it."""

    async def call() -> None:
        async with limiter.slot():
            pass

    tasks = [asyncio.create_task(call()) for _ in range(count)]
    await asyncio.sleep(0)  # each has asked
    return tasks


async def cancel(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.gather(*tasks, return_exceptions=True)


# -- the limiter's wait --------------------------------------------------------------------------


def test_the_limiters_wait_is_the_queue_ahead_at_the_paced_rate() -> None:
    clock = FakeClock()

    async def go() -> list[float | None]:
        limiter = ResourceLimiter(EVENTS, clock=clock)
        seen = [limiter.wait_ahead()]  # the pacer starts empty: one token's time
        tasks = await queue_calls(limiter, 150)  # the clock stands still: none is let go
        seen.append(limiter.wait_ahead())
        await cancel(tasks)
        seen.append(limiter.wait_ahead())  # gone from the queue
        clock.now += 60  # a full bucket, and nothing queued
        seen.append(limiter.wait_ahead())
        return seen

    first, queued, after, rested = asyncio.run(go())
    assert first == pytest.approx(1 / PACED)
    assert queued == pytest.approx(151 / PACED)  # ~3.8 s behind 150 calls
    assert after == pytest.approx(1 / PACED)
    assert rested == 0.0
    assert ResourceLimiter(EVENTS).sustained_rate() == pytest.approx(PACED)


def test_the_limiters_wait_scales_with_the_share_and_is_unknown_without_one() -> None:
    clock = FakeClock()

    async def go() -> tuple[float | None, float | None, float]:
        limiter = ResourceLimiter(EVENTS, share=0.5, clock=clock)
        tasks = await queue_calls(limiter, 19)
        half = limiter.wait_ahead()
        limiter.share(0.0)
        none = limiter.wait_ahead()
        await cancel(tasks)
        return half, none, limiter.sustained_rate()

    half, none, rate = asyncio.run(go())
    assert half == pytest.approx(20 / (PACED / 2))
    assert none is None  # no share: no rate to be behind at
    assert rate == 0.0


def test_a_429_hold_is_not_a_backlog_and_no_limits_means_no_wait() -> None:
    clock = FakeClock()
    limiter = ResourceLimiter(EVENTS, clock=clock)
    clock.now += 60
    limiter.hold(30.0)
    assert limiter.wait_ahead() == 0.0
    unlimited = ResourceLimiter({}, clock=clock)
    assert unlimited.wait_ahead() == 0.0
    assert unlimited.sustained_rate() == float("inf")


def test_calls_whose_way_changed_leave_the_limiters_queue_at_once_and_keep_no_place() -> None:
    clock = FakeClock()  # stands still: no call is let go on its own

    async def go() -> tuple[list[str], float | None]:
        limiter = ResourceLimiter(EVENTS, clock=clock)
        batching = False
        outcomes: list[str] = []

        async def call(declines: bool) -> None:
            try:
                async with limiter.slot((lambda: batching) if declines else None):
                    outcomes.append("sent")
            except SlotDeclined:
                outcomes.append("declined")

        tasks = [asyncio.create_task(call(declines=n != 9)) for n in range(10)]
        await asyncio.sleep(0.01)
        assert outcomes == []  # all queued behind the empty pacer
        batching = True
        limiter.wake()
        await asyncio.sleep(0.01)
        ahead = limiter.wait_ahead()  # only the one that cannot decline is still queued
        await cancel(tasks)
        return outcomes, ahead

    outcomes, ahead = asyncio.run(go())
    assert outcomes == ["declined"] * 9
    assert ahead == pytest.approx(2 / PACED)


# -- up ------------------------------------------------------------------------------------------


def test_few_customers_queued_at_the_limiter_switch_up_with_fewer_than_switch_up_waiting() -> None:
    # 150 customers, one call each, queued at Gameball's event limits: 150 < switch_up (200),
    # so only the limiter's wait (~3.8 s) can tell that single calls fall behind.
    clock = FakeClock()

    async def go() -> tuple[Mode, Mode, list[dict[str, Any]]]:
        limiter = ResourceLimiter(EVENTS, clock=clock)
        modes = auto(limiter, clock)
        light = await queue_calls(limiter, 15)  # ~0.4 s behind: single calls keep up
        before = modes.waiting(15)
        more = await queue_calls(limiter, 135)
        with capture_logs() as logs:
            after = modes.waiting(150)
        await cancel(light + more)
        return before, after, logs

    before, after, logs = asyncio.run(go())
    assert (before, after) == (Mode.SINGLE, Mode.BATCH)
    [line] = logs
    assert line["event"] == "delivery.mode_changed"
    assert (line["resource"], line["mode"]) == ("events", "batch")
    assert line["figure"] == pytest.approx(151 / PACED, abs=1e-3)
    assert line["threshold"] == 0.5
    assert line["reason"] == "single calls held 3.84 s (threshold 0.50 s)"


def test_the_wait_threshold_is_switch_up_wait_or_more_when_batches_are_slow() -> None:
    clock = FakeClock()
    fast = auto(FakeSingle(wait=0.5), clock, cycle=0.3)  # 1.5 x 0.3 s < 0.5 s
    assert fast.wait_threshold() == 0.5
    assert fast.waiting(1) is Mode.BATCH
    # Jobs of 2 s: a batch moves what waits once per ~2 s, which 40 calls/s beat until
    # 3 s of calls are queued.
    single = FakeSingle(wait=2.9)
    slow = auto(single, clock, cycle=2.0)
    assert slow.wait_threshold() == pytest.approx(BATCH_ADVANTAGE * 2.0)
    assert slow.waiting(1) is Mode.SINGLE
    single.wait = 3.0
    assert slow.waiting(1) is Mode.BATCH
    assert auto(FakeSingle(wait=0.4), clock, switch_up_wait=0.3).waiting(1) is Mode.BATCH


def test_no_rate_known_switches_nothing_and_the_count_still_does() -> None:
    clock = FakeClock()
    modes = auto(FakeSingle(wait=None), clock, switch_up=10, switch_down=3)
    assert modes.waiting(9) is Mode.SINGLE
    assert modes.waiting(10) is Mode.BATCH


# -- down ----------------------------------------------------------------------------------------


def test_a_stream_above_what_single_calls_sustain_stays_in_batches_though_few_wait() -> None:
    # 60 events/s after the switch: a handful wait at any moment (a batch cycle's worth),
    # yet single calls (~39/s) would fall behind again at once.
    clock = FakeClock()
    modes = auto(FakeSingle(wait=2.0), clock, switch_down=50, calm_for=5.0)
    assert modes.waiting(1) is Mode.BATCH
    for _ in range(int(20 / 0.05)):  # 20 s of one event every 1/60 s, looked at every 50 ms
        clock.now += 0.05
        for _ in range(3):
            modes.arrived()
        assert modes.waiting(30) is Mode.BATCH
    assert modes.changes == 1


def test_a_stream_single_calls_can_carry_returns_to_them_after_calm_for() -> None:
    clock = FakeClock()
    modes = auto(FakeSingle(wait=2.0), clock, switch_down=50, calm_for=5.0)
    modes.waiting(1)
    started = clock.now
    with capture_logs() as logs:
        while clock.now - started < 10 and modes.mode is Mode.BATCH:  # 20 events/s
            clock.now += 0.1
            modes.arrived()
            modes.arrived()
            modes.waiting(10)
    assert modes.mode is Mode.SINGLE
    assert clock.now - started == pytest.approx(5.1, abs=0.05)  # after calm_for, not before
    [line] = logs
    assert line["figure"] == pytest.approx(20, rel=0.05)
    assert line["threshold"] == pytest.approx(KEEP_UP * PACED, abs=0.01)
    assert line["reason"].startswith("at most 50 operations waiting for 5 s, 20.")
    assert line["reason"].endswith("/s arriving (single calls sustain 39.3/s)")


def test_a_drained_backlog_returns_to_single_calls_as_before() -> None:
    clock = FakeClock()
    modes = auto(FakeSingle(wait=5.0), clock, switch_down=50, calm_for=5.0)
    modes.waiting(1)
    for _ in range(300):
        modes.arrived()
        assert modes.waiting(300) is Mode.BATCH
    clock.now += 1
    modes.waiting(0)  # drained: the calm starts, nothing arrives any more
    clock.now += 5
    assert modes.waiting(0) is Mode.SINGLE


# -- the sender, on the real clock ---------------------------------------------------------------


def test_the_sender_batches_a_few_customers_backlog_once_single_calls_fall_behind() -> None:
    # 100 customers, one event each, at Gameball's event limits: fewer than switch_up (200)
    # ever wait. Single calls go until ~0.5 s of them is queued; the rest travel in a batch.
    handler = BatchGameball()

    gameball = GameballConfig.model_validate({"base_url": "https://gb.test", "api_key": "k"})
    batch = BatchConfig(mode="auto", max_wait=0.01, first_poll=0.01, poll_interval=0.01)

    async def go() -> list[dict[str, Any]]:
        sender = GameballSender(gameball, transport=httpx.MockTransport(handler), batch=batch)
        ops = [
            Operation(Resource.EVENTS, f"c{n}", {"customerId": f"c{n}", "events": {"e": {}}})
            for n in range(100)
        ]
        try:
            with capture_logs() as logs:
                await asyncio.gather(*(sender.send(op) for op in ops))
            return logs
        finally:
            await sender.aclose()

    logs = asyncio.run(go())
    changes = [line for line in logs if line["event"] == "delivery.mode_changed"]
    assert changes[0]["mode"] == "batch"
    assert changes[0]["reason"].startswith("single calls held")
    singles = handler.paths.count("events")
    assert singles + sum(len(job) for job in handler.jobs) == 100  # each once
    # Up at the 0.5 s threshold: about 0.5 s of calls at ~39/s went single, not all 100.
    assert singles <= PACED * 0.5 + 2


def test_single_calls_queued_when_the_resource_switches_join_the_batches() -> None:
    # 150 customers queue for single calls (held ~3.8 s: under switch_up_wait, so no switch);
    # 60 more make 210 waiting, past switch_up (200). The 150 already queued must not wait
    # their turn at 40/s (their lanes held for seconds): they leave the queue for the batches.
    handler = BatchGameball()

    gameball = GameballConfig.model_validate({"base_url": "https://gb.test", "api_key": "k"})
    batch = BatchConfig(
        mode="auto", max_wait=0.01, first_poll=0.01, poll_interval=0.01, switch_up_wait=10.0
    )

    def op(n: int) -> Operation:
        return Operation(Resource.EVENTS, f"c{n}", {"customerId": f"c{n}", "events": {"e": {}}})

    async def go() -> list[dict[str, Any]]:
        sender = GameballSender(gameball, transport=httpx.MockTransport(handler), batch=batch)
        try:
            with capture_logs() as logs:
                first = [asyncio.create_task(sender.send(op(n))) for n in range(150)]
                await asyncio.sleep(0.1)
                assert not handler.jobs  # queued for single calls, no switch yet
                await asyncio.gather(*first, *(sender.send(op(n)) for n in range(150, 210)))
                return logs
        finally:
            await sender.aclose()

    logs = asyncio.run(go())
    changes = [line for line in logs if line["event"] == "delivery.mode_changed"]
    assert [c["mode"] for c in changes] == ["batch"]
    assert "operations waiting (switch_up: 200)" in changes[0]["reason"]
    singles = handler.paths.count("events")
    assert singles + sum(len(job) for job in handler.jobs) == 210  # each once
    # Only what went in the first 0.1 s went single (~4 at 39/s, the pacer starting empty);
    # before, the 150 queued all did, one every 25 ms: 3.8 s.
    assert singles <= 10


# -- whether Gameball answers (the engine holds batches' records only then) ----------------------


def test_gameball_answers_after_an_answer_and_not_after_a_second_of_failures_only() -> None:
    clock = FakeClock()
    watch = AnswerWatch(clock)
    assert not watch.answering()  # nothing known yet
    watch.failed()
    assert not watch.answering()
    watch.answered()
    assert watch.answering()
    clock.now += 0.5
    watch.failed()  # one bad answer among good ones is no outage
    assert watch.answering()
    clock.now += 0.5
    watch.failed()
    assert not watch.answering()  # a second of failures, no answer: an outage
    watch.answered()
    assert watch.answering()
