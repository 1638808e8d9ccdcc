"""An order's whole life and a customer's, on the real broker and the emulator: orders, their
partial refunds and cancellations for many customers with a SIGKILL in the middle; a refund
that arrives before its order on another partition; an erasure after its customer's earlier
operations."""

from __future__ import annotations

import collections
import signal
from pathlib import Path
from typing import Any

import orjson
import pytest

from bridge.config import parse_config
from bridge.sandbox import kafka_tools
from bridge.sandbox.emulator import GameballEmulator
from bridge.sandbox.local_kafka import LocalKafka

from .conftest import (
    BridgeProcess,
    InProcessBridge,
    all_committed,
    config_data,
    dead_letter_topic,
    wait_until,
)

pytestmark = pytest.mark.kafka

DATE = {"path": "at", "type": "timestamp", "unit": "seconds"}
RULES: list[dict[str, Any]] = [
    {
        "name": "order",
        "match": {"when": {"path": "type", "equals": "order"}},
        "outputs": [
            {
                "order": {
                    "customer_id": "user",
                    "order_id": "id",
                    "order_date": DATE,
                    "total_paid": "total",
                }
            }
        ],
    },
    {
        "name": "refund",
        "match": {"when": {"path": "type", "equals": "refund"}},
        "outputs": [
            {
                "refund": {
                    "customer_id": "user",
                    "refund_transaction_id": "refund_id",
                    "reverse_transaction_id": "id",
                    "transaction_time": DATE,
                    "refund_amount": "amount",
                }
            }
        ],
    },
    {
        "name": "cancel",
        "match": {"when": {"path": "type", "equals": "cancel"}},
        "outputs": [
            {
                "cancel_order": {
                    "customer_id": "user",
                    "refund_transaction_id": {"template": "cancel-{id}"},
                    "reverse_transaction_id": "id",
                    "transaction_time": DATE,
                }
            }
        ],
    },
    {
        "name": "tags",
        "match": {"when": {"path": "type", "equals": "tags"}},
        "outputs": [{"customer_tags": {"customer_id": "user", "add": "tags"}}],
    },
    {
        "name": "event",
        "match": {"when": {"path": "type", "equals": "event"}},
        "outputs": [{"event": {"customer_id": "user", "name": {"const": "visit"}}}],
    },
    {
        "name": "erase",
        "match": {"when": {"path": "type", "equals": "erase"}},
        "outputs": [{"delete_customer": {"customer_id": "user"}}],
    },
]


def data(kafka: LocalKafka, emulator: GameballEmulator, topic: str, **delivery: Any) -> Any:
    config = config_data(kafka, emulator, topic, delivery=delivery)
    config["mappings"] = [{"name": "shop", "topics": [topic], "rules": RULES}]
    return config


def produce(bootstrap: str, topic: str, docs: list[dict[str, Any]], **where: Any) -> None:
    kafka_tools.produce(
        bootstrap,
        topic,
        [orjson.dumps(d) for d in docs],
        keys=None if where else [d["user"].encode() for d in docs],
        **where,
    )


def life(customer: int) -> list[dict[str, Any]]:
    user, order = f"cust_{customer}", f"O-{customer}"
    return [
        {"type": "order", "user": user, "id": order, "total": 100, "at": 1718000000},
        {
            "type": "refund",
            "user": user,
            "id": order,
            "refund_id": f"R-{customer}",
            "amount": 30,
            "at": 1718100000,
        },
        # The shop's producer sent that refund twice: Gameball answers "already exists".
        {
            "type": "refund",
            "user": user,
            "id": order,
            "refund_id": f"R-{customer}",
            "amount": 30,
            "at": 1718100000,
        },
        {"type": "cancel", "user": user, "id": order, "at": 1718200000},
    ]


