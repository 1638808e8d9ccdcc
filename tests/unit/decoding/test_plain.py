"""Decoded Avro and Protobuf values are the plain values a JSON record would have given: text,
numbers, booleans, null, lists and dicts, nothing a path, a transform or orjson would not
take (`bridge.decoding.plain`'s table)."""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import io
import json
import uuid
from typing import Any

import orjson
import pytest
from confluent_kafka.schema_registry import Schema, SchemaReference
from fastavro import parse_schema, schemaless_writer

from bridge.decoding.formats import decoder_for
from bridge.decoding.plain import avro_value, protobuf_value
from bridge.decoding.registry import SchemaRegistry

from .support import (
    avro_bytes,
    decode_ready,
    everything_file,
    framed,
    message_class,
    pool_with,
    protobuf_bytes,
)

UTC = dt.UTC
AT = dt.datetime(2026, 12, 2, 10, 15, 0, 250000, tzinfo=UTC)
UID = uuid.UUID("a7f5c3e2-1b4d-4f6a-9c8e-0d2b3a4c5e6f")


def plain_kinds(value: Any) -> None:
    """Fails unless `value` is made only of JSON's kinds."""
    if isinstance(value, dict):
        for key, inner in value.items():
            assert type(key) is str
            plain_kinds(inner)
    elif isinstance(value, list):
        for inner in value:
            plain_kinds(inner)
    else:
        assert value is None or type(value) in (str, int, float, bool), repr(value)


def avro_roundtrip(schema: dict[str, Any], value: Any) -> Any:
    """`value` written by confluent-kafka's AvroSerializer, read back by the bridge."""
    reg = SchemaRegistry.in_memory()
    data = avro_bytes(reg, json.dumps(schema), value)
    decoded = decode_ready(decoder_for("avro", reg, "value"), data)
    plain_kinds(decoded)
    return decoded


def record(*fields: dict[str, Any], name: str = "R") -> dict[str, Any]:
    return {"type": "record", "name": name, "fields": list(fields)}


def field(name: str, kind: Any) -> dict[str, Any]:
    return {"name": name, "type": kind}


def logical(base: Any, logical_type: str, **extra: Any) -> dict[str, Any]:
    kind = base if isinstance(base, dict) else {"type": base}
    return {**kind, "logicalType": logical_type, **extra}


# --- Avro: logical types --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "written", "plain"),
    [
        (logical("long", "timestamp-millis"), AT, "2026-12-02T10:15:00.250000+00:00"),
        (
            logical("long", "timestamp-micros"),
            AT.replace(microsecond=123456),
            "2026-12-02T10:15:00.123456+00:00",
        ),
        (
            logical("long", "timestamp-millis"),
            AT.replace(microsecond=0),
            "2026-12-02T10:15:00+00:00",
        ),
        # Written in another zone: the same instant, shown in UTC.
        (
            logical("long", "timestamp-millis"),
            dt.datetime(2026, 12, 2, 12, 15, tzinfo=dt.timezone(dt.timedelta(hours=2))),
            "2026-12-02T10:15:00+00:00",
        ),
        # An epoch number is what many producers write: the same reading.
        (
            logical("long", "timestamp-millis"),
            1_796_206_500_250,
            "2026-12-02T10:15:00.250000+00:00",
        ),
        (
            logical("long", "local-timestamp-millis"),
            dt.datetime(2026, 12, 2, 10, 15, 0, 250000),
            "2026-12-02T10:15:00.250000",
        ),
        (
            logical("long", "local-timestamp-micros"),
            dt.datetime(2026, 12, 2, 10, 15, 0, 7),
            "2026-12-02T10:15:00.000007",
        ),
        (logical("int", "date"), dt.date(2026, 12, 2), "2026-12-02"),
        (logical("int", "time-millis"), dt.time(10, 15, 0, 250000), "10:15:00.250000"),
        (logical("int", "time-millis"), dt.time(10, 15), "10:15:00"),
        (logical("long", "time-micros"), dt.time(10, 15, 0, 17), "10:15:00.000017"),
        (logical("string", "uuid"), UID, str(UID)),
        ("bytes", b"\x00\xff\x10", "AP8Q"),
        ({"type": "fixed", "name": "Four", "size": 4}, b"abcd", "YWJjZA=="),
    ],
)
def test_avro_logical_types_and_bytes_become_text(kind: Any, written: Any, plain: str) -> None:
    decoded = avro_roundtrip(record(field("x", kind)), {"x": written})
    assert decoded == {"x": plain}


