"""`auto` with a backlog of few customers, on the real broker and the emulator at Gameball's
limits: it switches to batches within seconds though fewer than `switch_up` operations can
ever wait (one per customer), and drains far faster than single calls could."""

from __future__ import annotations

import collections

import pytest
from structlog.testing import capture_logs

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

# Gameball's documented single-call limit for events, sustained: 1,200 per 30 s.
NEVER_RATE = 40.0


def test_auto_batches_a_150_customer_backlog_within_seconds_and_drains_5x_faster(
    kafka: LocalKafka, topic: str
) -> None:
    bootstrap, group, total, customers = kafka.bootstrap_servers, f"{topic}-group", 10_000, 150
    produce_events(bootstrap, topic, range(total), customers=customers)
    with GameballEmulator(
        api_key=API_KEY, secret_key=SECRET_KEY, order_key="seq", rate_limits=True
    ) as emulator:
        # The bridge as shipped (auto, switch_up 200), Gameball's limits on both sides.
        config = make_config(kafka, emulator, topic, gameball={"rate_limits": {"enabled": True}})
        with capture_logs() as logs, InProcessBridge(config):
            assert wait_until(lambda: all_committed(bootstrap, group, topic), 120)
        received = emulator.received("events")
        stats = emulator.stats()

    counts = collections.Counter(received_seqs(emulator))
    assert set(counts) == set(range(total))
    assert max(counts.values()) == 1  # nothing twice
    assert stats["rate_limited"] == 0
    assert stats["overlap_violations"] == 0
    assert stats["out_of_order_violations"] == 0

    changes = [e for e in logs if e["event"] == "delivery.mode_changed"]
    assert changes[0]["mode"] == "batch"
    assert changes[0]["reason"].startswith("single calls held")
    assert changes[0]["figure"] >= changes[0]["threshold"]
    first = min(r.received_at for r in received)
    first_batched = min(r.received_at for r in received if r.via_batch is not None)
    last = max(r.received_at for r in received)
    singles = sum(1 for r in received if r.via_batch is None)
    rate = total / (last - first)
    print(
        f"\n{total} records of {customers} customers: the first batch item "
        f"{first_batched - first:.1f} s after the first record, {singles} single calls, "
        f"{rate:.0f} records/s "
        f"({rate / NEVER_RATE:.1f}x single calls' {NEVER_RATE:g}/s)"
    )
    assert first_batched - first < 5.0
    assert rate >= 5 * NEVER_RATE
