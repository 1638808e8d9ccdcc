"""`bridge replay --from --to`: a time window of the source topics is sent again, under its
own group, and only that window."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
import yaml
from confluent_kafka import KafkaException, Producer, TopicPartition
from structlog.testing import capture_logs

from bridge.cli import main
from bridge.engine.checkpoint import encode_done_above
from bridge.errors import ConfigError
from bridge.replay import source
from bridge.sandbox import kafka_tools
from bridge.sandbox.emulator import GameballEmulator
from bridge.sandbox.local_kafka import LocalKafka

from .conftest import PARTITIONS, config_data, event, make_config, received_seqs, wait_until

pytestmark = pytest.mark.kafka

RECORDS = 30
STEP_MS = 1000
# The window: records 10..19 (timestamps BASE + 10 s up to, not including, BASE + 20 s).
FIRST, END = 10, 20


def produce_timed(bootstrap: str, topic: str) -> int:
    """Record `seq` i goes to partition i % PARTITIONS with timestamp BASE + i seconds, so
    each partition's timestamps rise; returns BASE (epoch ms)."""
    base = (int(time.time()) - 3600) * 1000
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "log_level": 2})
    for i in range(RECORDS):
        doc = event(i)
        producer.produce(
            topic,
            value=orjson.dumps(doc),
            key=doc["user"]["id"].encode(),
            partition=i % PARTITIONS,
            timestamp=base + i * STEP_MS,
        )
    assert producer.flush(30) == 0
    return base


def offsets_below(seq: int) -> dict[int, int]:
    """Per partition, how many of its records have a seq below `seq` (= that record's offset)."""
    return {p: len([i for i in range(seq) if i % PARTITIONS == p]) for p in range(PARTITIONS)}


def commit(bootstrap: str, group: str, offsets: list[TopicPartition]) -> None:
    """Commit `offsets` under `group` from outside it (as an earlier run would have)."""
    consumer = kafka_tools._probe(bootstrap, group)
    try:
        for attempt in range(40):
            try:
                consumer.commit(offsets=offsets, asynchronous=False)
                return
            except KafkaException:  # a fresh group's coordinator may still be loading
                if attempt == 39:
                    raise
                time.sleep(0.25)
    finally:
        consumer.close()


def test_only_the_window_is_sent_again_under_the_replay_group_each_time(
    kafka: LocalKafka, emulator: GameballEmulator, topic: str
) -> None:
    bootstrap, live_group = kafka.bootstrap_servers, f"{topic}-group"
    base = produce_timed(bootstrap, topic)
    live = {0: 2, 1: 3, 2: 4}
    commit(bootstrap, live_group, [TopicPartition(topic, p, o) for p, o in live.items()])
    config = make_config(kafka, emulator, topic)
    from_ms, to_ms = base + FIRST * STEP_MS, base + END * STEP_MS

    topics = source.topics_to_replay(config)
    assert topics == [topic]
    ranges = source.plan(config, topics, from_ms, to_ms)
    starts, ends = offsets_below(FIRST), offsets_below(END)
    assert ranges == {(topic, p): (starts[p], ends[p]) for p in range(PARTITIONS)}

    counters = asyncio.run(source.replay(config, ranges, from_ms=from_ms, to_ms=to_ms))
    assert counters.delivered == END - FIRST
    assert sorted(received_seqs(emulator)) == list(range(FIRST, END))
    assert kafka_tools.committed_offsets(bootstrap, live_group, topic) == live
    replay_group = live_group + source.WINDOW_REPLAY_GROUP_SUFFIX
    assert kafka_tools.committed_offsets(bootstrap, replay_group, topic) == ends

    # As if an earlier replay had stopped at the start of each range having recorded the
    # whole range as done above it: a replay reads its range again from the start anyway
    # and skips nothing, since a backfill is an explicit request to send.
    commit(
        bootstrap,
        replay_group,
        [
            TopicPartition(
                topic, p, starts[p], encode_done_above(starts[p], range(starts[p], ends[p]))
            )
            for p in range(PARTITIONS)
        ],
    )
    counters = asyncio.run(source.replay(config, ranges, from_ms=from_ms, to_ms=to_ms))
    assert counters.delivered == END - FIRST
    assert counters.done_before == 0
    assert sorted(received_seqs(emulator)) == sorted(2 * list(range(FIRST, END)))
    assert kafka_tools.committed_offsets(bootstrap, replay_group, topic) == ends
    assert kafka_tools.committed_offsets(bootstrap, live_group, topic) == live


def test_a_window_without_records_ends_at_once(
    kafka: LocalKafka, emulator: GameballEmulator, topic: str
) -> None:
    base = produce_timed(kafka.bootstrap_servers, topic)
    config = make_config(kafka, emulator, topic)
    later = base + RECORDS * STEP_MS
    ranges = source.plan(config, [topic], later, later + 60_000)
    assert all(start == end for start, end in ranges.values())
    with capture_logs() as logs:
        counters = asyncio.run(source.replay(config, ranges, from_ms=later))
    assert counters.received == 0
    assert [e["event"] for e in logs] == ["replay.nothing_to_do"]
    assert logs[0]["topics"] == [topic]
    assert emulator.received() == []