@pytest.mark.parametrize(
    ("kind", "written", "plain"),
    [
        (logical("bytes", "decimal", precision=10, scale=2), "12.50", 12.5),
        (logical("bytes", "decimal", precision=10, scale=2), "-0.05", -0.05),
        (logical("bytes", "decimal", precision=10, scale=2), "12.00", 12),
        (logical("bytes", "decimal", precision=10, scale=0), "1250", 1250),
        # Past 64 bits still an exact int: the mapper refuses to send it, naming the field
        # (bridge.mapping.request_schema), as it does one from any other source.
        (
            logical("bytes", "decimal", precision=30, scale=0),
            "123456789012345678901234",
            123456789012345678901234,
        ),
        (
            logical(
                {"type": "fixed", "name": "Money", "size": 8}, "decimal", precision=12, scale=3
            ),
            "-1.250",
            -1.25,
        ),
        (
            logical(
                {"type": "fixed", "name": "Whole", "size": 8}, "decimal", precision=12, scale=3
            ),
            "7.000",
            7,
        ),
    ],
)
def test_avro_decimals_become_numbers(kind: Any, written: str, plain: float) -> None:
    decoded = avro_roundtrip(record(field("x", kind)), {"x": decimal.Decimal(written)})
    assert decoded == {"x": plain}
    assert type(decoded["x"]) is type(plain)  # whole: an int; with a fraction: a float


def test_avro_every_logical_type_in_one_record() -> None:
    schema = record(
        field("id", "string"),
        field("amount", logical("bytes", "decimal", precision=10, scale=2)),
        field("at", logical("long", "timestamp-millis")),
        field("uid", logical("string", "uuid")),
        field("day", logical("int", "date")),
        field("count", "long"),
        field("ok", "boolean"),
        field("ratio", "double"),
    )
    value = {
        "id": "o1",
        "amount": decimal.Decimal("12.50"),
        "at": AT,
        "uid": UID,
        "day": dt.date(2026, 12, 2),
        "count": 2**53 + 1,
        "ok": True,
        "ratio": 0.25,
    }
    assert avro_roundtrip(schema, value) == {
        "id": "o1",
        "amount": 12.5,
        "at": "2026-12-02T10:15:00.250000+00:00",
        "uid": str(UID),
        "day": "2026-12-02",
        "count": 2**53 + 1,  # a long stays an exact int
        "ok": True,
        "ratio": 0.25,
    }


# --- Avro: complex types --------------------------------------------------------------------

CARD = record(field("last4", "string"), name="Card")
CASH = record(field("change", logical("bytes", "decimal", precision=6, scale=2)), name="Cash")


def test_avro_unions_are_the_chosen_branchs_value() -> None:
    schema = record(
        field("maybe", ["null", "string"]),
        field("missing", ["null", "string"]),
        field("number", ["string", "long", "double"]),
        field("when", ["null", logical("long", "timestamp-millis")]),
        field("paid_by", [CARD, CASH]),
        field("other", ["Card", "Cash"]),
    )
    value = {
        "maybe": "x",
        "missing": None,
        "number": 42,
        "when": AT,
        "paid_by": {"last4": "4242"},
        "other": {"change": decimal.Decimal("0.50")},
    }
    assert avro_roundtrip(schema, value) == {
        "maybe": "x",
        "missing": None,
        "number": 42,
        "when": "2026-12-02T10:15:00.250000+00:00",
        "paid_by": {"last4": "4242"},  # no record name: the value, as JSON would have it
        "other": {"change": 0.5},
    }


