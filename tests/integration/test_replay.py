"""`bridge dlq replay`: dead letters go back through the current mappings, and a replay ends."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from bridge.config import parse_config
from bridge.replay import dead_letters
from bridge.sandbox import kafka_tools
from bridge.sandbox.emulator import GameballEmulator
from bridge.sandbox.local_kafka import LocalKafka

from .conftest import InProcessBridge, all_committed, config_data, dead_letter_topic, wait_until

pytestmark = pytest.mark.kafka


def test_a_fixed_mapping_recovers_what_the_old_one_dead_lettered(
    kafka: LocalKafka, emulator: GameballEmulator, topic: str
) -> None:
    bootstrap, group = kafka.bootstrap_servers, f"{topic}-group"
    # The producer renamed user.id to user.uid; the mapping still reads user.id.
    docs = [{"type": "tick", "seq": i, "user": {"uid": f"c{i}"}} for i in range(12)]
    kafka_tools.produce(
        bootstrap,
        topic,
        (orjson.dumps(d) for d in docs),
        keys=(f"c{i}".encode() for i in range(12)),
    )
    broken = config_data(kafka, emulator, topic)
    with InProcessBridge(parse_config(broken, env={})) as bridge:
        assert wait_until(lambda: all_committed(bootstrap, group, topic), 60)
        assert bridge.stop().dead_lettered == 12
    assert emulator.received() == []

    # Replaying with the broken mapping again: all fail again, land beyond the replayed
    # range, and the replay still ends.
    config = parse_config(broken, env={})
    counters = asyncio.run(dead_letters.replay(config, dead_letters.plan(config)))
    assert counters.dead_lettered == 12
    assert len(kafka_tools.read_topic(bootstrap, dead_letter_topic(topic))) == 24

    # The fix: read user.uid. Replay only the first 12 dead letters (offsets 0..11).
    fixed = config_data(kafka, emulator, topic)
    fixed["mappings"][0]["event"]["customer_id"] = "user.uid"
    config = parse_config(fixed, env={})
    counters = asyncio.run(dead_letters.replay(config, dead_letters.plan(config, to_offset=11)))
    assert counters.delivered == 12
    assert counters.dead_lettered == 0
    bodies = [r.body for r in emulator.received("events")]
    assert sorted(b["events"]["tick"]["seq"] for b in bodies) == list(range(12))
    assert {b["customerId"] for b in bodies} == {f"c{i}" for i in range(12)}
    # Committed under the replay group, up to the end of the replayed range.
    replay_group = f"{group}{dead_letters.DLQ_REPLAY_GROUP_SUFFIX}"
    assert kafka_tools.committed_offsets(bootstrap, replay_group, dead_letter_topic(topic)) == {
        0: 12
    }


def test_restore_gives_back_the_original_record() -> None:
    from bridge.record import SourceRecord

    dead = SourceRecord(
        topic="dlq",
        partition=0,
        offset=99,
        value=b"{}",
        key=b"k",
        headers=(
            ("trace", b"t-1"),
            ("bridge.error.kind", b"missing_field"),
            ("bridge.source.topic", b"app-events"),
            ("bridge.source.partition", b"2"),
            ("bridge.source.offset", b"41"),
        ),
    )
    original = dead_letters.restore(dead)
    assert (original.topic, original.partition, original.offset) == ("app-events", 2, 41)
    # Its own headers, and the loop guard's (what it failed of, and how often in a row).
    assert original.headers[0] == ("trace", b"t-1")
    assert [name for name, _ in original.headers[1:]] == [
        "bridge.replay.reason",
        "bridge.replay.failures",
    ]
    assert original.headers[2] == ("bridge.replay.failures", b"1")  # if it fails again so
    assert (original.key, original.value) == (b"k", b"{}")
