"""Decoded Avro and Protobuf values as the plain values a JSON record would have given, so
that paths, expressions, transforms and plugins work on them unchanged.

    Avro                          plain value
    timestamp-millis/-micros      "2026-12-02T10:15:00.250000+00:00" (ISO 8601, UTC)
    local-timestamp-*             "2026-12-02T10:15:00" (no offset, as written)
    date, time-*                  "2026-12-02", "10:15:00"
    decimal                       a number (an int when whole, else a float)
    uuid                          "a7f5..." (text)
    bytes, fixed                  base64 text
    enum, union                   the symbol text; the chosen branch's value

    Protobuf                      plain value
    message                       a dict by the .proto's field names; unset fields with
                                  presence (messages, `optional`, oneof members) are left out,
                                  others are their default (0, "", false)
    int64 family                  an int (not the JSON mapping's text)
    enum                          the value's name (its number when the name is unknown)
    bytes                         base64 text
    repeated, map                 a list, a dict (keys as text)
    well-known types              Timestamp "2026-12-02T10:15:00.250Z", Duration "1.500s",
                                  wrappers their value, Struct/Value/ListValue as JSON,
                                  FieldMask "a.b,c", Empty {}
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import functools
import uuid
from collections.abc import Callable
from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

# Values that are plain already: by exact type, the one test most values need.
_PLAIN_TYPES = frozenset({str, int, float, bool, type(None)})


def avro_value(value: Any) -> Any:
    """`value` (what fastavro read) with its logical-type objects made plain."""
    kind = type(value)
    if kind in _PLAIN_TYPES:
        return value
    if kind is dict:
        return {k: v if type(v) in _PLAIN_TYPES else avro_value(v) for k, v in value.items()}
    if kind is list:
        return [v if type(v) in _PLAIN_TYPES else avro_value(v) for v in value]
    return _avro_object(value)


def _avro_object(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: avro_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):  # a tuple: a union branch read with its record name
        return [avro_value(v) for v in value]
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    return value


# Well-known types whose JSON form is the value a mapping wants.
_AS_JSON = frozenset(
    {
        "google.protobuf.Timestamp",
        "google.protobuf.Duration",
        "google.protobuf.Struct",
        "google.protobuf.Value",
        "google.protobuf.ListValue",
        "google.protobuf.FieldMask",
        "google.protobuf.Empty",
    }
)
_WRAPPERS = frozenset(
    f"google.protobuf.{name}Value"
    for name in ("Double", "Float", "Int64", "UInt64", "Int32", "UInt32", "Bool", "String", "Bytes")
)


def protobuf_value(message: Message) -> dict[str, Any]:
    """A message as a dict of plain values (see the module's table)."""
    out: dict[str, Any] = {}
    for name, presence, convert in _plan(message.DESCRIPTOR):
        if presence and not message.HasField(name):
            continue
        value = getattr(message, name)
        out[name] = value if convert is None else convert(value)
    return out


_Convert = Callable[[Any], Any] | None
# Per message type: each field's name, whether it has presence, and how its value becomes
# plain (None: as it is, the common case of a scalar). Built once per descriptor: by the
# descriptor itself, not its name, since two versions of a schema share message names.
# (It keeps the descriptors alive: as many as the schemas seen, which the decoders keep too.)
_PLANS: dict[Any, list[tuple[str, bool, _Convert]]] = {}


def _plan(descriptor: Any) -> list[tuple[str, bool, _Convert]]:
    plan = _PLANS.get(descriptor)
    if plan is None:
        plan = []
        for field in descriptor.fields:
            scalar = not field.is_repeated and field.type not in _CONVERTED_TYPES
            convert = None if scalar else functools.partial(_field, field)
            plan.append((field.name, field.has_presence, convert))
        _PLANS[descriptor] = plan
    return plan


_CONVERTED_TYPES = frozenset(
    {
        FieldDescriptor.TYPE_MESSAGE,
        FieldDescriptor.TYPE_GROUP,
        FieldDescriptor.TYPE_ENUM,
        FieldDescriptor.TYPE_BYTES,
    }
)


def _field(field: Any, value: Any) -> Any:
    if field.is_repeated:
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            value_field = field.message_type.fields_by_name["value"]
            return {str(k): _single(value_field, v) for k, v in value.items()}
        return [_single(field, v) for v in value]
    return _single(field, value)


def _single(field: Any, value: Any) -> Any:
    # `field` is a FieldDescriptor (upb's or the pure-Python one: the stubs tell them apart).
    kind = field.type
    if kind == FieldDescriptor.TYPE_MESSAGE or kind == FieldDescriptor.TYPE_GROUP:
        name = field.message_type.full_name
        if name in _WRAPPERS:
            inner = value.value
            return base64.b64encode(inner).decode("ascii") if isinstance(inner, bytes) else inner
        if name in _AS_JSON:
            return json_format.MessageToDict(value)
        return protobuf_value(value)
    if kind == FieldDescriptor.TYPE_ENUM:
        known = field.enum_type.values_by_number.get(value)
        return known.name if known is not None else value
    if kind == FieldDescriptor.TYPE_BYTES:
        return base64.b64encode(value).decode("ascii")
    return value