def test_avro_enums_are_their_symbols() -> None:
    status = {"type": "enum", "name": "Status", "symbols": ["NEW", "PAID", "REFUNDED"]}
    schema = record(field("status", status), field("history", {"type": "array", "items": "Status"}))
    decoded = avro_roundtrip(schema, {"status": "PAID", "history": ["NEW", "PAID"]})
    assert decoded == {"status": "PAID", "history": ["NEW", "PAID"]}


def test_avro_arrays_and_maps_of_logical_values() -> None:
    line = record(
        field("sku", "string"),
        field("price", logical("bytes", "decimal", precision=8, scale=2)),
        name="Line",
    )
    schema = record(
        field("lines", {"type": "array", "items": line}),
        field("attrs", {"type": "map", "values": "string"}),
        field("blobs", {"type": "map", "values": "bytes"}),
        field("stamps", {"type": "array", "items": logical("long", "timestamp-millis")}),
        field("grid", {"type": "array", "items": {"type": "array", "items": "int"}}),
        field("empty", {"type": "array", "items": "string"}),
    )
    value = {
        "lines": [
            {"sku": "A", "price": decimal.Decimal("1.99")},
            {"sku": "B", "price": decimal.Decimal("5.00")},
        ],
        "attrs": {"plan": "gold", "": "blank key"},
        "blobs": {"k": b"\x01\x02"},
        "stamps": [AT],
        "grid": [[1, 2], []],
        "empty": [],
    }
    assert avro_roundtrip(schema, value) == {
        "lines": [{"sku": "A", "price": 1.99}, {"sku": "B", "price": 5}],
        "attrs": {"plan": "gold", "": "blank key"},
        "blobs": {"k": "AQI="},
        "stamps": ["2026-12-02T10:15:00.250000+00:00"],
        "grid": [[1, 2], []],
        "empty": [],
    }


def test_an_avro_record_without_logical_types_is_read_as_it_is() -> None:
    inner = record(field("city", "string"), field("zip", ["null", "int"]), name="Address")
    schema = record(
        field("s", "string"),
        field("i", "int"),
        field("l", "long"),
        field("f", "float"),
        field("d", "double"),
        field("b", "boolean"),
        field("n", "null"),
        field("home", inner),
        field("tags", {"type": "array", "items": "string"}),
    )
    value = {
        "s": "ü",
        "i": -1,
        "l": 2**62,
        "f": 1.5,
        "d": -0.1,
        "b": False,
        "n": None,
        "home": {"city": "Cairo", "zip": None},
        "tags": ["a"],
    }
    assert avro_roundtrip(schema, value) == value


def test_avro_logical_types_in_a_referenced_schema_become_plain() -> None:
    reg = SchemaRegistry.in_memory()
    stamp = record(
        field("at", logical("long", "timestamp-millis")),
        field("raw", "bytes"),
        name="Stamp",
    )
    stamp["namespace"] = "com.shop"
    reg.client.register_schema("stamp", Schema(json.dumps(stamp), "AVRO"))
    order = record(field("id", "string"), field("stamp", "com.shop.Stamp"), name="Order")
    order["namespace"] = "com.shop"
    references = [SchemaReference("com.shop.Stamp", "stamp", 1)]
    schema_id = reg.client.register_schema("t-value", Schema(json.dumps(order), "AVRO", references))
    named: dict[str, Any] = {}
    parse_schema(stamp, named_schemas=named)
    buffer = io.BytesIO()
    schemaless_writer(
        buffer,
        parse_schema(order, named_schemas=named),
        {"id": "o1", "stamp": {"at": AT, "raw": b"\x01"}},
    )
    decoded = decode_ready(decoder_for("avro", reg, "value"), framed(schema_id, buffer.getvalue()))
    assert decoded == {
        "id": "o1",
        "stamp": {"at": "2026-12-02T10:15:00.250000+00:00", "raw": "AQ=="},
    }


