"""Single calls or batches (bridge/gameball/modes.py): the fixed modes, `auto`'s hysteresis on
a fake clock, and how the engine's settings bound the switch (DeliveryConfig.batching)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from structlog.testing import capture_logs

from bridge.engine.settings import DeliveryConfig
from bridge.gameball.modes import Mode, ModeSwitch
from bridge.gameball.sender import GameballSender
from bridge.gameball.settings import BATCH_RESOURCES, BatchConfig, GameballConfig
from bridge.record import Operation, Resource


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def switch(
    resource: Resource = Resource.EVENTS, clock: FakeClock | None = None, **config: Any
) -> ModeSwitch:
    settings = {"mode": "auto", "switch_up": 10, "switch_down": 3, "calm_for": 5.0, **config}
    return ModeSwitch(resource, BatchConfig.model_validate(settings), clock=clock or FakeClock())


# -- fixed modes ----------------------------------------------------------------------------


@pytest.mark.parametrize("resource", list(Resource))
def test_never_keeps_single_calls_whatever_waits(resource: Resource) -> None:
    modes = switch(resource, mode="never")
    assert modes.mode is Mode.SINGLE
    assert [modes.waiting(n) for n in (0, 10, 10_000, 0)] == [Mode.SINGLE] * 4
    assert modes.changes == 0


@pytest.mark.parametrize("resource", BATCH_RESOURCES)
def test_always_keeps_batches_whatever_waits(resource: Resource) -> None:
    clock = FakeClock()
    modes = switch(resource, clock, mode="always")
    assert modes.mode is Mode.BATCH
    for count in (0, 1, 10_000, 0):
        assert modes.waiting(count) is Mode.BATCH
        clock.now += 60
    assert modes.changes == 0


@pytest.mark.parametrize("mode", ["auto", "always", "never"])
def test_payments_never_batch(mode: str) -> None:
    clock = FakeClock()
    modes = switch(Resource.PAYMENTS, clock, mode=mode)
    assert modes.mode is Mode.SINGLE
    for count in (0, 10, 10_000, 0):
        assert modes.waiting(count) is Mode.SINGLE
        clock.now += 60
    assert modes.changes == 0


# -- auto -----------------------------------------------------------------------------------


@pytest.mark.parametrize("resource", BATCH_RESOURCES)
def test_auto_starts_single_and_switches_up_at_switch_up(resource: Resource) -> None:
    modes = switch(resource)
    assert modes.mode.value == "single"
    assert [modes.waiting(n) for n in (0, 1, 5, 9)] == [Mode.SINGLE] * 4
    assert modes.changes == 0
    assert modes.waiting(10) is Mode.BATCH
    assert modes.mode is Mode.BATCH
    assert modes.changes == 1


def test_auto_switches_up_on_a_jump_past_switch_up() -> None:
    modes = switch()
    assert modes.waiting(500) is Mode.BATCH
    assert modes.changes == 1


def test_auto_stays_up_while_more_than_switch_down_wait() -> None:
    clock = FakeClock()
    modes = switch(clock=clock)
    modes.waiting(10)
    for _ in range(10):
        clock.now += 60
        assert modes.waiting(4) is Mode.BATCH  # one above switch_down, for ten minutes
    assert modes.changes == 1


def test_auto_switches_down_only_after_calm_for_at_or_below_switch_down() -> None:
    clock = FakeClock()
    modes = switch(clock=clock)
    modes.waiting(10)
    clock.now += 1
    assert modes.waiting(3) is Mode.BATCH  # calm from here
    clock.now += 2
    assert modes.waiting(0) is Mode.BATCH
    clock.now += 2.9
    assert modes.waiting(3) is Mode.BATCH  # 4.9 s calm
    clock.now += 0.1
    assert modes.waiting(2) is Mode.SINGLE  # 5 s calm
    assert modes.changes == 2


def test_a_count_above_switch_down_restarts_the_calm() -> None:
    clock = FakeClock()
    modes = switch(clock=clock)
    modes.waiting(10)
    assert modes.waiting(2) is Mode.BATCH  # calm from t=0
    clock.now += 4
    assert modes.waiting(4) is Mode.BATCH  # not calm: starts over
    clock.now += 1.5
    assert modes.waiting(2) is Mode.BATCH  # calm again from t=5.5
    clock.now += 4.9
    assert modes.waiting(1) is Mode.BATCH  # 4.9 s since then (10.4 since the first)
    clock.now += 0.1
    assert modes.waiting(1) is Mode.SINGLE
    assert modes.changes == 2


def test_counts_between_the_thresholds_change_nothing() -> None:
    clock = FakeClock()
    modes = switch(clock=clock)
    for _ in range(5):
        clock.now += 60
        assert modes.waiting(7) is Mode.SINGLE
    modes.waiting(10)
    for _ in range(5):
        clock.now += 60
        assert modes.waiting(7) is Mode.BATCH
    assert modes.changes == 1


def test_with_calm_for_zero_the_first_calm_count_switches_down() -> None:
    modes = switch(calm_for=0)
    modes.waiting(10)
    assert modes.waiting(4) is Mode.BATCH
    assert modes.waiting(3) is Mode.SINGLE


def test_a_new_round_of_batches_waits_a_full_calm_for_again() -> None:
    clock = FakeClock()
    modes = switch(clock=clock)
    modes.waiting(10)
    modes.waiting(0)
    clock.now += 5
    assert modes.waiting(0) is Mode.SINGLE
    clock.now += 1
    assert modes.waiting(10) is Mode.BATCH
    clock.now += 1
    assert modes.waiting(0) is Mode.BATCH  # the earlier calm does not count
    clock.now += 4.9
    assert modes.waiting(0) is Mode.BATCH
    clock.now += 0.1
    assert modes.waiting(0) is Mode.SINGLE
    assert modes.changes == 4


def test_on_change_hears_every_switch() -> None:
    clock = FakeClock()
    heard: list[tuple[Resource, Mode]] = []
    modes = ModeSwitch(
        Resource.ORDERS,
        BatchConfig(mode="auto", switch_up=10, switch_down=3, calm_for=5),
        clock=clock,
        on_change=lambda resource, mode: heard.append((resource, mode)),
    )
    modes.waiting(10)
    modes.waiting(11)
    modes.waiting(0)
    clock.now += 5
    modes.waiting(0)
    assert heard == [(Resource.ORDERS, Mode.BATCH), (Resource.ORDERS, Mode.SINGLE)]


def test_every_switch_is_logged_with_its_reason() -> None:
    clock = FakeClock()
    modes = ModeSwitch(
        Resource.CUSTOMERS,
        BatchConfig(mode="auto", switch_up=200, switch_down=50, calm_for=2.5),
        clock=clock,
    )
    with capture_logs() as logs:
        modes.waiting(199)
        modes.waiting(250)
        modes.waiting(50)
        clock.now += 2.5
        modes.waiting(10)
    assert logs == [
        {
            "event": "delivery.mode_changed",
            "log_level": "info",
            "resource": "customers",
            "mode": "batch",
            "reason": "250 operations waiting (switch_up: 200)",
            "figure": 250,
            "threshold": 200,
        },
        {
            "event": "delivery.mode_changed",
            "log_level": "info",
            "resource": "customers",
            "mode": "single",
            # Nothing arrived (no send), and without a limiter single calls keep up with any.
            "reason": "at most 50 operations waiting for 2.5 s, 0.0/s arriving",
            "figure": 0.0,
            "threshold": None,
        },
    ]


def test_fixed_modes_log_nothing() -> None:
    with capture_logs() as logs:
        for mode in ("always", "never"):
            modes = switch(mode=mode)
            for count in (0, 10_000, 0):
                modes.waiting(count)
    assert logs == []


@pytest.mark.parametrize("mode", ["auto", "always"])
def test_single_for_good_ends_batching_whatever_waits_later(mode: str) -> None:
    clock = FakeClock()
    modes = switch(clock=clock, mode=mode)
    modes.waiting(10)
    assert modes.mode.value == "batch"
    with capture_logs() as logs:
        modes.single_for_good("no batch endpoint")
    assert modes.mode.value == "single"
    assert logs == [
        {
            "event": "delivery.mode_changed",
            "log_level": "info",
            "resource": "events",
            "mode": "single",
            "reason": "no batch endpoint",
            "figure": None,
            "threshold": None,
        }
    ]
    for count in (10_000, 0, 10_000):
        clock.now += 60
        assert modes.waiting(count) is Mode.SINGLE
    assert modes.changes == (2 if mode == "auto" else 1)


def test_single_for_good_while_single_changes_nothing_but_the_future() -> None:
    modes = switch()
    with capture_logs() as logs:
        modes.single_for_good("no batch endpoint")
        assert modes.waiting(10_000) is Mode.SINGLE
    assert logs == []
    assert modes.changes == 0


def test_the_sender_switches_a_resource_up_and_back_down() -> None:
    # Two events wait on slow single calls when the third arrives: it goes in a batch; once
    # none waits (calm_for 0), events are back on single calls.
    requests: list[tuple[str, str]] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/api/v4.0/integrations/")
        requests.append((request.method, path))
        if request.method == "GET":
            return httpx.Response(
                200, json={"status": "completed", "results": [{"index": 0, "status": "success"}]}
            )
        if path.startswith("batch/"):
            return httpx.Response(200, json={"jobId": 5})
        await asyncio.sleep(0.05)
        return httpx.Response(200, json={})

    batch = BatchConfig(
        mode="auto",
        switch_up=3,
        switch_down=0,
        calm_for=0,
        max_wait=0.01,
        first_poll=0.01,
        poll_interval=0.01,
    )
    gameball = GameballConfig.model_validate(
        {"base_url": "https://gb.test", "api_key": "k", "rate_limits": {"enabled": False}}
    )

    async def go() -> tuple[dict[str, str], int]:
        sender = GameballSender(gameball, transport=httpx.MockTransport(handler), batch=batch)
        try:
            ops = [
                Operation(Resource.EVENTS, f"c{n}", {"customerId": f"c{n}", "events": {"e": {}}})
                for n in range(3)
            ]
            with capture_logs() as logs:
                await asyncio.gather(*(sender.send(op) for op in ops))
            assert [(e["mode"], e["resource"]) for e in logs] == [
                ("batch", "events"),
                ("single", "events"),
            ]
            status = sender.status()
            return status.modes, status.mode_changes
        finally:
            await sender.aclose()

    modes, changes = asyncio.run(go())
    assert changes == 2
    assert modes["events"] == "single"
    assert sorted(requests) == [
        ("GET", "batches/5/status"),
        ("POST", "batch/events"),
        ("POST", "events"),
        ("POST", "events"),
    ]


# -- DeliveryConfig: the engine's bounds on the switch --------------------------------------


def delivery(max_in_flight: int, /, **batch: Any) -> DeliveryConfig:
    return DeliveryConfig.model_validate({"max_in_flight": max_in_flight, "batch": batch})


def test_batching_keeps_switch_up_below_half_of_max_in_flight() -> None:
    config = delivery(100)  # switch_up 200, switch_down 50 by default
    batching = config.batching()
    assert (batching.switch_up, batching.switch_down) == (50, 12)
    assert config.batch.switch_up == 200  # the settings themselves are untouched


def test_batching_keeps_a_switch_up_that_fits_unchanged() -> None:
    config = delivery(500, switch_up=100, switch_down=20, mode="always", max_items=300)
    assert config.batching() is config.batch
    exactly_half = delivery(400)  # switch_up 200 is max_in_flight // 2
    assert exactly_half.batching() is exactly_half.batch


def test_batching_keeps_a_low_switch_down_and_the_other_settings() -> None:
    config = delivery(100, switch_down=5, max_items=300, max_wait=1.5, status_path="batch/{id}")
    batching = config.batching()
    assert (batching.switch_up, batching.switch_down) == (50, 5)
    assert (batching.max_items, batching.max_wait, batching.status_path) == (
        300,
        1.5,
        "batch/{id}",
    )


@pytest.mark.parametrize(
    ("max_in_flight", "up", "down"), [(1, 2, 0), (3, 2, 0), (5, 2, 0), (8, 4, 1), (399, 199, 49)]
)
def test_batching_with_a_small_max_in_flight(max_in_flight: int, up: int, down: int) -> None:
    batching = delivery(max_in_flight).batching()
    assert (batching.switch_up, batching.switch_down) == (up, down)


def test_batching_always_gives_valid_settings() -> None:
    for max_in_flight in (1, 2, 3, 4, 7, 9, 50, 101, 399, 400, 401, 1000, 100_000):
        for up, down in ((2, 0), (2, 1), (10, 9), (200, 50), (200, 199), (5000, 4000)):
            batching = delivery(max_in_flight, switch_up=up, switch_down=down).batching()
            assert batching.switch_up == min(up, max(2, max_in_flight // 2))
            assert 0 <= batching.switch_down < batching.switch_up
            assert batching.switch_down <= down
            # A copy skips validation: it must still pass it.
            assert BatchConfig.model_validate(batching.model_dump()) == batching


@pytest.mark.parametrize(
    ("max_in_flight", "batch_max", "single", "batched"),
    [(500, 10_000, 500, 10_000), (20_000, 10_000, 20_000, 20_000), (500, 100, 500, 500)],
)
def test_in_flight_limit_grows_while_batching(
    max_in_flight: int, batch_max: int, single: int, batched: int
) -> None:
    config = delivery(max_in_flight, max_in_flight=batch_max)
    assert config.in_flight_limit(False) == single
    assert config.in_flight_limit(True) == batched


def test_in_flight_limit_defaults() -> None:
    config = DeliveryConfig()
    assert (config.in_flight_limit(False), config.in_flight_limit(True)) == (500, 10_000)


def test_batch_settings_refuse_a_switch_down_not_below_switch_up() -> None:
    with pytest.raises(ValueError, match="switch_down"):
        BatchConfig(switch_up=10, switch_down=10)
