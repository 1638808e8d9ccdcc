"""What the decoding tests share: encoding records as a producer would (confluent-kafka's own
serializers against the in-memory registry), decoding them as the engine does (a first
`SchemaPending`, its `prepare`, the decode again), and Protobuf message classes built from
descriptors at run time (there is no protoc here)."""

from __future__ import annotations

import struct
from typing import Any, Literal

from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.schema_registry.json_schema import JSONSerializer
from confluent_kafka.schema_registry.protobuf import ProtobufSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from google.protobuf import (
    descriptor_pb2,
    descriptor_pool,
    duration_pb2,
    empty_pb2,
    field_mask_pb2,
    struct_pb2,
    timestamp_pb2,
    wrappers_pb2,
)
from google.protobuf.message_factory import GetMessageClass

from bridge.decoding.formats import Decoder
from bridge.decoding.registry import SchemaRegistry
from bridge.errors import MappingError, SchemaPending

Field = Literal["value", "key"]
F = descriptor_pb2.FieldDescriptorProto


def context(topic: str = "t", field: Field = "value", headers: list[Any] | None = None) -> Any:
    message_field = MessageField.VALUE if field == "value" else MessageField.KEY
    return SerializationContext(topic, message_field, headers)


def avro_bytes(
    registry: SchemaRegistry, schema: str, value: Any, topic: str = "t", field: Field = "value"
) -> bytes:
    """`value` as an Avro producer writes it (schema registered under the topic's subject)."""
    serializer = AvroSerializer(registry.client, schema)
    data: bytes | None = serializer(value, context(topic, field))
    assert data is not None
    return data


def json_schema_bytes(
    registry: SchemaRegistry, schema: str, value: Any, topic: str = "t", field: Field = "value"
) -> bytes:
    data: bytes | None = JSONSerializer(schema, registry.client)(value, context(topic, field))
    assert data is not None
    return data


def protobuf_bytes(
    registry: SchemaRegistry, message: Any, topic: str = "t", field: Field = "value"
) -> bytes:
    serializer = ProtobufSerializer(
        type(message), registry.client, {"use.deprecated.format": False}
    )
    data: bytes | None = serializer(message, context(topic, field))
    assert data is not None
    return data


def framed(schema_id: int, payload: bytes, *, protobuf: bool = False) -> bytes:
    """The Confluent framing by hand: magic byte 0, the id, (Protobuf: index [0]), payload."""
    return b"\x00" + struct.pack(">I", schema_id) + (b"\x00" if protobuf else b"") + payload


def decode_ready(
    decoder: Decoder, data: bytes, topic: str = "t", headers: tuple[Any, ...] = ()
) -> Any:
    """Decode as the engine does: the first attempt must be pending; prepare; decode again."""
    try:
        decoder.decode(data, topic, headers)
    except SchemaPending as pending:
        pending.prepare()
    else:
        raise AssertionError("the first decode of a new schema id was not pending")
    return decoder.decode(data, topic, headers)


def decode_error(
    decoder: Decoder, data: bytes, topic: str = "t", headers: tuple[Any, ...] = ()
) -> MappingError:
    """The MappingError of decoding `data`, preparing its schema first if it asks."""
    for _ in range(2):
        try:
            decoder.decode(data, topic, headers)
        except SchemaPending as pending:
            pending.prepare()
            continue
        except MappingError as exc:
            return exc
        raise AssertionError("the record decoded")
    raise AssertionError("still pending after prepare")


# --- Protobuf -------------------------------------------------------------------------------

WELL_KNOWN = (
    timestamp_pb2,
    duration_pb2,
    wrappers_pb2,
    struct_pb2,
    empty_pb2,
    field_mask_pb2,
)


def pool_with(*files: descriptor_pb2.FileDescriptorProto) -> descriptor_pool.DescriptorPool:
    """A fresh pool with the well-known types and `files` (each test its own: no clashes)."""
    pool = descriptor_pool.DescriptorPool()
    for module in WELL_KNOWN:
        pool.AddSerializedFile(module.DESCRIPTOR.serialized_pb)
    for file in files:
        pool.Add(file)
    return pool


def message_class(pool: descriptor_pool.DescriptorPool, full_name: str) -> Any:
    return GetMessageClass(pool.FindMessageTypeByName(full_name))


def add_field(
    message: descriptor_pb2.DescriptorProto,
    name: str,
    number: int,
    kind: int,
    *,
    repeated: bool = False,
    type_name: str | None = None,
    **extra: Any,
) -> descriptor_pb2.FieldDescriptorProto:
    label = F.LABEL_REPEATED if repeated else F.LABEL_OPTIONAL
    field = message.field.add(name=name, number=number, type=kind, label=label, **extra)
    if type_name is not None:
        field.type_name = type_name
    return field


def add_map(
    message: descriptor_pb2.DescriptorProto,
    package: str,
    name: str,
    number: int,
    key: int,
    value: int,
    value_type_name: str | None = None,
) -> None:
    """A `map<key, value> name = number;` field: a repeated nested map-entry message."""
    entry_name = "".join(part.capitalize() for part in name.split("_")) + "Entry"
    entry = message.nested_type.add(name=entry_name)
    entry.options.map_entry = True
    add_field(entry, "key", 1, key)
    add_field(entry, "value", 2, value, type_name=value_type_name)
    add_field(
        message,
        name,
        number,
        F.TYPE_MESSAGE,
        repeated=True,
        type_name=f".{package}.{message.name}.{entry_name}",
    )


