"""The bridge on a real broker, posting to the emulator over a socket."""

from __future__ import annotations

import collections
import time

import orjson
import pytest

from bridge.sandbox import kafka_tools
from bridge.sandbox.emulator import GameballEmulator
from bridge.sandbox.local_kafka import LocalKafka

from .conftest import (
    InProcessBridge,
    all_committed,
    dead_letter_topic,
    make_config,
    produce_events,
    received_seqs,
    wait_until,
)

pytestmark = pytest.mark.kafka


def test_records_across_partitions_arrive_once_in_order_and_are_committed(
    kafka: LocalKafka, emulator: GameballEmulator, topic: str
) -> None:
    bootstrap = kafka.bootstrap_servers
    produce_events(bootstrap, topic, range(1000))
    assert set(kafka_tools.end_offsets(bootstrap, topic).values()) != {0}, "spread over partitions"
    config = make_config(kafka, emulator, topic)
    with InProcessBridge(config) as bridge:
        assert wait_until(lambda: all_committed(bootstrap, f"{topic}-group", topic), 60)
        counters = bridge.stop()

    seqs = received_seqs(emulator)
    assert sorted(seqs) == list(range(1000))  # every record, exactly once
    stats = emulator.stats()
    assert stats["overlap_violations"] == 0  # never two requests for one customer at once
    assert stats["out_of_order_violations"] == 0  # each customer's records in offset order
    assert counters.delivered == 1000
    assert counters.dead_lettered == 0
    assert kafka_tools.read_topic(bootstrap, dead_letter_topic(topic)) == []


def test_bad_records_go_to_the_dead_letter_topic_with_the_reason_and_are_committed(
    kafka: LocalKafka, emulator: GameballEmulator, topic: str
) -> None:
    bootstrap = kafka.bootstrap_servers
    good = [orjson.dumps({"type": "t", "seq": i, "user": {"id": f"c{i}"}}) for i in range(20)]
    bad: dict[str, bytes | None] = {
        "invalid_json": b'{"type": "t", "user": {"id": "c1"',
        "missing_field": orjson.dumps({"type": "t", "user": {}}),
        "wrong_type": orjson.dumps({"type": "t", "user": {"id": ["x"]}}),
        "too_large": orjson.dumps({"type": "t", "user": {"id": "c1"}, "pad": "x" * 5000}),
        "no_value": None,
    }
    values = [*good[:10], *bad.values(), *good[10:]]
    kafka_tools.produce(bootstrap, topic, values, partition=0)

    config = make_config(kafka, emulator, topic, dead_letter={"max_record_bytes": 4096})
    with InProcessBridge(config) as bridge:
        assert wait_until(lambda: all_committed(bootstrap, f"{topic}-group", topic), 60)
        counters = bridge.stop()

    assert sorted(received_seqs(emulator)) == list(range(20))
    dead = kafka_tools.read_topic(bootstrap, dead_letter_topic(topic))
    kinds = collections.Counter(r.headers["bridge.error.kind"].decode() for r in dead)
    assert kinds == collections.Counter(list(bad))
    assert counters.dead_lettered == len(dead)
    by_kind = {r.headers["bridge.error.kind"].decode(): r for r in dead}
    # The original record is kept byte for byte, with where it came from.
    assert by_kind["invalid_json"].value == bad["invalid_json"]
    assert by_kind["invalid_json"].headers["bridge.source.topic"] == topic.encode()
    assert by_kind["invalid_json"].headers["bridge.source.offset"] == b"10"
    assert (
        b"customer_id (path user.id) is missing"
        in by_kind["missing_field"].headers["bridge.error.message"]
    )
    assert by_kind["no_value"].value is None
    assert "bridge.failed_at" in by_kind["too_large"].headers


def test_a_record_gameball_rejects_is_dead_lettered_with_status_and_code(
    kafka: LocalKafka, emulator: GameballEmulator, topic: str
) -> None:
    bootstrap = kafka.bootstrap_servers
    emulator.script([{"status": 400, "code": 3000}])  # the first request is refused
    produce_events(bootstrap, topic, range(1))
    with InProcessBridge(make_config(kafka, emulator, topic)) as bridge:
        assert wait_until(lambda: all_committed(bootstrap, f"{topic}-group", topic), 60)
        counters = bridge.stop()
    [dead] = kafka_tools.read_topic(bootstrap, dead_letter_topic(topic))
    assert dead.headers["bridge.error.kind"] == b"rejected"
    assert dead.headers["bridge.error.http_status"] == b"400"
    assert dead.headers["bridge.error.gameball_code"] == b"3000"
    assert dead.headers["bridge.error.attempts"] == b"1"
    assert orjson.loads(dead.value or b"")["seq"] == 0
    assert counters.dead_lettered == 1
    assert received_seqs(emulator) == []


