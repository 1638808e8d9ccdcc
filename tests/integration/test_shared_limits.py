"""Several instances on one Gameball account, `rate_limits.share: auto`: together they stay
under the account's limits while members join and leave, and use most of what it allows.

The emulator enforces Gameball's windows (1 s and 30 s) with small limits (20/s, 240 per 30 s:
8 events/s sustained), so a few thousand records keep every instance busy for minutes.
"""

from __future__ import annotations

import time
import uuid

import orjson
import pytest

from bridge.kafka.admin import ensure_topics
from bridge.sandbox import kafka_tools
from bridge.sandbox.emulator import GameballEmulator
from bridge.sandbox.local_kafka import LocalKafka

from .conftest import (
    API_KEY,
    SECRET_KEY,
    InProcessBridge,
    make_config,
    produce_events,
    received_seqs,
)

pytestmark = pytest.mark.kafka

PER_SECOND, PER_30S = 20, 240
PARTITIONS = 6
# Long enough that the two moves (a member added, one stopped) cost little of the run: each
# withholds at most a quarter of the budget for one 30-second window.
SETTLE, STEADY = 40.0, 50.0


def test_three_instances_share_the_account_as_members_come_and_go(kafka: LocalKafka) -> None:
    bootstrap = kafka.bootstrap_servers
    topic = f"shared-{uuid.uuid4().hex[:8]}"
    ensure_topics(
        {"bootstrap.servers": bootstrap, "log_level": kafka_tools.QUIET},
        {topic: PARTITIONS, f"{topic}-dlq": 1},
    )
    total = 4000  # far more than the run can send: every instance always has work
    produce_events(bootstrap, topic, range(total), customers=400)
    limits = {"events": (PER_SECOND, PER_30S)}
    with GameballEmulator(
        api_key=API_KEY, secret_key=SECRET_KEY, rate_limits=True, limits=limits, order_key="seq"
    ) as emu:
        config = make_config(
            kafka,
            emu,
            topic,
            gameball={
                "base_url": emu.url,
                "api_key": API_KEY,
                "secret_key": SECRET_KEY,
                "rate_limits": {"events": {"per_second": PER_SECOND, "per_30s": PER_30S}},
            },
            delivery={"batch": {"mode": "never"}},
        )
        assert config.gameball.rate_limits.share == "auto"
        bridges = [InProcessBridge(config).__enter__() for _ in range(3)]
        try:
            # Joining members take their part only after a full window: let it pass.
            time.sleep(SETTLE)
            start, accepted_at_start = time.time(), len(received_seqs(emu))
            time.sleep(STEADY)
            bridges.append(InProcessBridge(config).__enter__())  # a fourth member joins
            time.sleep(STEADY)
            bridges.pop(0).stop()  # one leaves (SIGTERM's path: drain, commit, leave)
            time.sleep(STEADY)
            end, accepted_at_end = time.time(), len(received_seqs(emu))
        finally:
            for bridge in bridges:
                bridge.stop()
        stats = emu.stats()
        seqs = received_seqs(emu)
    sustained = PER_30S / 30.0
    used = (accepted_at_end - accepted_at_start) / (sustained * (end - start))
    print(
        f"\nshare auto, 3 -> 4 -> 3 instances: {accepted_at_end - accepted_at_start} events in "
        f"{end - start:.0f} s = {used:.1%} of the account's sustained rate; "
        f"429s: {stats['rate_limited']}"
    )
    assert stats["rate_limited"] == 0  # together, never over the account's limits
    assert used >= 0.85
    # Nothing lost: every record below a committed offset reached Gameball.
    committed = kafka_tools.committed_offsets(bootstrap, f"{topic}-group", topic)
    received = set(seqs)
    for record in kafka_tools.read_topic(bootstrap, topic):
        if record.offset < committed.get(record.partition, 0):
            assert orjson.loads(record.value or b"{}")["seq"] in received
    assert sum(committed.values()) > 0.9 * len(received)  # and the commits kept up
