"""Avro, Protobuf and JSON Schema topics end to end: a real broker, a real Schema Registry
(Apicurio, Confluent-compatible API), the emulator over a socket. The producers are
confluent-kafka's serializers, registering their schemas as any producer would."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.schema_registry.json_schema import JSONSerializer
from confluent_kafka.schema_registry.protobuf import ProtobufSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from google.protobuf import descriptor_pb2, descriptor_pool, timestamp_pb2
from google.protobuf.message_factory import GetMessageClass

from bridge.check import check_registry
from bridge.cli import main
from bridge.config import parse_config
from bridge.kafka.admin import ensure_topics
from bridge.mapping.sample_encoding import PRODUCER_CONF, avro_from_plain
from bridge.sandbox import kafka_tools
from bridge.sandbox.emulator import GameballEmulator
from bridge.sandbox.local_kafka import LocalKafka
from bridge.sandbox.local_registry import LocalRegistry

from .conftest import (
    InProcessBridge,
    all_committed,
    config_data,
    dead_letter_topic,
    wait_until,
)

pytestmark = pytest.mark.kafka

AVRO_ORDERS = Path(__file__).resolve().parents[2] / "config" / "mappings" / "avro-orders"
V1 = {
    "type": "record",
    "name": "Signup",
    "fields": [{"name": "user", "type": "string"}, {"name": "seq", "type": "long"}],
}
V2 = {
    **V1,
    "fields": [*V1["fields"], {"name": "plan", "type": ["null", "string"], "default": None}],
}


def registry_config(registry: LocalRegistry, **extra: Any) -> dict[str, Any]:
    return {"url": registry.url, "timeout": 2, "retry_initial": 0.2, "retry_max": 1, **extra}


def signup_mapping(topic: str) -> dict[str, Any]:
    return {
        "name": "signups",
        "topics": [topic],
        "format": "avro",
        "event": {
            "customer_id": "user",
            "name": {"const": "signup"},
            "metadata": {"seq": "seq", "plan": {"path": "plan", "default": "none"}},
        },
    }


def avro_values(
    registry: LocalRegistry, topic: str, schema: dict[str, Any], docs: list[Any]
) -> list[bytes]:
    with SchemaRegistryClient({"url": registry.url, "timeout": 30}) as client:
        serializer = AvroSerializer(client, json.dumps(schema), conf=PRODUCER_CONF)
        ctx = SerializationContext(topic, MessageField.VALUE)
        return [serializer(avro_from_plain(schema, d, {}), ctx) for d in docs]


def seqs(emu: GameballEmulator) -> list[int]:
    return sorted(m["seq"] for r in emu.received("events") for m in r.body["events"].values())


def test_the_shipped_avro_mapping_with_an_avro_key_delivers_its_golden_operations(
    kafka: LocalKafka,
    registry: LocalRegistry,
    emulator: GameballEmulator,
    topic: str,
    request: pytest.FixtureRequest,
) -> None:
    bootstrap = kafka.bootstrap_servers
    client = SchemaRegistryClient({"url": registry.url, "timeout": 30})
    request.addfinalizer(client.close)
    value_schema = (AVRO_ORDERS / "schemas" / "avro-orders-value.avsc").read_text()
    key_schema = (AVRO_ORDERS / "schemas" / "avro-orders-key.avsc").read_text()
    values = AvroSerializer(client, value_schema, conf=PRODUCER_CONF)
    keys = AvroSerializer(client, key_schema, conf=PRODUCER_CONF)
    samples = [
        orjson.loads(line)
        for line in (AVRO_ORDERS / "samples" / "avro-orders.jsonl").read_text().splitlines()
    ]
    encodable = [s for s in samples if "base64" not in s["value"]]
    vctx = SerializationContext(topic, MessageField.VALUE)
    kctx = SerializationContext(topic, MessageField.KEY)
    kafka_tools.produce(
        bootstrap,
        topic,
        [
            values(avro_from_plain(json.loads(value_schema), s["value"], {}), vctx)
            for s in encodable
        ],
        keys=[keys(s["key"], kctx) for s in encodable],
    )
    mapping = yaml.safe_load((AVRO_ORDERS / "mapping.yaml").read_text())["mappings"][0]
    mapping["topics"] = [topic]
    data = config_data(kafka, emulator, topic, schema_registry=registry_config(registry))
    data["mappings"] = [mapping]
    with InProcessBridge(parse_config(data, env={})) as bridge:
        assert wait_until(lambda: all_committed(bootstrap, f"{topic}-group", topic), 60)
        counters = bridge.stop()

    golden = [
        orjson.loads(line)
        for line in (AVRO_ORDERS / "expected" / "avro-orders.jsonl").read_text().splitlines()
    ]
    expected = sorted(
        (op["resource"], orjson.dumps(op["body"], option=orjson.OPT_SORT_KEYS))
        for result in golden
        for op in result.get("operations", [])
    )
    got = sorted(
        (resource, orjson.dumps(request.body, option=orjson.OPT_SORT_KEYS))
        for resource in ("orders", "customers")
        for request in emulator.received(resource)
    )
    assert got == expected
    assert counters.skipped == 1  # the PENDING order
    assert counters.dead_lettered == 0


def _purchase_class() -> Any:
    fdp = descriptor_pb2.FileDescriptorProto(
        name="purchase.proto",
        package="shop",
        syntax="proto3",
        dependency=["google/protobuf/timestamp.proto"],
    )
    message = fdp.message_type.add(name="Purchase")
    message.field.add(name="customer_id", number=1, type=9, label=1)
    message.field.add(name="amount_cents", number=2, type=3, label=1)  # int64
    message.field.add(name="at", number=3, type=11, label=1, type_name=".google.protobuf.Timestamp")
    message.field.add(name="seq", number=4, type=3, label=1)
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(timestamp_pb2.DESCRIPTOR.serialized_pb)
    pool.Add(fdp)
    return GetMessageClass(pool.FindMessageTypeByName("shop.Purchase"))


def test_protobuf_and_json_schema_topics_deliver_their_events_and_customers(
    kafka: LocalKafka,
    registry: LocalRegistry,
    emulator: GameballEmulator,
    topic: str,
    request: pytest.FixtureRequest,
) -> None:
    bootstrap = kafka.bootstrap_servers
    client = SchemaRegistryClient({"url": registry.url, "timeout": 30})
    request.addfinalizer(client.close)
    purchases, profiles = f"{topic}-pb", f"{topic}-js"
    ensure_topics(
        {"bootstrap.servers": bootstrap, "log_level": kafka_tools.QUIET},
        {purchases: 2, profiles: 2},
    )
    purchase = _purchase_class()
    pb = ProtobufSerializer(purchase, client, {"use.deprecated.format": False, **PRODUCER_CONF})
    pctx = SerializationContext(purchases, MessageField.VALUE)
    pb_values = []
    for i in range(30):
        msg = purchase(customer_id=f"c{i % 5}", amount_cents=10_000_000_000 + i, seq=i)
        msg.at.FromJsonString("2026-12-02T10:00:00Z")
        pb_values.append(pb(msg, pctx))
    kafka_tools.produce(bootstrap, purchases, pb_values)
    profile_schema = json.dumps(
        {
            "type": "object",
            "properties": {"id": {"type": "string"}, "email": {"type": "string"}},
            "required": ["id"],
        }
    )
    js = JSONSerializer(profile_schema, client, conf=PRODUCER_CONF)
    jctx = SerializationContext(profiles, MessageField.VALUE)
    kafka_tools.produce(
        bootstrap,
        profiles,
        [js({"id": f"p{i}", "email": f"p{i}@example.com"}, jctx) for i in range(10)],
    )
    data = config_data(kafka, emulator, topic, schema_registry=registry_config(registry))
    data["mappings"] = [
        {
            "name": "purchases",
            "topics": [purchases],
            "format": "protobuf",
            "event": {
                "customer_id": "customer_id",
                "name": {"const": "purchase"},
                "metadata": {"seq": "seq", "cents": "amount_cents", "at": "at"},
            },
        },
        {
            "name": "profiles",
            "topics": [profiles],
            "format": "json_schema",
            "rules": [{"outputs": [{"customer": {"customer_id": "id", "email": "email"}}]}],
        },
    ]
    data["kafka"]["topics"] = [purchases, profiles]
    with InProcessBridge(parse_config(data, env={})) as bridge:
        group = f"{topic}-group"
        assert wait_until(
            lambda: (
                all_committed(bootstrap, group, purchases)
                and all_committed(bootstrap, group, profiles)
            ),
            60,
        )
        counters = bridge.stop()

    events = [m for r in emulator.received("events") for m in r.body["events"].values()]
    assert sorted(e["seq"] for e in events) == list(range(30))
    first = next(e for e in events if e["seq"] == 3)
    assert first == {
        "seq": 3,
        "cents": 10_000_000_003,
        "at": "2026-12-02T10:00:00Z",
    }  # int64 stays a number
    customers = sorted(
        (r.body["customerId"], r.body["email"]) for r in emulator.received("customers")
    )
    assert customers == sorted((f"p{i}", f"p{i}@example.com") for i in range(10))
    assert counters.dead_lettered == 0


def test_a_registry_outage_holds_records_and_everything_is_delivered_after_it(
    kafka: LocalKafka, registry: LocalRegistry, emulator: GameballEmulator, topic: str
) -> None:
    bootstrap = kafka.bootstrap_servers
    values = avro_values(registry, topic, V1, [{"user": f"u{i % 7}", "seq": i} for i in range(60)])
    kafka_tools.produce(bootstrap, topic, values)
    data = config_data(kafka, emulator, topic, schema_registry=registry_config(registry))
    data["mappings"] = [signup_mapping(topic)]
    registry.suspend()  # before the bridge has seen a schema: it must ask, and cannot
    try:
        with InProcessBridge(parse_config(data, env={})) as bridge:
            assert not wait_until(lambda: emulator.received("events"), 8)
            assert not all_committed(bootstrap, f"{topic}-group", topic)
            registry.resume()
            assert wait_until(lambda: all_committed(bootstrap, f"{topic}-group", topic), 60)
            counters = bridge.stop()
    finally:
        registry.resume()
    assert seqs(emulator) == list(range(60))
    assert counters.dead_lettered == 0
    assert kafka_tools.read_topic(bootstrap, dead_letter_topic(topic)) == []


def test_a_registry_outage_pauses_only_the_partition_that_needs_a_new_schema(
    kafka: LocalKafka, registry: LocalRegistry, emulator: GameballEmulator, topic: str
) -> None:
    # Partition 0 receives 600 records of a schema the bridge has not fetched (more than the
    # default max_in_flight, 500) while the registry is out; partitions 1 and 2, whose schema
    # the bridge already has, receive a live stream meanwhile. Every one of theirs must be
    # delivered during the outage; partition 0's wait, uncommitted, and arrive after it.
    bootstrap = kafka.bootstrap_servers
    warm = avro_values(registry, topic, V1, [{"user": f"w{p}", "seq": p} for p in range(3)])
    new_schema = avro_values(
        registry, topic, V2, [{"user": f"a{i % 50}", "seq": 1000 + i} for i in range(600)]
    )
    live = avro_values(
        registry, topic, V1, [{"user": f"b{i % 40}", "seq": 5000 + i} for i in range(240)]
    )
    data = config_data(kafka, emulator, topic, schema_registry=registry_config(registry))
    data["mappings"] = [signup_mapping(topic)]
    try:
        with InProcessBridge(parse_config(data, env={})) as bridge:
            for partition, value in enumerate(warm):
                kafka_tools.produce(bootstrap, topic, [value], partition=partition)
            assert wait_until(lambda: len(seqs(emulator)) == 3, 60)
            registry.suspend()
            kafka_tools.produce(bootstrap, topic, new_schema, partition=0)
            # 30 records/s over partitions 1 and 2 for 8 s.
            started = time.monotonic()
            for n in range(0, len(live), 6):
                kafka_tools.produce(bootstrap, topic, live[n : n + 3], partition=1)
                kafka_tools.produce(bootstrap, topic, live[n + 3 : n + 6], partition=2)
                time.sleep(max(0.0, started + (n + 6) / 30 - time.monotonic()))
            live_seqs = set(range(5000, 5240))
            assert wait_until(lambda: live_seqs <= set(seqs(emulator)), 20), (
                f"{len(live_seqs - set(seqs(emulator)))} live records not delivered"
            )
            assert not any(1000 <= s < 1600 for s in seqs(emulator))  # held, in order
            registry.resume()
            assert wait_until(lambda: all_committed(bootstrap, f"{topic}-group", topic), 60)
            counters = bridge.stop()
    finally:
        registry.resume()
    assert seqs(emulator) == sorted([0, 1, 2, *range(1000, 1600), *live_seqs])
    assert counters.dead_lettered == 0


def test_undecodable_records_are_dead_lettered_with_their_reason_and_schema_id(
    kafka: LocalKafka, registry: LocalRegistry, emulator: GameballEmulator, topic: str
) -> None:
    bootstrap = kafka.bootstrap_servers
    [good] = avro_values(registry, topic, V1, [{"user": "u1", "seq": 1}])
    schema_id = int.from_bytes(good[1:5], "big")
    bad = [
        orjson.dumps({"user": "u2", "seq": 2}),  # JSON, no framing
        b"\x00" + (987_654).to_bytes(4, "big") + good[5:],  # a schema id the registry lacks
        good[:5] + b"\xff\xff\xff",  # bytes that do not decode with their schema
    ]
    kafka_tools.produce(bootstrap, topic, [*bad, good], partition=0)
    data = config_data(kafka, emulator, topic, schema_registry=registry_config(registry))
    data["mappings"] = [signup_mapping(topic)]
    with InProcessBridge(parse_config(data, env={})) as bridge:
        assert wait_until(lambda: all_committed(bootstrap, f"{topic}-group", topic), 60)
        bridge.stop()
    assert seqs(emulator) == [1]
    letters = sorted(
        kafka_tools.read_topic(bootstrap, dead_letter_topic(topic)), key=lambda r: r.offset
    )
    assert [r.value for r in letters] == bad  # the original bytes, kept
    kinds = [r.headers["bridge.error.kind"] for r in letters]
    assert kinds == [b"decode_failed"] * 3
    assert b"framing" in letters[0].headers["bridge.error.message"]
    assert "bridge.error.schema_id" not in letters[0].headers
    assert letters[1].headers["bridge.error.schema_id"] == b"987654"
    assert b"unknown" in letters[1].headers["bridge.error.message"]
    assert letters[2].headers["bridge.error.schema_id"] == str(schema_id).encode()


def test_a_compatible_schema_change_mid_stream_keeps_flowing(
    kafka: LocalKafka, registry: LocalRegistry, emulator: GameballEmulator, topic: str
) -> None:
    bootstrap = kafka.bootstrap_servers
    kafka_tools.produce(
        bootstrap,
        topic,
        avro_values(registry, topic, V1, [{"user": "u", "seq": i} for i in range(20)]),
    )
    data = config_data(kafka, emulator, topic, schema_registry=registry_config(registry))
    data["mappings"] = [signup_mapping(topic)]
    with InProcessBridge(parse_config(data, env={})) as bridge:
        assert wait_until(lambda: len(seqs(emulator)) == 20, 60)
        # The producer moves to v2 (a new optional field) while the bridge runs.
        v2 = avro_values(
            registry, topic, V2, [{"user": "u", "seq": 20 + i, "plan": "gold"} for i in range(20)]
        )
        assert v2[0][1:5] != avro_values(registry, topic, V1, [{"user": "u", "seq": 0}])[0][1:5]
        kafka_tools.produce(bootstrap, topic, v2)
        assert wait_until(
            lambda: all_committed(bootstrap, f"{topic}-group", topic) and len(seqs(emulator)) == 40,
            60,
        )
        counters = bridge.stop()
    assert seqs(emulator) == list(range(40))
    plans = {
        m["seq"]: m["plan"] for r in emulator.received("events") for m in r.body["events"].values()
    }
    assert plans[5] == "none"  # v1: no plan field, the mapping's default
    assert plans[25] == "gold"
    assert counters.dead_lettered == 0


def test_bridge_check_names_each_decoded_subjects_latest_schema(
    kafka: LocalKafka, registry: LocalRegistry, emulator: GameballEmulator, topic: str
) -> None:
    avro_values(registry, topic, V1, [{"user": "u", "seq": 0}])
    [second] = avro_values(registry, topic, V2, [{"user": "u", "seq": 1, "plan": None}])
    data = config_data(kafka, emulator, topic, schema_registry=registry_config(registry))
    data["mappings"] = [signup_mapping(topic)]
    [step] = check_registry(parse_config(data, env={}))
    latest = int.from_bytes(second[1:5], "big")
    assert (
        step.line() == f"schema registry: {topic}-value: ok (version 2, schema id {latest}, AVRO)"
    )


def test_mapping_test_decodes_records_copied_from_a_topic_with_the_real_registry(
    registry: LocalRegistry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    topic = "copied-signups"
    values = avro_values(registry, topic, V1, [{"user": "u7", "seq": 7}])
    samples = tmp_path / f"{topic}.jsonl"
    lines = [{"value": {"base64": base64.b64encode(v).decode()}} for v in values]
    lines.append({"value": {"user": "u8", "seq": 8}})  # not encoded: refused, not registered
    samples.write_text("".join(orjson.dumps(line).decode() + "\n" for line in lines[:1]))
    mappings = tmp_path / "mapping.yaml"
    mappings.write_text(yaml.safe_dump({"mappings": [signup_mapping(topic)]}))
    args = ["mapping", "test", "-c", str(mappings), "--topic", topic, "--registry", registry.url]
    assert main([*args, str(samples)]) == 0
    [result] = [orjson.loads(line) for line in capsys.readouterr().out.splitlines()]
    [operation] = result["operations"]
    assert operation["body"]["events"] == {"signup": {"seq": 7, "plan": "none"}}

    samples.write_text(orjson.dumps(lines[1]).decode() + "\n")
    assert main([*args, str(samples)]) == 2
    assert "give each value (and key) encoded" in capsys.readouterr().err