def everything_file() -> descriptor_pb2.FileDescriptorProto:
    """`plain.proto`: one field of each kind the plain-value table names.

    syntax = "proto3"; package plain;
    enum Status { STATUS_UNKNOWN = 0; ACTIVE = 1; CLOSED = 2; }
    message Address { string city = 1; int32 zip = 2; }
    message Everything { int64 big = 1; ... }   (see the field list below)
    """
    file = descriptor_pb2.FileDescriptorProto(
        name="plain.proto",
        package="plain",
        syntax="proto3",
        dependency=[module.DESCRIPTOR.name for module in WELL_KNOWN],
    )
    status = file.enum_type.add(name="Status")
    for number, name in enumerate(("STATUS_UNKNOWN", "ACTIVE", "CLOSED")):
        status.value.add(name=name, number=number)
    address = file.message_type.add(name="Address")
    add_field(address, "city", 1, F.TYPE_STRING)
    add_field(address, "zip", 2, F.TYPE_INT32)

    m = file.message_type.add(name="Everything")
    m.oneof_decl.add(name="choice")  # a real oneof first, then proto3 optional's synthetic one
    m.oneof_decl.add(name="_nickname")
    add_field(m, "big", 1, F.TYPE_INT64)
    add_field(m, "ubig", 2, F.TYPE_UINT64)
    add_field(m, "neg", 3, F.TYPE_SINT64)
    add_field(m, "small", 4, F.TYPE_INT32)
    add_field(m, "ratio", 5, F.TYPE_DOUBLE)
    add_field(m, "flag", 6, F.TYPE_BOOL)
    add_field(m, "name", 7, F.TYPE_STRING)
    add_field(m, "blob", 8, F.TYPE_BYTES)
    add_field(m, "status", 9, F.TYPE_ENUM, type_name=".plain.Status")
    add_field(m, "tags", 10, F.TYPE_STRING, repeated=True)
    add_field(m, "addresses", 11, F.TYPE_MESSAGE, repeated=True, type_name=".plain.Address")
    add_map(m, "plain", "counts", 12, F.TYPE_STRING, F.TYPE_INT64)
    add_field(m, "home", 13, F.TYPE_MESSAGE, type_name=".plain.Address")
    add_field(m, "nickname", 14, F.TYPE_STRING, proto3_optional=True, oneof_index=1)
    wkt = {
        "at": "Timestamp",
        "took": "Duration",
        "points": "Int64Value",
        "note": "StringValue",
        "raw": "BytesValue",
        "extra": "Struct",
        "nothing": "Empty",
        "enabled": "BoolValue",
        "any_value": "Value",
        "list_value": "ListValue",
        "mask": "FieldMask",
        "ratio_value": "DoubleValue",
    }
    for number, (name, type_name) in enumerate(wkt.items(), start=15):
        add_field(m, name, number, F.TYPE_MESSAGE, type_name=f".google.protobuf.{type_name}")
    add_field(m, "history", 30, F.TYPE_ENUM, repeated=True, type_name=".plain.Status")
    add_map(m, "plain", "places", 31, F.TYPE_STRING, F.TYPE_MESSAGE, ".plain.Address")
    add_map(m, "plain", "by_number", 32, F.TYPE_INT64, F.TYPE_STRING)
    add_field(m, "code", 33, F.TYPE_STRING, oneof_index=0)
    add_field(m, "number", 34, F.TYPE_INT32, oneof_index=0)
    add_field(m, "blobs", 35, F.TYPE_BYTES, repeated=True)
    add_map(m, "plain", "stamps", 36, F.TYPE_STRING, F.TYPE_MESSAGE, ".google.protobuf.Timestamp")
    return file


def purchase_file(
    *, package: str = "shop", with_note: bool = False
) -> descriptor_pb2.FileDescriptorProto:
    """`<package>.proto`: message Purchase { string customer_id = 1; int64 amount_cents = 2;
    [string note = 3;] google.protobuf.Timestamp at = 4; } and message Refund { string
    customer_id = 1; int64 amount_cents = 2; } (a second message: index [1])."""
    file = descriptor_pb2.FileDescriptorProto(
        name=f"{package}.proto",
        package=package,
        syntax="proto3",
        dependency=["google/protobuf/timestamp.proto"],
    )
    purchase = file.message_type.add(name="Purchase")
    add_field(purchase, "customer_id", 1, F.TYPE_STRING)
    add_field(purchase, "amount_cents", 2, F.TYPE_INT64)
    if with_note:
        add_field(purchase, "note", 3, F.TYPE_STRING)
    add_field(purchase, "at", 4, F.TYPE_MESSAGE, type_name=".google.protobuf.Timestamp")
    refund = file.message_type.add(name="Refund")
    add_field(refund, "customer_id", 1, F.TYPE_STRING)
    add_field(refund, "amount_cents", 2, F.TYPE_INT64)
    return file
