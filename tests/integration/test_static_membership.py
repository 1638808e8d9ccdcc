"""Static group membership (`kafka.instance_id`) on a real broker: a SIGKILLed bridge that
restarts at once takes its partitions back without waiting out the session; two processes
with one id: the fenced one stops with exit code 1 and nothing is lost.

Every config here uses `session_timeout_ms: 10000` (the default is 45000) so that the case
without an id, which waits the whole session out, stays fast."""

from __future__ import annotations

import collections
import functools
import itertools
import signal
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from bridge.check import check_instance_id
from bridge.config import parse_config
from bridge.kafka.admin import instance_holder
from bridge.kafka.properties import consumer_properties
from bridge.sandbox import kafka_tools
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

SESSION_TIMEOUT_MS = 10_000
# Small enough to keep the duplicates few, large enough not to pause the partitions at every
# turn (a bound of 10 pauses at 10 in flight and resumes at none: 20 records/s).
MAX_IN_FLIGHT = 100
TOTAL = 600


def _config(kafka: LocalKafka, emu: GameballEmulator, topic: str, **kafka_keys: Any) -> Any:
    data = config_data(
        kafka, emu, topic, delivery={"max_in_flight": MAX_IN_FLIGHT, "batch": {"mode": "never"}}
    )
    # config_data's first parameter is named `kafka`: set the section's keys directly.
    data["kafka"].update(session_timeout_ms=SESSION_TIMEOUT_MS, **kafka_keys)
    return data


def _held(props: dict[str, Any], group: str, instance_id: str) -> bool:
    return instance_holder(props, group, instance_id) is not None


def _delivered_at(emu: GameballEmulator) -> list[float]:
    return sorted(request.received_at for request in emu.received("events"))


def _kill_and_restart(
    kafka: LocalKafka, emu: GameballEmulator, topic: str, tmp_path: Path, data: Any
) -> tuple[float, float, int]:
    """SIGKILL a bridge mid-stream, start the same config at once; return the time from the
    kill to the first delivery after it, the longest gap between two deliveries (what an
    operator watching Gameball sees), and the duplicates once all is committed."""
    bootstrap, group = kafka.bootstrap_servers, f"{topic}-group"
    emu.set_latency(20)
    produce_events(bootstrap, topic, range(TOTAL), customers=100)
    first = BridgeProcess(data, tmp_path).start()
    try:
        assert wait_until(lambda: len(emu.received("events")) >= 200, 60)
        first.kill()
        killed_at = time.time()
    finally:
        first.kill()
    committed_at_kill = kafka_tools.committed_offsets(bootstrap, group, topic)
    # Requests accepted before the kill but still being answered land a moment after it.
    time.sleep(0.1)
    before = len(emu.received("events"))
    assert before < TOTAL, "killed mid-stream"

    second = BridgeProcess(data, tmp_path).start()
    try:
        assert wait_until(lambda: len(emu.received("events")) > before, 60)
        assert wait_until(lambda: all_committed(bootstrap, group, topic), 90)
        second.signal(signal.SIGTERM)
        assert second.wait(30) == 0
    finally:
        second.kill()
    delivered_at = _delivered_at(emu)
    resumed = delivered_at[before] - killed_at
    longest = max(b - a for a, b in itertools.pairwise(delivered_at))

    seqs = received_seqs(emu)
    assert set(seqs) == set(range(TOTAL)), "every record delivered"
    duplicated = {seq for seq, n in collections.Counter(seqs).items() if n > 1}
    position = {
        orjson.loads(r.value or b"")["seq"]: (r.partition, r.offset)
        for r in kafka_tools.read_topic(bootstrap, topic)
    }
    for seq in duplicated:
        partition, offset = position[seq]
        assert offset >= committed_at_kill[partition], f"seq {seq} was committed, then resent"
    return resumed, longest, len(duplicated)


def test_sigkill_and_restart_with_an_instance_id_resumes_at_once(
    kafka: LocalKafka, emulator: GameballEmulator, topic: str, tmp_path: Path
) -> None:
    data = _config(kafka, emulator, topic, instance_id="bridge-0")
    gap, longest, duplicates = _kill_and_restart(kafka, emulator, topic, tmp_path, data)
    print(
        f"\nwith kafka.instance_id: deliveries resumed {gap:.1f} s after the SIGKILL "
        f"(longest gap between deliveries {longest:.1f} s), {duplicates} duplicates, none lost"
    )
    # The process's own start (Python, the config, the join) is most of it.
    assert gap < 5
    # At most the records in flight at the kill, plus any finished since the last commit
    # (0.2 s) that its metadata did not list yet.
    assert duplicates <= 2 * MAX_IN_FLIGHT