def test_the_command_resolves_a_pattern(
    kafka: LocalKafka, emulator: GameballEmulator, topic: str, tmp_path: Path
) -> None:
    base = produce_timed(kafka.bootstrap_servers, topic)
    data = config_data(kafka, emulator, topic)
    # Anchored at the end: one that also matched the dead-letter topic (`<topic>-dlq`) is
    # refused by the config (tests/unit/test_config.py).
    data["kafka"]["topics"] = [f"^{re.escape(topic)}$"]
    path = tmp_path / "bridge.yaml"
    path.write_text(yaml.safe_dump(data))
    iso = [
        time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime((base + n * STEP_MS) / 1000))
        for n in (FIRST, END)
    ]
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bridge.cli",
            "replay",
            "-c",
            str(path),
            "--from",
            iso[0],
            "--to",
            iso[1],
        ],
        capture_output=True,
        timeout=120,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    lines = [orjson.loads(line) for line in done.stdout.splitlines() if line.startswith(b"{")]
    [complete] = [line for line in lines if line["event"] == "replay.complete"]
    assert complete["topics"] == [topic]
    assert complete["finished"] is True
    assert complete["remaining"] == {}
    assert complete["delivered"] == END - FIRST
    assert sorted(received_seqs(emulator)) == list(range(FIRST, END))


def test_a_window_that_ends_before_it_starts_is_refused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["replay", "-c", "does-not-matter.yaml", "--from", "2026-11-27T10:00Z"]
    assert main([*args, "--to", "2026-11-27T09:00Z"]) == 2
    message = capsys.readouterr().err
    assert "--to 2026-11-27T09:00:00.000+00:00 is not later than --from" in message
    assert main([*args, "--to", "2026-11-27T10:00Z"]) == 2  # [from, from) is empty too


def test_only_subscribed_topics_can_be_replayed(
    kafka: LocalKafka, emulator: GameballEmulator, topic: str
) -> None:
    config = make_config(kafka, emulator, topic)
    with pytest.raises(ConfigError, match="not among the topics the config subscribes to"):
        source.topics_to_replay(config, ["orders"])
    with pytest.raises(ConfigError, match="dead-letter topic; replay it with `bridge dlq replay`"):
        source.topics_to_replay(config, [config.dead_letter.topic])


def test_sigterm_stops_a_replay_that_cannot_finish(
    kafka: LocalKafka, emulator: GameballEmulator, topic: str, tmp_path: Path
) -> None:
    base = produce_timed(kafka.bootstrap_servers, topic)
    emulator.set_outage(503)  # every request is retried, so the window never gets done
    data = config_data(kafka, emulator, topic, delivery={"drain_timeout": 1})
    path, out = tmp_path / "bridge.yaml", tmp_path / "replay.log"
    path.write_text(yaml.safe_dump(data))
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(base / 1000))
    with open(out, "wb") as stdout:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bridge.cli", "replay", "-c", str(path), "--from", since],
            stdout=stdout,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    try:
        assert wait_until(lambda: b'"gameball.retry"' in out.read_bytes(), 60)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    lines = [orjson.loads(line) for line in out.read_bytes().splitlines() if line.startswith(b"{")]
    [complete] = [line for line in lines if line["event"] == "replay.complete"]
    assert complete["finished"] is False
    # Nothing was delivered, so nothing was committed: the whole window is left.
    assert complete["remaining"] == {f"{topic}[{p}]": n for p, n in offsets_below(RECORDS).items()}
    replay_group = f"{topic}-group{source.WINDOW_REPLAY_GROUP_SUFFIX}"
    assert set(
        kafka_tools.committed_offsets(kafka.bootstrap_servers, replay_group, topic).values()
    ) == {-1001}


def test_a_range_ending_in_a_transaction_marker_still_finishes(
    kafka: LocalKafka, emulator: GameballEmulator, topic: str
) -> None:
    # A transactional producer ends each partition's batch with a commit marker: an offset
    # that holds no record, so the engine can never commit past it. Without --to, the range
    # ends at the high watermark, after that marker; the replay must still see it is done.
    bootstrap = kafka.bootstrap_servers
    base = (int(time.time()) - 60) * 1000
    producer = Producer(
        {"bootstrap.servers": bootstrap, "transactional.id": f"{topic}-tx", "log_level": 2}
    )
    producer.init_transactions(30)
    producer.begin_transaction()
    for i in range(9):
        doc = event(i)
        producer.produce(
            topic, value=orjson.dumps(doc), key=doc["user"]["id"].encode(), partition=i % 3
        )
    producer.commit_transaction(30)
    # Certificate checks forced off (moot over the emulator's http): warned as `run` warns.
    config = make_config(
        kafka, emulator, topic, gameball={"tls": {"verify": False, "force_insecure": True}}
    )
    # 3 records and a commit marker per partition. The coordinator writes the markers after
    # commit_transaction returns, so the partitions' stable end may lag a moment behind it.
    expected = {(topic, p): (0, 4) for p in range(PARTITIONS)}
    assert wait_until(lambda: source.plan(config, [topic], base, None) == expected, 20)
    ranges = expected

    async def bounded() -> tuple[float, object]:
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(30, stop.set)  # the bug: it would never end
        started = time.monotonic()
        with capture_logs() as logs:
            await source.replay(config, ranges, from_ms=base, stop=stop)
        complete = next(e for e in logs if e["event"] == "replay.complete")
        assert "gameball.tls_unverified" in [e["event"] for e in logs]
        return time.monotonic() - started, complete

    elapsed, complete = asyncio.run(bounded())
    assert sorted(received_seqs(emulator)) == list(range(9))
    assert complete["finished"] is True, complete  # type: ignore[index]
    assert complete["remaining"] == {}  # type: ignore[index]
    assert elapsed < 25
