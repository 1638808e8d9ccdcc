"""Gameball's rate limits, enforced by the emulator: the bridge stays under them on its own,
and honours Retry-After when a 429 comes anyway."""

from __future__ import annotations

import time

import pytest

from bridge.sandbox.emulator import GameballEmulator
from bridge.sandbox.local_kafka import LocalKafka

from .conftest import (
    API_KEY,
    SECRET_KEY,
    InProcessBridge,
    all_committed,
    make_config,
    produce_events,
    received_seqs,
    wait_until,
)

pytestmark = pytest.mark.kafka


def test_client_side_limits_keep_the_bridge_under_gameballs_limits(
    kafka: LocalKafka, topic: str
) -> None:
    # Small limits so the test is short: 20 events per second, 60 per 30 seconds.
    limits = {"events": (20, 60)}
    bootstrap, group = kafka.bootstrap_servers, f"{topic}-group"
    with GameballEmulator(
        api_key=API_KEY, secret_key=SECRET_KEY, rate_limits=True, limits=limits
    ) as emu:
        produce_events(bootstrap, topic, range(60), customers=60)
        config = make_config(
            kafka,
            emu,
            topic,
            gameball={
                "base_url": emu.url,
                "api_key": API_KEY,
                "rate_limits": {"events": {"per_second": 20, "per_30s": 60}},
            },
            # Single calls are what this is about: auto would batch these 60 events, held
            # up to 30 s behind each other at 2 per second.
            delivery={"batch": {"mode": "never"}},
        )
        started = time.monotonic()
        with InProcessBridge(config) as bridge:
            assert wait_until(lambda: all_committed(bootstrap, group, topic), 60)
            took = time.monotonic() - started
            counters = bridge.stop()
        stats = emu.stats()
    assert sorted(received_seqs(emu)) == list(range(60))
    assert stats["rate_limited"] == 0  # not one 429
    assert counters.rate_limit_waits > 0  # the bridge held itself back
    assert took >= 2.0  # 60 events at 20 per second cannot take less than ~2 s


def test_a_429_storm_with_retry_after_is_honoured(
    kafka: LocalKafka, emulator: GameballEmulator, topic: str
) -> None:
    bootstrap, group = kafka.bootstrap_servers, f"{topic}-group"
    emulator.script([{"status": 429, "retry_after": 1}] * 5)
    produce_events(bootstrap, topic, range(100), customers=20)
    with InProcessBridge(make_config(kafka, emulator, topic)) as bridge:
        assert wait_until(lambda: emulator.stats()["by_status"].get(429, 0) >= 1, 30, 0.01)
        first_429_seen = time.time()
        assert wait_until(lambda: all_committed(bootstrap, group, topic), 60)
        counters = bridge.stop()
    assert sorted(received_seqs(emulator)) == list(range(100))
    assert emulator.stats()["by_status"][429] == 5
    assert counters.dead_lettered == 0
    assert counters.retried == 5
    # 20 customers' lanes start together; 5 first requests get a 429 with Retry-After: 1.
    # A 429 holds every lane of the resource for that second: the 15 lanes that were not
    # refused have more records, yet send none of them until the second has passed.
    accepted = [r.received_at - first_429_seen for r in emulator.received("events")]
    assert not [t for t in accepted if 0.1 < t < 0.8]
    assert max(accepted) >= 0.8