def test_sigkill_and_restart_without_an_instance_id_waits_out_the_session(
    kafka: LocalKafka, emulator: GameballEmulator, topic: str, tmp_path: Path
) -> None:
    data = _config(kafka, emulator, topic)
    gap, longest, duplicates = _kill_and_restart(kafka, emulator, topic, tmp_path, data)
    print(
        f"\nwithout kafka.instance_id: deliveries resumed {gap:.1f} s after the SIGKILL "
        f"(longest gap between deliveries {longest:.1f} s; session_timeout_ms "
        f"{SESSION_TIMEOUT_MS}), {duplicates} duplicates, none lost"
    )
    # The dead member keeps its partitions until its session expires.
    # The session runs from the dead member's last heartbeat, up to heartbeat.interval.ms
    # (3 s) before the kill.
    assert gap >= SESSION_TIMEOUT_MS / 1000 - 3.5
    assert duplicates <= 2 * MAX_IN_FLIGHT


def test_sigterm_leaves_the_group_unless_told_to_keep_the_partitions(
    kafka: LocalKafka, emulator: GameballEmulator, topic: str, tmp_path: Path
) -> None:
    bootstrap, group = kafka.bootstrap_servers, f"{topic}-group"
    produce_events(bootstrap, topic, range(100), customers=10)
    leaving = _config(kafka, emulator, topic, instance_id="pod-abc12")
    staying = _config(kafka, emulator, topic, instance_id="web-0", leave_group_on_shutdown=False)
    props = consumer_properties(parse_config(leaving, env={}).kafka)
    for data, instance_id in ((leaving, "pod-abc12"), (staying, "web-0")):
        bridge = BridgeProcess(data, tmp_path).start()
        try:
            assert wait_until(functools.partial(_held, props, group, instance_id), 60)
            assert wait_until(lambda: all_committed(bootstrap, group, topic), 60)
            bridge.signal(signal.SIGTERM)
            assert bridge.wait(30) == 0
        finally:
            bridge.kill()
        events = [line["event"] for line in bridge.log_lines()]
        # The revoke's commit happens once: in the unsubscribe, or in close() when staying.
        assert events.count("partition.revoked") == 1, events
        holder = instance_holder(props, group, instance_id)
        if data is leaving:
            assert "kafka.left_group" in events
            assert holder is None
        else:
            assert "kafka.left_group" not in events
            # Kept until web-0 comes back or the session times out; `bridge check` says so.
            assert holder is not None
            step = check_instance_id(parse_config(staying, env={}))
            print("\n" + step.line())
            assert step.ok
            assert "WARNING: held by member" in step.detail
    assert sorted(set(received_seqs(emulator))) == list(range(100))


def test_a_second_process_with_the_same_id_fences_the_first(
    kafka: LocalKafka, emulator: GameballEmulator, topic: str, tmp_path: Path
) -> None:
    bootstrap, group, total = kafka.bootstrap_servers, f"{topic}-group", TOTAL
    emulator.set_latency(20)
    produce_events(bootstrap, topic, range(total), customers=100)
    data = _config(kafka, emulator, topic, instance_id="bridge-0")
    first = BridgeProcess(data, tmp_path).start()
    second = BridgeProcess(data, tmp_path)
    try:
        assert wait_until(lambda: len(emulator.received("events")) >= 200, 60)
        second.start()
        started = time.monotonic()
        assert first.wait(60) == 1, "the fenced process exits with 1"
        print(
            f"\nthe first process stopped {time.monotonic() - started:.1f} s after the second "
            "started"
        )
        assert wait_until(lambda: all_committed(bootstrap, group, topic), 90)
        assert second.proc is not None
        assert second.proc.poll() is None, "the second runs on"
        second.signal(signal.SIGTERM)
        assert second.wait(30) == 0
    finally:
        first.kill()
        second.kill()

    lines = first.log_lines()
    events = [line["event"] for line in lines]
    fenced = events.index("kafka.instance_fenced")
    assert lines[fenced]["instance_id"] == "bridge-0"
    assert lines[fenced]["level"] == "error"
    failed = next(line for line in lines if line["event"] == "bridge.failed")
    assert "'bridge-0'" in failed["error"]
    assert "taken over" in failed["error"]
    # Nothing committed by the fenced one after it knew: no revoke commits, no commit tried.
    assert "partition.revoked" not in events[fenced:]
    assert "kafka.commit_failed" not in events[fenced:]
    seqs = received_seqs(emulator)
    assert set(seqs) == set(range(total)), "nothing lost"
    duplicated = sum(1 for n in collections.Counter(seqs).values() if n > 1)
    print(f"{duplicated} duplicates (both delivered until the first was fenced)")
