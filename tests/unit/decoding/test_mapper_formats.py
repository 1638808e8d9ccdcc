"""The mapper with the mapping's `format` and `key_format`: registry-encoded values and keys
are decoded before the rules run, `{kafka: key.<path>}` reads into the decoded key, a record
whose schema is not prepared yet raises SchemaPending out of `map` (not a MappingError), and
JSON mappings behave as before."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest

from bridge.decoding.registry import SchemaRegistry
from bridge.errors import MappingError, SchemaPending
from bridge.mapping.mapper import Mapper
from bridge.mapping.settings import MappingConfig
from bridge.record import Operation, Resource, SourceRecord

from .support import (
    avro_bytes,
    json_schema_bytes,
    message_class,
    pool_with,
    protobuf_bytes,
    purchase_file,
)

VALUE_SCHEMA = json.dumps(
    {
        "type": "record",
        "name": "Signup",
        "fields": [
            {"name": "event", "type": "string"},
            {"name": "plan", "type": ["null", "string"], "default": None},
            {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        ],
    }
)
KEY_SCHEMA = json.dumps(
    {
        "type": "record",
        "name": "CustomerKey",
        "fields": [
            {"name": "customer_id", "type": "string"},
            {"name": "region", "type": "string"},
        ],
    }
)
VALUE = {"event": "signup", "plan": "gold", "at": 1_796_206_500_000}
KEY = {"customer_id": "c-42", "region": "eg"}

EVENT: dict[str, Any] = {
    "customer_id": {"kafka": "key.customer_id"},
    "name": "event",
    "metadata": {"plan": "plan", "at": "at", "region": {"kafka": "key.region"}},
}


def mapping(**fields: Any) -> MappingConfig:
    return MappingConfig.model_validate({"name": "m", "topics": ["t"], **fields})


def mapper(*mappings: MappingConfig, registry: SchemaRegistry | None = None) -> Mapper:
    return Mapper(list(mappings), max_record_bytes=10_000, registry=registry)


def record(
    value: bytes | None, key: bytes | None = None, topic: str = "t", headers: Any = ()
) -> SourceRecord:
    return SourceRecord(topic, 0, 7, value, key=key, headers=headers, timestamp_ms=1)


def map_ready(m: Mapper, rec: SourceRecord) -> tuple[list[Operation], int]:
    """Map as the engine does: prepare while pending. Returns the operations and how many
    times the record was pending."""
    for pending_count in range(4):
        try:
            return m.map(rec), pending_count
        except SchemaPending as pending:
            pending.prepare()
    raise AssertionError("still pending")


def map_error(m: Mapper, rec: SourceRecord) -> MappingError:
    for _ in range(4):
        try:
            m.map(rec)
        except SchemaPending as pending:
            pending.prepare()
            continue
        except MappingError as exc:
            return exc
        raise AssertionError("the record mapped")
    raise AssertionError("still pending")


@pytest.fixture
def registry() -> SchemaRegistry:
    return SchemaRegistry.in_memory()


def avro_pair(registry: SchemaRegistry, value: Any = VALUE, key: Any = KEY) -> SourceRecord:
    return record(
        avro_bytes(registry, VALUE_SCHEMA, value),
        avro_bytes(registry, KEY_SCHEMA, key, field="key"),
    )


# --- Avro values and keys -------------------------------------------------------------------


def test_an_avro_key_path_reads_into_the_decoded_key(registry: SchemaRegistry) -> None:
    m = mapper(mapping(format="avro", key_format="avro", event=EVENT), registry=registry)
    operations, pending = map_ready(m, avro_pair(registry))
    assert pending == 2  # the value's schema, then the key's
    [operation] = operations
    assert operation.resource is Resource.EVENTS
    assert operation.customer_id == "c-42"
    assert operation.body["customerId"] == "c-42"
    assert operation.body["events"] == {
        "signup": {"plan": "gold", "at": "2026-12-02T10:15:00+00:00", "region": "eg"}
    }
    orjson.dumps(operation.body)
    # Both ready now: the next record maps at once.
    again = avro_pair(registry, {**VALUE, "plan": None}, {"customer_id": "c-7", "region": "x"})
    [second] = m.map(again)
    assert second.customer_id == "c-7"
    assert second.body["events"] == {"signup": {"at": "2026-12-02T10:15:00+00:00", "region": "x"}}


def test_the_whole_decoded_key(registry: SchemaRegistry) -> None:
    event = {
        "customer_id": {"kafka": "key.customer_id"},
        "name": {"const": "x"},
        "metadata": {"key": {"kafka": "key"}},
    }
    m = mapper(mapping(format="avro", key_format="avro", event=event), registry=registry)
    [operation], _ = map_ready(m, avro_pair(registry))
    assert operation.body["events"]["x"]["key"] == KEY


def test_a_condition_on_a_key_path(registry: SchemaRegistry) -> None:
    rules = [
        {
            "match": {"when": {"kafka": "key.region", "equals": "eg"}},
            "outputs": [{"event": EVENT}],
        }
    ]
    m = mapper(mapping(format="avro", key_format="avro", rules=rules), registry=registry)
    assert len(map_ready(m, avro_pair(registry))[0]) == 1
    elsewhere = avro_pair(registry, key={"customer_id": "c-1", "region": "us"})
    assert m.map(elsewhere) == []  # no rule matched: skipped on purpose


def test_a_key_path_the_key_has_not_is_missing(registry: SchemaRegistry) -> None:
    event = {"customer_id": {"kafka": "key.nope"}, "name": "event"}
    m = mapper(mapping(format="avro", key_format="avro", event=event), registry=registry)
    failed = map_error(m, avro_pair(registry))
    assert failed.kind == "missing_field"
    assert "kafka key.nope" in failed.message


def test_a_record_without_a_key_has_no_key_paths(registry: SchemaRegistry) -> None:
    m = mapper(mapping(format="avro", key_format="avro", event=EVENT), registry=registry)
    rec = record(avro_bytes(registry, VALUE_SCHEMA, VALUE), key=None)
    failed = map_error(m, rec)  # the key decoder is not asked: no key to decode
    assert failed.kind == "missing_field"
    assert "customer_id" in failed.message


def test_a_key_that_is_not_avro_is_decode_failed(registry: SchemaRegistry) -> None:
    m = mapper(mapping(format="avro", key_format="avro", event=EVENT), registry=registry)
    rec = record(avro_bytes(registry, VALUE_SCHEMA, VALUE), key=b"c-42")
    failed = map_error(m, rec)
    assert failed.kind == "decode_failed"
    assert failed.message.startswith("the key has no schema registry framing")


def test_an_avro_value_that_is_not_a_record_is_wrong_type(registry: SchemaRegistry) -> None:
    m = mapper(mapping(format="avro", event=EVENT), registry=registry)
    failed = map_error(m, record(avro_bytes(registry, '"string"', "just text")))
    assert failed.kind == "wrong_type"
    assert failed.message == "the value is avro but not an object"
    array = avro_bytes(registry, '{"type": "array", "items": "int"}', [1, 2], topic="t")
    assert map_error(m, record(array)).kind == "wrong_type"


def test_an_undecodable_avro_value_is_decode_failed_before_the_rules(
    registry: SchemaRegistry,
) -> None:
    m = mapper(
        mapping(format="avro", event={"customer_id": "plan", "name": "event"}), registry=registry
    )
    good = avro_bytes(registry, VALUE_SCHEMA, VALUE)
    [operation], _ = map_ready(m, record(good))
    assert operation.customer_id == "gold"
    failed = map_error(m, record(good[:6]))
    assert failed.kind == "decode_failed"
    assert failed.schema_id == 1
    not_framed = map_error(m, record(orjson.dumps(VALUE)))
    assert not_framed.kind == "decode_failed"
    assert "is it avro?" in not_framed.message


def test_schema_pending_propagates_from_map_not_as_a_mapping_error(
    registry: SchemaRegistry,
) -> None:
    m = mapper(mapping(format="avro", key_format="avro", event=EVENT), registry=registry)
    rec = avro_pair(registry)
    with pytest.raises(SchemaPending) as pending:
        m.map(rec)
    assert not isinstance(pending.value, MappingError)
    assert pending.value.what == "avro schema 1"
    with pytest.raises(SchemaPending):  # nothing changed: still pending
        m.map(rec)
    pending.value.prepare()
    with pytest.raises(SchemaPending) as key_pending:  # the value decodes; now the key asks
        m.map(rec)
    assert key_pending.value.what == "avro schema 2"
    key_pending.value.prepare()
    assert len(m.map(rec)) == 1


def test_the_size_and_tombstone_checks_come_before_decoding(registry: SchemaRegistry) -> None:
    m = Mapper([mapping(format="avro", event=EVENT)], max_record_bytes=10, registry=registry)
    data = avro_bytes(registry, VALUE_SCHEMA, VALUE)
    with pytest.raises(MappingError) as large:
        m.map(record(data))  # not pending: refused before any decoding
    assert large.value.kind == "too_large"
    with pytest.raises(MappingError) as tombstone:
        m.map(record(None))
    assert tombstone.value.kind == "no_value"


def test_mappings_of_one_format_share_prepared_schemas(registry: SchemaRegistry) -> None:
    m = mapper(
        mapping(
            format="avro",
            event={"customer_id": {"kafka": "key"}, "name": "event"},
            name="a",
            topics=["a"],
        ),
        mapping(format="avro", event={**EVENT, "customer_id": "event"}, name="b", topics=["b"]),
        registry=registry,
    )
    data = avro_bytes(registry, VALUE_SCHEMA, VALUE)
    _, pending = map_ready(m, record(data, key=b"k", topic="b"))
    assert pending == 1
    # Topic a's mapping reads the same id: no second pending (its key is text: no key decoder).
    with pytest.raises(MappingError) as failed:
        m.map(record(data, topic="a", key=None))
    assert failed.value.kind == "missing_field"  # its customer_id is in a key it has not
    [operation] = m.map(record(data, topic="a", key=b"text-key"))
    assert operation.customer_id == "text-key"


def test_a_registry_format_without_a_registry_is_a_callers_bug() -> None:
    with pytest.raises(ValueError, match="needs a schema registry"):
        mapper(mapping(format="avro", event=EVENT))


# --- other formats --------------------------------------------------------------------------


def test_a_json_schema_value_with_a_json_key(registry: SchemaRegistry) -> None:
    schema = json.dumps({"type": "object", "properties": {"event": {"type": "string"}}})
    m = mapper(mapping(format="json_schema", key_format="json", event=EVENT), registry=registry)
    value = json_schema_bytes(registry, schema, {"event": "signup", "plan": "p", "at": 1})
    rec = record(value, key=b'{"customer_id": "c-j", "region": "eg"}')
    [operation], pending = map_ready(m, rec)
    assert pending == 1  # a JSON key needs no registry
    assert operation.customer_id == "c-j"
    assert operation.body["events"]["signup"] == {"plan": "p", "at": 1, "region": "eg"}
    bad_key = record(value, key=b"{nope")
    failed = map_error(m, bad_key)
    assert failed.kind == "invalid_json"
    assert failed.message.startswith("the key is not valid JSON")


def test_a_protobuf_value_keeps_its_int64s(registry: SchemaRegistry) -> None:
    purchase = message_class(pool_with(purchase_file(package="mapper_pb")), "mapper_pb.Purchase")
    message = purchase(customer_id="c-p", amount_cents=2**40)
    message.at.FromJsonString("2026-12-02T10:15:00Z")
    event = {
        "customer_id": "customer_id",
        "name": {"const": "purchase"},
        "metadata": {"amount": "amount_cents", "at": "at"},
    }
    m = mapper(mapping(format="protobuf", event=event), registry=registry)
    [operation], _ = map_ready(m, record(protobuf_bytes(registry, message)))
    assert operation.customer_id == "c-p"
    assert operation.body["events"]["purchase"] == {
        "amount": 2**40,
        "at": "2026-12-02T10:15:00Z",
    }


# --- JSON mappings, as before ---------------------------------------------------------------


def test_a_json_mapping_is_unchanged() -> None:
    m = mapper(mapping(event={"customer_id": "user.id", "name": "type"}))
    [operation] = m.map(record(orjson.dumps({"user": {"id": "u1"}, "type": "login"})))
    assert operation.customer_id == "u1"
    assert operation.body["events"] == {"login": {}}


def test_invalid_json_is_invalid_json() -> None:
    m = mapper(mapping(event={"customer_id": "user.id", "name": "type"}))
    with pytest.raises(MappingError) as failed:
        m.map(record(b'{"user": '))
    assert failed.value.kind == "invalid_json"
    assert failed.value.message.startswith("the value is not valid JSON")


def test_json_that_is_not_an_object_is_wrong_type() -> None:
    m = mapper(mapping(event={"customer_id": "user.id", "name": "type"}))
    with pytest.raises(MappingError) as failed:
        m.map(record(b"[1, 2]"))
    assert failed.value.kind == "wrong_type"
    assert failed.value.message == "the value is JSON but not an object"


def test_a_text_key_by_default() -> None:
    event = {
        "customer_id": {"kafka": "key"},
        "name": "type",
        "metadata": {"deep": {"kafka": "key.id"}},
    }
    m = mapper(mapping(event=event))
    [operation] = m.map(record(orjson.dumps({"type": "t"}), key=b'{"id": "k"}'))
    assert operation.customer_id == '{"id": "k"}'  # text: not parsed
    assert operation.body["events"] == {"t": {}}  # a path into text finds nothing
