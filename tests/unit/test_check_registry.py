"""`bridge check`'s schema registry steps: each decoded topic's latest schema, a missing
subject as a warning, an unreachable registry as one failure."""

from __future__ import annotations

import socket
from typing import Any

from confluent_kafka.schema_registry import Schema

from bridge.check import check_registry, decoded_subjects
from bridge.config import BridgeConfig, parse_config
from bridge.decoding.registry import SchemaRegistry

ORDER = '{"type": "record", "name": "Order", "fields": [{"name": "id", "type": "string"}]}'


def config(url: str = "http://127.0.0.1:1", **mapping: Any) -> BridgeConfig:
    return parse_config(
        {
            "kafka": {"bootstrap_servers": "127.0.0.1:1"},
            "gameball": {"base_url": "http://gameball.test", "api_key": "k"},
            "dead_letter": {"topic": "dlq"},
            "schema_registry": {"url": url, "timeout": 2},
            "mappings": [
                {
                    "name": "orders",
                    "topics": ["orders", "^shop-.*"],
                    "format": "avro",
                    "event": {"customer_id": "id", "name": {"const": "order"}},
                    **mapping,
                },
                {"name": "app", "topics": ["app"], "event": {"customer_id": "u", "name": "t"}},
            ],
        },
        env={},
    )


def test_subjects_of_decoded_topics_by_name() -> None:
    assert decoded_subjects(config()) == [("orders", "orders-value")]
    assert decoded_subjects(config(key_format="avro")) == [
        ("orders", "orders-value"),
        ("orders", "orders-key"),
    ]


def test_the_latest_schema_of_each_subject() -> None:
    registry = SchemaRegistry.in_memory()
    registry.client.register_schema("orders-value", Schema(ORDER, "AVRO"))
    evolved = ORDER.replace("}]}", '}, {"name": "n", "type": "long", "default": 0}]}')
    second = registry.client.register_schema("orders-value", Schema(evolved, "AVRO"))
    [step] = check_registry(config(), registry)
    assert step.ok
    assert step.line() == f"schema registry: orders-value: ok (version 2, schema id {second}, AVRO)"


def test_a_missing_subject_is_a_warning() -> None:
    [step] = check_registry(config(), SchemaRegistry.in_memory())
    assert step.ok
    assert "WARNING" in step.detail
    assert "orders-value" in step.line()


def test_an_unreachable_registry_is_one_failure() -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    steps = check_registry(config(url, key_format="avro"))
    assert len(steps) == 1
    assert not steps[0].ok
    assert steps[0].name == "schema registry"
    assert url in steps[0].detail
    assert "cannot be reached" in steps[0].detail


def test_no_registry_no_step() -> None:
    plain = config().model_copy(update={"schema_registry": None})
    assert check_registry(plain) == []
