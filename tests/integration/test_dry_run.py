"""`bridge run --dry-run`: consume, map and validate; post, dead-letter and commit nothing."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from structlog.testing import capture_logs

from bridge import app
from bridge.sandbox import kafka_tools
from bridge.sandbox.emulator import GameballEmulator
from bridge.sandbox.local_kafka import LocalKafka

from .conftest import dead_letter_topic, make_config

pytestmark = pytest.mark.kafka


def test_dry_run_logs_what_it_would_do_and_changes_nothing(
    kafka: LocalKafka, emulator: GameballEmulator, topic: str
) -> None:
    bootstrap, group = kafka.bootstrap_servers, f"{topic}-group"
    values = [orjson.dumps({"type": "t", "seq": i, "user": {"id": f"c{i}"}}) for i in range(9)]
    kafka_tools.produce(bootstrap, topic, [*values, b"{broken"], partition=0)
    config = make_config(kafka, emulator, topic)

    async def run_until_seen() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(app.run(config, stop, dry_run=True))
        async with asyncio.timeout(60):
            while len([e for e in logs if e["event"].startswith("dry_run.")]) < 10:
                await asyncio.sleep(0.05)
        stop.set()
        await task

    with capture_logs() as logs:
        asyncio.run(run_until_seen())

    sends = [e for e in logs if e["event"] == "dry_run.would_send"]
    dead = [e for e in logs if e["event"] == "dry_run.would_dead_letter"]
    assert sorted(e["body"]["events"]["t"]["seq"] for e in sends) == list(range(9))
    assert [(e["kind"], e["offset"]) for e in dead] == [("invalid_json", 9)]
    assert emulator.stats()["total_requests"] == 0
    assert kafka_tools.read_topic(bootstrap, dead_letter_topic(topic)) == []
    nothing = {0: -1001, 1: -1001, 2: -1001}
    assert kafka_tools.committed_offsets(bootstrap, group, topic) == nothing
    assert kafka_tools.committed_offsets(bootstrap, f"{group}-dry-run", topic) == nothing