def test_avro_value_by_itself() -> None:
    # Values fastavro may hand over that a registry round trip does not show.
    assert avro_value(("shop.Card", {"last4": "1"})) == ["shop.Card", {"last4": "1"}]
    assert avro_value(bytearray(b"\xff")) == "/w=="
    assert avro_value({"a": [decimal.Decimal("2"), decimal.Decimal("2.5")]}) == {"a": [2, 2.5]}
    assert avro_value(dt.date(2026, 1, 31)) == "2026-01-31"
    assert avro_value(UID) == str(UID)
    assert avro_value(None) is None
    marker = object()
    assert avro_value(marker) is marker  # unknown objects are left alone


# --- Protobuf -------------------------------------------------------------------------------

_POOL = pool_with(everything_file())
Everything = message_class(_POOL, "plain.Everything")


def plain(message: Any) -> dict[str, Any]:
    out = protobuf_value(message)
    plain_kinds(out)
    orjson.dumps(out)
    return out


def test_protobuf_64_bit_integers_stay_ints() -> None:
    # Not the JSON mapping's text ("4611686018427387904"): a number, as the .proto says.
    out = plain(Everything(big=2**62, ubig=2**64 - 1, neg=-(2**63), small=-7))
    assert out["big"] == 2**62
    assert out["ubig"] == 2**64 - 1
    assert out["neg"] == -(2**63)
    assert out["small"] == -7
    assert all(type(out[k]) is int for k in ("big", "ubig", "neg", "small"))


def test_protobuf_enums_are_names_and_unknown_numbers_stay_numbers() -> None:
    out = plain(Everything(status=2, history=[1, 0, 99]))
    assert out["status"] == "CLOSED"
    assert out["history"] == ["ACTIVE", "STATUS_UNKNOWN", 99]
    assert plain(Everything(status=41))["status"] == 41  # proto3 keeps numbers it does not know


def test_protobuf_bytes_are_base64() -> None:
    out = plain(Everything(blob=b"\x00\xff", blobs=[b"a", b""]))
    assert out["blob"] == "AP8="
    assert base64.b64decode(out["blob"]) == b"\x00\xff"
    assert out["blobs"] == ["YQ==", ""]


def test_protobuf_repeated_fields_are_lists() -> None:
    message = Everything(tags=["a", "b"])
    message.addresses.add(city="Cairo", zip=11511)
    message.addresses.add(city="Giza")
    out = plain(message)
    assert out["tags"] == ["a", "b"]
    assert out["addresses"] == [{"city": "Cairo", "zip": 11511}, {"city": "Giza", "zip": 0}]


def test_protobuf_maps_are_dicts_with_text_keys() -> None:
    message = Everything()
    message.counts["x"] = 2**40
    message.counts["y"] = -1
    message.by_number[7] = "seven"
    message.places["home"].city = "Alex"
    message.stamps["s"].FromJsonString("2026-12-02T10:15:00Z")
    out = plain(message)
    assert out["counts"] == {"x": 2**40, "y": -1}
    assert all(type(v) is int for v in out["counts"].values())
    assert out["by_number"] == {"7": "seven"}
    assert out["places"] == {"home": {"city": "Alex", "zip": 0}}
    assert out["stamps"] == {"s": "2026-12-02T10:15:00Z"}


def test_protobuf_nested_messages_and_unset_ones() -> None:
    assert "home" not in plain(Everything())  # a message field has presence: unset, left out
    message = Everything()
    message.home.city = "Giza"
    assert plain(message)["home"] == {"city": "Giza", "zip": 0}
    present = Everything()
    present.home.SetInParent()  # set, though every field of it is its default
    assert plain(present)["home"] == {"city": "", "zip": 0}


