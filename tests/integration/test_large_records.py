"""A record too large to map is still dead-lettered whole, and one the dead-letter topic cannot
take holds its offset with a message that says what to change; none is lost."""

from __future__ import annotations

import secrets
import uuid

import orjson
import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
from structlog.testing import capture_logs

from bridge.sandbox import kafka_tools
from bridge.sandbox.emulator import GameballEmulator
from bridge.sandbox.local_kafka import LocalKafka

from .conftest import InProcessBridge, make_config, received_seqs, wait_until

pytestmark = pytest.mark.kafka

BIG = 2_500_000  # over max_record_bytes (1,000,000) and librdkafka's default message cap
TOPIC_CAP = 4_000_000


def make_topics(bootstrap: str, dead_letter_cap: int | None) -> tuple[str, str]:
    """A source topic that takes records of TOPIC_CAP bytes, and a dead-letter topic that
    takes `dead_letter_cap` (None: the broker's default, about 1 MB)."""
    name = f"big-{uuid.uuid4().hex[:8]}"
    source, dead = name, f"{name}-dlq"
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": kafka_tools.QUIET})
    wanted = [
        NewTopic(source, 1, 1, config={"max.message.bytes": str(TOPIC_CAP)}),
        NewTopic(
            dead,
            1,
            1,
            config={"max.message.bytes": str(dead_letter_cap)} if dead_letter_cap else {},
        ),
    ]
    for future in admin.create_topics(wanted, operation_timeout=30).values():
        future.result(30)
    return source, dead


def produce_big_then_small(bootstrap: str, topic: str) -> bytes:
    # Random text: the dead-letter producer compresses (lz4), and a run of one letter would
    # shrink under any cap.
    pad = secrets.token_urlsafe(BIG)[:BIG]
    big = orjson.dumps({"type": "t", "seq": 0, "user": {"id": "c0"}, "pad": pad})
    producer = Producer(
        {"bootstrap.servers": bootstrap, "message.max.bytes": TOPIC_CAP, "log_level": 2}
    )
    producer.produce(topic, value=big)
    producer.produce(topic, value=orjson.dumps({"type": "t", "seq": 1, "user": {"id": "c1"}}))
    assert producer.flush(30) == 0
    return big


def config_for(kafka: LocalKafka, emulator: GameballEmulator, source: str, dead: str):  # type: ignore[no-untyped-def]
    return make_config(kafka, emulator, source, dead_letter={"topic": dead})


def test_a_record_too_large_to_map_is_dead_lettered_whole(
    kafka: LocalKafka, emulator: GameballEmulator
) -> None:
    bootstrap = kafka.bootstrap_servers
    source, dead = make_topics(bootstrap, dead_letter_cap=TOPIC_CAP)
    big = produce_big_then_small(bootstrap, source)
    with InProcessBridge(config_for(kafka, emulator, source, dead)) as bridge:
        assert wait_until(
            lambda: kafka_tools.committed_offsets(bootstrap, f"{source}-group", source) == {0: 2},
            60,
        )
        counters = bridge.stop()
    [letter] = kafka_tools.read_topic(bootstrap, dead)
    assert letter.value == big  # all of it: a dead letter is the record, not a summary
    assert letter.headers["bridge.error.kind"] == b"too_large"
    assert received_seqs(emulator) == [1]
    assert (counters.dead_lettered, counters.delivered) == (1, 1)


def test_a_dead_letter_the_topic_refuses_holds_its_offset_and_says_what_to_change(
    kafka: LocalKafka, emulator: GameballEmulator
) -> None:
    bootstrap = kafka.bootstrap_servers
    source, dead = make_topics(bootstrap, dead_letter_cap=None)
    produce_big_then_small(bootstrap, source)
    with capture_logs() as logs, InProcessBridge(config_for(kafka, emulator, source, dead)):
        assert wait_until(
            lambda: (
                any(e["event"] == "dead_letter.write_failed" for e in logs)
                and received_seqs(emulator) == [1]
            ),
            60,
        )
    failed = next(e for e in logs if e["event"] == "dead_letter.write_failed")
    assert f"raise max.message.bytes of topic {dead}" in failed["error"]
    # Nothing lost: the big record's offset was never committed, so a restart retries it.
    # (-1001: no commit at all; 0 would be one with only the later record noted as done.)
    assert kafka_tools.committed_offsets(bootstrap, f"{source}-group", source).get(0, -1) <= 0
    assert kafka_tools.read_topic(bootstrap, dead) == []