def test_a_failing_dead_letter_write_holds_the_offset(
    kafka: LocalKafka, emulator: GameballEmulator, topic: str
) -> None:
    bootstrap, group = kafka.bootstrap_servers, f"{topic}-group"
    # The producer refuses messages over 1,000 bytes, so this record cannot be dead-lettered.
    unwritable = b"{not json" + b" " * 2000
    after = orjson.dumps({"type": "t", "seq": 1, "user": {"id": "c1"}})
    kafka_tools.produce(bootstrap, topic, [unwritable, after], partition=0)
    config = make_config(
        kafka, emulator, topic, dead_letter={"properties": {"message.max.bytes": 1000}}
    )
    with InProcessBridge(config) as bridge:
        assert wait_until(lambda: received_seqs(emulator) == [1], 30)
        time.sleep(1.0)  # several commit intervals
        # Held at the unwritable record: committed at 0, with 1 only as done-above metadata.
        assert kafka_tools.committed_offsets(bootstrap, group, topic)[0] == 0
        counters = bridge.stop()
    assert counters.dead_lettered == 0
    assert kafka_tools.read_topic(bootstrap, dead_letter_topic(topic)) == []


def test_an_outage_holds_commits_at_the_first_undelivered_record_then_drains(
    kafka: LocalKafka, emulator: GameballEmulator, topic: str
) -> None:
    bootstrap, group = kafka.bootstrap_servers, f"{topic}-group"
    produce_events(bootstrap, topic, range(200))
    emulator.set_outage(503)
    config = make_config(kafka, emulator, topic)
    with InProcessBridge(config) as bridge:
        # Every partition's first record fails: nothing may be committed, nothing dead-lettered.
        assert wait_until(lambda: emulator.stats()["total_requests"] >= 50, 30)
        time.sleep(5)  # 503s for a while ...
        emulator.set_outage("drop")  # ... then connections dropped without an answer
        time.sleep(5)
        assert kafka_tools.committed_offsets(bootstrap, group, topic) == dict.fromkeys(
            range(3), -1001
        )
        emulator.set_outage(None)
        assert wait_until(lambda: all_committed(bootstrap, group, topic), 60)
        counters = bridge.stop()

    assert emulator.stats()["dropped"] > 0
    assert sorted(received_seqs(emulator)) == list(range(200))
    assert counters.dead_lettered == 0
    assert counters.retried > 0
    assert emulator.stats()["out_of_order_violations"] == 0
    assert kafka_tools.read_topic(bootstrap, dead_letter_topic(topic)) == []


def test_refused_keys_stop_sending_and_keep_every_record(kafka: LocalKafka, topic: str) -> None:
    bootstrap, group = kafka.bootstrap_servers, f"{topic}-group"
    produce_events(bootstrap, topic, range(30))
    with GameballEmulator(api_key="the-real-key") as emu:  # the bridge sends another key
        config = make_config(
            kafka,
            emu,
            topic,
            delivery={"drain_timeout": 1, "retry": {"access_retry_interval": 0.5}},
        )
        with InProcessBridge(config) as bridge:
            assert wait_until(lambda: emu.stats()["total_requests"] >= 3, 30)
            time.sleep(1.0)  # the first burst (one request per customer lane) has landed
            before = emu.stats()["total_requests"]
            time.sleep(3.0)
            during = emu.stats()["total_requests"] - before
            counters = bridge.stop()
    # While refused: one probe per access_retry_interval (about 6 in 3 s), not a request per
    # record per retry (30 lanes retrying with backoff would send hundreds).
    assert 2 <= during <= 9
    assert counters.dead_lettered == 0
    assert counters.delivered == 0
    assert kafka_tools.committed_offsets(bootstrap, group, topic) == dict.fromkeys(range(3), -1001)
    assert kafka_tools.read_topic(bootstrap, dead_letter_topic(topic)) == []


def test_two_instances_share_the_partitions_and_lose_nothing_on_rebalance(
    kafka: LocalKafka, emulator: GameballEmulator, topic: str
) -> None:
    bootstrap, group = kafka.bootstrap_servers, f"{topic}-group"
    emulator.set_latency(5)
    produce_events(bootstrap, topic, range(1500))
    config = make_config(kafka, emulator, topic, delivery={"max_in_flight": 50})
    with InProcessBridge(config) as first:
        assert wait_until(lambda: len(emulator.received("events")) >= 200, 60)
        with InProcessBridge(config) as second:  # joins: partitions move, revokes commit
            assert wait_until(lambda: all_committed(bootstrap, group, topic), 90)
            c2 = second.stop()
        c1 = first.stop()

    seqs = received_seqs(emulator)
    assert set(seqs) == set(range(1500))
    duplicates = len(seqs) - len(set(seqs))
    print(
        f"rebalance: first delivered {c1.delivered}, second {c2.delivered}, duplicates {duplicates}"
    )
    assert c2.delivered > 0, "the second instance got partitions"
    # Revoked partitions are committed after their in-flight work, so only what was in
    # flight when the rebalance started could be sent twice.
    assert duplicates <= 50
    assert emulator.stats()["overlap_violations"] == 0