def test_protobuf_proto3_scalar_defaults_are_included() -> None:
    out = plain(Everything())
    assert out == {
        "big": 0,
        "ubig": 0,
        "neg": 0,
        "small": 0,
        "ratio": 0.0,
        "flag": False,
        "name": "",
        "blob": "",
        "status": "STATUS_UNKNOWN",
        "tags": [],
        "addresses": [],
        "counts": {},
        "history": [],
        "places": {},
        "by_number": {},
        "blobs": [],
        "stamps": {},
    }


def test_protobuf_optional_fields_are_left_out_only_when_unset() -> None:
    assert "nickname" not in plain(Everything())
    assert plain(Everything(nickname=""))["nickname"] == ""  # set to the default: present
    assert plain(Everything(nickname="jo"))["nickname"] == "jo"


def test_protobuf_oneof_members_have_presence() -> None:
    out = plain(Everything())
    assert "code" not in out
    assert "number" not in out
    assert plain(Everything(number=0))["number"] == 0
    chosen = plain(Everything(code="X"))
    assert chosen["code"] == "X"
    assert "number" not in chosen


def test_protobuf_timestamp_and_duration_are_their_json_text() -> None:
    message = Everything()
    message.at.FromJsonString("2026-12-02T10:15:00.250Z")
    message.took.FromJsonString("1.5s")
    out = plain(message)
    assert out["at"] == "2026-12-02T10:15:00.250Z"
    assert out["took"] == "1.500s"
    assert dt.datetime.fromisoformat(out["at"]) == AT
    epoch = Everything()
    epoch.at.SetInParent()  # set: the epoch itself, not left out
    assert plain(epoch)["at"] == "1970-01-01T00:00:00Z"


def test_protobuf_wrappers_are_their_values() -> None:
    message = Everything()
    message.points.value = 2**53 + 1
    message.note.value = "hi"
    message.raw.value = b"ab"
    message.enabled.value = False
    message.ratio_value.value = 0.25
    out = plain(message)
    assert out["points"] == 2**53 + 1
    assert type(out["points"]) is int  # not the JSON mapping's "9007199254740993"
    assert out["note"] == "hi"
    assert out["raw"] == "YWI="
    assert out["enabled"] is False  # set to false: present (a wrapper has presence)
    assert out["ratio_value"] == 0.25
    unset = plain(Everything())
    assert not {"points", "note", "raw", "enabled", "ratio_value"} & unset.keys()


def test_protobuf_struct_value_list_field_mask_and_empty_are_json() -> None:
    message = Everything()
    message.extra.update({"plan": "gold", "n": 2, "tags": ["a", 1], "none": None, "o": {"k": True}})
    message.any_value.string_value = "v"
    message.list_value.extend([1, "a", None])
    message.mask.paths.extend(["a.b", "c"])
    message.nothing.SetInParent()
    out = plain(message)
    assert out["extra"] == {
        "plan": "gold",
        "n": 2.0,
        "tags": ["a", 1.0],
        "none": None,
        "o": {"k": True},
    }
    assert out["any_value"] == "v"
    assert out["list_value"] == [1.0, "a", None]
    assert out["mask"] == "a.b,c"
    assert out["nothing"] == {}
    assert "nothing" not in plain(Everything())


def test_protobuf_values_through_the_registry_are_the_same() -> None:
    message = Everything(big=2**62, status=1, blob=b"\x01", tags=["t"], nickname="n", code="c")
    message.counts["k"] = 5
    message.home.city = "Giza"
    message.at.FromJsonString("2026-12-02T10:15:00Z")
    message.points.value = 9
    message.extra.update({"a": "b"})
    message.nothing.SetInParent()
    reg = SchemaRegistry.in_memory()
    data = protobuf_bytes(reg, message)
    decoded = decode_ready(decoder_for("protobuf", reg, "value"), data)
    assert decoded == plain(message)
    assert decoded["big"] == 2**62
    assert decoded["status"] == "ACTIVE"
    assert decoded["at"] == "2026-12-02T10:15:00Z"
    assert decoded["nothing"] == {}
    assert "took" not in decoded
