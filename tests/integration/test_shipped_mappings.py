"""A shipped mapping end to end: the Segment-style topic in config/mappings/segment, on the
real broker, produces exactly its golden operations at the emulator (events, orders, customer
upserts, a partial refund and a cancellation), dead-letters exactly its golden failures, and
skips the rest."""

from __future__ import annotations

import collections
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from bridge.config import parse_config
from bridge.mapping.sample_runs import read_samples
from bridge.sandbox import kafka_tools
from bridge.sandbox.emulator import GameballEmulator
from bridge.sandbox.emulator.endpoints import SERVED_BY
from bridge.sandbox.local_kafka import LocalKafka

from .conftest import (
    InProcessBridge,
    all_committed,
    config_data,
    dead_letter_topic,
    wait_until,
)

pytestmark = pytest.mark.kafka

SEGMENT = Path(__file__).resolve().parents[2] / "config" / "mappings" / "segment"


def _key(resource: str, body: dict[str, Any]) -> tuple[str, bytes]:
    return resource, orjson.dumps(body, option=orjson.OPT_SORT_KEYS)


def test_segment_stream_yields_its_golden_events_orders_and_customers(
    kafka: LocalKafka, emulator: GameballEmulator, topic: str
) -> None:
    bootstrap, group = kafka.bootstrap_servers, f"{topic}-group"
    mapping = yaml.safe_load((SEGMENT / "mapping.yaml").read_text())["mappings"][0]
    mapping["topics"] = [topic]
    data = config_data(kafka, emulator, topic)
    data["mappings"] = [mapping]
    config = parse_config(data, env={})

    samples = list(read_samples(SEGMENT / "samples" / "segment-events.jsonl", topic))
    golden = [
        orjson.loads(line)
        for line in (SEGMENT / "expected" / "segment-events.jsonl").read_bytes().splitlines()
    ]
    # One partition keeps the customer order of the samples (u_100's customer upsert first).
    kafka_tools.produce(
        bootstrap,
        topic,
        [s.value for s in samples],
        keys=[s.key for s in samples],
        headers=[list(s.headers) for s in samples],
        partition=0,
    )

    with InProcessBridge(config) as bridge:
        assert wait_until(lambda: all_committed(bootstrap, group, topic), 60)
        counters = bridge.stop()

    # The emulator names a tracking call by its resource, any other by its endpoint's name.
    expected_ops = collections.Counter(
        _key(SERVED_BY[op["operation"]] if "operation" in op else op["resource"], op["body"])
        for g in golden
        for op in g.get("operations", [])
    )
    sent = collections.Counter(_key(r.resource, r.body) for r in emulator.received())
    assert sent == expected_ops
    assert {resource for resource, _ in sent} == {"events", "orders", "customers", "refund"}
    assert emulator.customer("u_100") == {"balance": 0, "tags": []}  # every point taken back

    expected_failures = sorted(g["error"]["kind"] for g in golden if "error" in g)
    dead = kafka_tools.read_topic(bootstrap, dead_letter_topic(topic))
    assert sorted(r.headers["bridge.error.kind"].decode() for r in dead) == expected_failures
    skipped = sum(1 for g in golden if g.get("operations") == [])
    assert counters.skipped == skipped