def test_orders_refunds_and_cancellations_of_many_customers_survive_a_kill(
    kafka: LocalKafka, emulator: GameballEmulator, topic: str, tmp_path: Path
) -> None:
    bootstrap, group, customers = kafka.bootstrap_servers, f"{topic}-group", 120
    emulator.set_latency(15)
    docs = [doc for customer in range(customers) for doc in life(customer)]
    produce(bootstrap, topic, docs)
    config = data(kafka, emulator, topic, max_in_flight=100)
    first = BridgeProcess(config, tmp_path).start()
    try:
        assert wait_until(lambda: emulator.accepted_count() >= customers, 60)
        first.kill()  # SIGKILL in the middle: no drain, no final commit
    finally:
        first.kill()
    assert emulator.accepted_count("refund") < 2 * customers, "killed in the middle"
    second = BridgeProcess(config, tmp_path).start()
    try:
        assert wait_until(lambda: all_committed(bootstrap, group, topic), 120)
        second.signal(signal.SIGTERM)
        assert second.wait(30) == 0
    finally:
        second.kill()

    received = emulator.received()
    orders = {r.body["orderId"]: r.seq for r in received if r.resource == "orders"}
    refunds = collections.Counter(
        r.body["refundTransactionId"] for r in received if r.resource == "refund"
    )
    assert len(orders) == customers
    # Each refund and each cancellation applied once, the repeated refund included.
    assert set(refunds.values()) == {1}
    assert len(refunds) == 2 * customers
    for r in received:
        if r.resource == "refund":  # every refund after its order
            assert r.seq > orders[r.body["reverseTransactionId"]]
    # 100 points per order, 30 taken back by the refund, the rest by the cancellation.
    assert all(
        emulator.customer(f"cust_{c}") == {"balance": 0, "tags": []} for c in range(customers)
    )
    assert kafka_tools.read_topic(bootstrap, dead_letter_topic(topic)) == []
    assert emulator.stats()["overlap_violations"] == 0
    assert emulator.stats()["duplicates"] >= customers  # the repeated refunds, at least


def test_a_refund_before_its_order_on_another_partition_lands_once_the_order_is_in(
    kafka: LocalKafka, emulator: GameballEmulator, topic: str
) -> None:
    bootstrap, group = kafka.bootstrap_servers, f"{topic}-group"
    refund, order = life(7)[1], life(7)[0]
    config = parse_config(data(kafka, emulator, topic), env={})
    with InProcessBridge(config) as bridge:
        produce(bootstrap, topic, [refund], partition=1)
        # Gameball does not know the order yet: 9005, retried (not dead-lettered).
        assert wait_until(lambda: emulator.stats()["by_status"].get(404, 0) >= 2, 30)
        produce(bootstrap, topic, [order, {"type": "event", "user": "cust_7"}], partition=0)
        assert wait_until(lambda: emulator.accepted_count("refund") == 1, 30)
        assert wait_until(lambda: all_committed(bootstrap, group, topic), 30)
        counters = bridge.stop()
    (placed,) = emulator.received("orders")
    (refunded,) = emulator.received("refund")
    assert refunded.seq > placed.seq
    assert emulator.customer("cust_7") == {"balance": 70, "tags": []}
    assert counters.dead_lettered == 0
    assert kafka_tools.read_topic(bootstrap, dead_letter_topic(topic)) == []


def test_an_erasure_lands_after_its_customers_earlier_operations(
    kafka: LocalKafka, emulator: GameballEmulator, topic: str
) -> None:
    bootstrap, group = kafka.bootstrap_servers, f"{topic}-group"
    emulator.set_latency(150)  # partition 0's records are still being sent when it comes
    earlier = [
        life(1)[0],
        {"type": "tags", "user": "cust_1", "tags": ["vip"]},
        *({"type": "event", "user": "cust_1"} for _ in range(5)),
        {"type": "event", "user": "cust_2"},
    ]
    # By partition: nothing but the fence holds the erasure behind partition 0's records.
    config = parse_config(data(kafka, emulator, topic, ordering="partition"), env={})
    with InProcessBridge(config) as bridge:
        produce(bootstrap, topic, earlier, partition=0)
        assert wait_until(lambda: emulator.accepted_count() >= 1, 30)  # consumed, in flight
        produce(bootstrap, topic, [{"type": "erase", "user": "cust_1"}], partition=1)
        produce(bootstrap, topic, [{"type": "event", "user": "cust_1"}], partition=2)
        assert wait_until(lambda: all_committed(bootstrap, group, topic), 60)
        counters = bridge.stop()
    received = emulator.received()
    (erased,) = [r for r in received if r.resource == "delete_customer"]
    before = [r for r in received if r.customer_id == "cust_1" and r.seq < erased.seq]
    after = [r for r in received if r.customer_id == "cust_1" and r.seq > erased.seq]
    assert len(before) == 7  # the order, the tags, five events: all of them first
    assert len(after) == 1  # the event consumed after the erasure, after it
    assert emulator.customer("cust_1") == {"balance": 0, "tags": []}  # a new customer since
    assert counters.dead_lettered == 0
