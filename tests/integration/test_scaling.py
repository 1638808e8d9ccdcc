"""Several bridge processes in one group: one killed with SIGKILL mid-stream, one added and
removed while the stream flows. Nothing is lost; duplicates are counted and bounded."""

from __future__ import annotations

import collections
import signal
from pathlib import Path

import pytest

from bridge.sandbox.emulator import GameballEmulator
from bridge.sandbox.local_kafka import LocalKafka

from .conftest import (
    BridgeProcess,
    all_committed,
    config_data,
    produce_events,
    received_seqs,
    wait_until,
)

pytestmark = pytest.mark.kafka

MAX_IN_FLIGHT = 100


def test_kill_one_scale_out_and_in_loses_nothing(
    kafka: LocalKafka, emulator: GameballEmulator, topic: str, tmp_path: Path
) -> None:
    bootstrap, group, total = kafka.bootstrap_servers, f"{topic}-group", 4000
    emulator.set_latency(3)
    produce_events(bootstrap, topic, range(total), customers=300)
    # The defaults (batch mode auto): a kill while batching repeats no job the journal
    # recorded (bridge/engine/journal.py), so the bound is the single calls' in flight.
    data = config_data(kafka, emulator, topic, delivery={"max_in_flight": MAX_IN_FLIGHT})
    # A short session, so the group notices the killed member in seconds, not 45.
    data["kafka"]["session_timeout_ms"] = 6000
    a = BridgeProcess(data, tmp_path).start()
    b = BridgeProcess(data, tmp_path).start()
    c = BridgeProcess(data, tmp_path)
    try:
        assert wait_until(lambda: len(emulator.received("events")) >= 800, 60)
        a.kill()  # SIGKILL mid-stream: its partitions go to b after the session times out
        assert wait_until(lambda: len(emulator.received("events")) >= 1800, 60)
        c.start()  # scale out ...
        assert wait_until(lambda: len(emulator.received("events")) >= 2600, 60)
        c.signal(signal.SIGTERM)  # ... and back in: a clean leave commits what c finished
        assert c.wait(30) == 0
        assert wait_until(lambda: all_committed(bootstrap, group, topic), 90)
        b.signal(signal.SIGTERM)
        assert b.wait(30) == 0
    finally:
        for process in (a, b, c):
            process.kill()

    seqs = received_seqs(emulator)
    assert set(seqs) == set(range(total)), "nothing lost"
    duplicates = sum(n - 1 for n in collections.Counter(seqs).values())
    print(f"\nkill + scale out + scale in over {total} records: {duplicates} duplicates")
    # The SIGKILL repeats what the killed member had in the air: at most its in-flight
    # records. The scale-out and the clean leave repeat nothing: a revoke withdraws what has
    # not been sent, waits for what has, and commits it (retried if the generation moved).
    assert duplicates <= MAX_IN_FLIGHT
    assert emulator.stats()["overlap_violations"] == 0
