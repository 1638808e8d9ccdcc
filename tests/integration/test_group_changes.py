"""Group changes on a live stream, Gameball's documented limits on (the emulator enforces
100 events/s and 1,200 per 30 s; each bridge paces itself under its share): three instances
started together, and a rolling restart of three (a new instance id per pod, as a Deployment
gives). Nothing may be lost or repeated, no two requests for one customer may overlap, no
429, and deliveries may not stop: these events are graceful, so nothing is in the air that
could repeat (a revoke withdraws what has not been sent and waits for what has)."""

from __future__ import annotations

import collections
import itertools
import signal
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest
from confluent_kafka import Producer

from bridge.kafka.admin import ensure_topics
from bridge.sandbox import kafka_tools
from bridge.sandbox.emulator import GameballEmulator
from bridge.sandbox.local_kafka import LocalKafka

from .conftest import API_KEY, SECRET_KEY, BridgeProcess, config_data, event, wait_until

pytestmark = pytest.mark.kafka

PARTITIONS = 6
RATE = 30  # records per second, under the account's sustained 40 events/s
CUSTOMERS = 300
# The longest pause in deliveries allowed during the changes: the live stream brings a
# record every 33 ms; a rebalance holds the moving partitions for a moment.
MAX_GAP = 10.0


class LiveStream:
    """Produces RATE records per second, keyed by customer, until stopped."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self._producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "acks": "all"})
        self._topic = topic
        self._stop = threading.Event()
        self.produced = 0
        self._thread = threading.Thread(target=self._run, name="live-stream")

    def __enter__(self) -> LiveStream:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        started = time.monotonic()
        while not self._stop.is_set():
            doc = event(self.produced, CUSTOMERS)
            self._producer.produce(self._topic, orjson.dumps(doc), key=doc["user"]["id"].encode())
            self._producer.poll(0)
            self.produced += 1
            time.sleep(max(0.0, started + self.produced / RATE - time.monotonic()))

    def stop(self) -> None:
        if self._thread.is_alive():
            self._stop.set()
            self._thread.join()
            assert self._producer.flush(30) == 0


def _topic(kafka: LocalKafka) -> str:
    name = f"live-{uuid.uuid4().hex[:8]}"
    ensure_topics(
        {"bootstrap.servers": kafka.bootstrap_servers, "log_level": kafka_tools.QUIET},
        {name: PARTITIONS, f"{name}-dlq": 1},
    )
    return name


def _config(kafka: LocalKafka, emu: GameballEmulator, topic: str, **kafka_keys: Any) -> Any:
    data = config_data(
        kafka,
        emu,
        topic,
        gameball={
            "base_url": emu.url,
            "api_key": API_KEY,
            "secret_key": SECRET_KEY,
            "rate_limits": {"enabled": True},  # Gameball's documented limits, share: auto
        },
    )
    data["kafka"].update(kafka_keys)
    return data


def _outcome(emu: GameballEmulator, produced: int, since: float) -> dict[str, Any]:
    seqs = [m["seq"] for r in emu.received("events") for m in r.body["events"].values()]
    counts = collections.Counter(seqs)
    times = sorted(r.received_at for r in emu.received("events"))
    stats = emu.stats()
    return {
        "lost": len(set(range(produced)) - counts.keys()),
        "repeated": sum(n - 1 for n in counts.values()),
        "overlaps": stats["overlap_violations"],
        "429s": stats["rate_limited"],
        "first_delivery_s": round(times[0] - since, 1) if times else None,
        "longest_gap_s": round(max(b - a for a, b in itertools.pairwise(times)), 1),
    }


def _finish(stream: LiveStream, bootstrap: str, topic: str) -> None:
    """Ten seconds more of the stream, then stop it and wait until the group committed all."""
    time.sleep(10)
    stream.stop()
    assert wait_until(lambda: kafka_tools.fully_committed(bootstrap, f"{topic}-group", topic), 60)


def _stop(bridges: list[BridgeProcess]) -> None:
    """SIGTERM every bridge, and each exits cleanly."""
    for bridge in bridges:
        bridge.signal(signal.SIGTERM)
    for bridge in bridges:
        assert bridge.wait(30) == 0


@pytest.fixture
def limited_emulator() -> Any:
    with GameballEmulator(
        api_key=API_KEY, secret_key=SECRET_KEY, rate_limits=True, order_key="seq"
    ) as emu:
        yield emu


def test_three_started_together_then_members_joining_and_leaving_never_stall_or_repeat(
    kafka: LocalKafka, limited_emulator: GameballEmulator, tmp_path: Path
) -> None:
    # Three start together; then every 12 s one more joins or one leaves by SIGTERM (a
    # deploy or an autoscaler at work): the group keeps delivering through every rebalance.
    emu, bootstrap = limited_emulator, kafka.bootstrap_servers
    topic = _topic(kafka)
    data = _config(kafka, emu, topic)
    running = [BridgeProcess(data, tmp_path) for _ in range(3)]
    stopped: list[BridgeProcess] = []
    started = time.time()
    try:
        with LiveStream(bootstrap, topic) as stream:
            for bridge in running:
                bridge.start()
            for step in range(5):
                time.sleep(12)
                if step % 2 == 0:
                    running.append(BridgeProcess(data, tmp_path).start())
                else:
                    leaving = running.pop(0)
                    leaving.signal(signal.SIGTERM)
                    assert leaving.wait(30) == 0
                    stopped.append(leaving)
            _finish(stream, bootstrap, topic)
        _stop(running)
    finally:
        for bridge in running + stopped:
            bridge.kill()
    outcome = _outcome(emu, stream.produced, started)
    print(f"\nthree together, then joins and leaves, {stream.produced} records: {outcome}")
    assert outcome["lost"] == 0
    assert outcome["repeated"] == 0
    assert outcome["overlaps"] == 0
    assert outcome["429s"] == 0
    # The first records go out once the group has formed, not after a rate-limit window.
    assert outcome["first_delivery_s"] is not None
    assert outcome["first_delivery_s"] < 20
    assert outcome["longest_gap_s"] < MAX_GAP


def test_a_rolling_restart_of_three_neither_stops_nor_repeats(
    kafka: LocalKafka, limited_emulator: GameballEmulator, tmp_path: Path
) -> None:
    emu, bootstrap = limited_emulator, kafka.bootstrap_servers
    topic = _topic(kafka)

    def pod(name: str) -> BridgeProcess:
        # A Deployment's pods: a new name each, leaving the group on SIGTERM.
        data = _config(kafka, emu, topic, instance_id=name, leave_group_on_shutdown=True)
        return BridgeProcess(data, tmp_path)

    old = [pod(f"bridge-old-{n}").start() for n in range(3)]
    new: list[BridgeProcess] = []
    try:
        with LiveStream(bootstrap, topic) as stream:
            assert wait_until(lambda: len(emu.received("events")) >= 300, 60)
            restart_began = time.time()
            for n, leaving in enumerate(old):
                # maxSurge 1, maxUnavailable 0: the new pod joins, then the old one stops.
                new.append(pod(f"bridge-new-{n}").start())
                time.sleep(8)
                leaving.signal(signal.SIGTERM)
                assert leaving.wait(30) == 0
                time.sleep(4)
            _finish(stream, bootstrap, topic)
        _stop(new)
    finally:
        for bridge in old + new:
            bridge.kill()
    outcome = _outcome(emu, stream.produced, restart_began)
    during = [r.received_at for r in emu.received("events") if r.received_at >= restart_began]
    gaps = [b - a for a, b in itertools.pairwise(sorted([restart_began, *during]))]
    outcome["longest_gap_during_restart_s"] = round(max(gaps), 1)
    print(f"\nrolling restart of three, {stream.produced} records: {outcome}")
    assert outcome["lost"] == 0
    assert outcome["repeated"] == 0
    assert outcome["overlaps"] == 0
    assert outcome["429s"] == 0
    assert outcome["longest_gap_during_restart_s"] < MAX_GAP
