"""One decoder per format, from a record's bytes to a plain value (`bridge.decoding.plain`).

The registry formats use confluent-kafka's own deserializers, which read the Confluent
framing (magic byte 0 and a 4-byte schema id, or the schema id in a `__value_schema_id` /
`__key_schema_id` header) and the writer's schema from the registry. Before a deserializer
runs, the record's schema id is looked up in `SchemaRegistry`: an id not fetched yet raises
`SchemaPending` instead of a request on the event loop; the engine fetches it off the loop
and maps the record again.

Subjects play no part in reading: the writer's schema is the one its id names, whatever the
subject (so `subject.name.strategy` returns None, which also keeps the client from asking
the registry for subject associations or data-contract rules on every new topic).
"""

from __future__ import annotations

import functools
import io
from collections.abc import Callable
from typing import Any, Literal, Protocol

import orjson
from confluent_kafka.schema_registry import Schema, dual_schema_id_deserializer
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.schema_registry.common.serde import SchemaId
from confluent_kafka.schema_registry.json_schema import JSONDeserializer
from confluent_kafka.schema_registry.protobuf import ProtobufDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext, SerializationError
from fastavro import schemaless_reader
from google.protobuf import empty_pb2
from google.protobuf.message_factory import GetMessageClass
from jsonschema import ValidationError

from bridge.decoding.plain import avro_value, protobuf_value
from bridge.decoding.registry import SchemaRegistry, UnknownSchema
from bridge.decoding.settings import KeyFormat
from bridge.errors import MappingError, SchemaPending

Field = Literal["value", "key"]
Headers = tuple[tuple[str, bytes | None], ...]


class Decoder(Protocol):
    format: str

    def decode(self, data: bytes, topic: str, headers: Headers) -> Any:
        """The plain value; or MappingError (dead-letter the record), or SchemaPending."""
        ...


def _no_subject(_ctx: SerializationContext | None, _record_name: str | None) -> None:
    return None


_CONF = {"subject.name.strategy": _no_subject}


class JsonDecoder:
    format = "json"

    def __init__(self, field: Field = "value") -> None:
        self._field = field

    def decode(self, data: bytes, topic: str, headers: Headers) -> Any:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            message = f"the {self._field} is not valid JSON: {exc}"
            raise MappingError("invalid_json", message) from None


class TextDecoder:
    """A key as UTF-8 text (undecodable bytes replaced): what keys were before formats."""

    format = "string"

    def decode(self, data: bytes, topic: str, headers: Headers) -> Any:
        return data.decode("utf-8", "replace")


class _RegistryDecoder:
    """The common part: find the schema id, check it is ready, run the deserializer."""

    format: str
    schema_type: str  # SchemaId's name for the format: AVRO, PROTOBUF, JSON

    def __init__(self, registry: SchemaRegistry, field: Field = "value") -> None:
        self._registry = registry
        self._field = field
        self._message_field = MessageField.VALUE if field == "value" else MessageField.KEY
        self._kind = registry.kind_for(f"{self.format} {field}")
        # The ids the registry said are ready for this decoder: the per-record check.
        self._ready: set[int] = set()

    def decode(self, data: bytes, topic: str, headers: Headers) -> Any:
        # A context only where a schema id may be in a header: the framing reads nothing
        # else of it here (no subject, no rules).
        ctx = SerializationContext(topic, self._message_field, list(headers)) if headers else None
        found, payload = self._framing(data, ctx)
        schema_id = int(found.id or 0)  # set: _framing refused a record without one
        if schema_id not in self._ready:
            self._check_ready(schema_id)
        try:
            return self._decode(data, ctx, payload, found)
        except MappingError:
            raise
        except Exception as exc:  # fastavro, protobuf and jsonschema each raise their own
            raise self._failed(schema_id, f"{type(exc).__name__}: {exc}") from None

    def _check_ready(self, schema_id: int) -> None:
        # Ready per decoder, not per id alone: a key and a value may carry the same schema
        # id, and each decoder keeps its own parsed schemas.
        state = self._registry.state(self._kind, schema_id)
        if state is True:
            self._ready.add(schema_id)
            return
        if state is None:
            raise SchemaPending(
                f"{self.format} schema {schema_id}",
                functools.partial(
                    self._registry.prepare,
                    self._kind,
                    schema_id,
                    functools.partial(self._prepare, schema_id),
                ),
            )
        raise self._failed(schema_id, f"schema {schema_id} is unknown: {state}")

    def _framing(
        self, data: bytes, ctx: SerializationContext | None
    ) -> tuple[SchemaId, io.BytesIO]:
        """The schema id (and Protobuf's message indexes) and the payload after the framing,
        read by confluent-kafka's own function (a header, or the value's prefix)."""
        found = SchemaId(self.schema_type)
        try:
            payload = dual_schema_id_deserializer(data, ctx, found)
        except Exception as exc:
            raise MappingError(
                "decode_failed",
                f"the {self._field} has no schema registry framing (a magic byte and a schema "
                f"id); is it {self.format}? ({type(exc).__name__}: {exc})",
            ) from None
        if found.id is None:  # a GUID (magic byte 1): Confluent Cloud's newer ids
            raise MappingError(
                "decode_failed",
                f"the {self._field} names its schema by GUID {found.guid}, which this bridge "
                "does not look up yet; produce with integer schema ids",
            )
        return found, payload

    def _failed(self, schema_id: int, reason: str) -> MappingError:
        return MappingError(
            "decode_failed",
            f"the {self._field} does not decode as {self.format} with schema {schema_id}: {reason}",
            schema_id=schema_id,
        )

    def _prepare(self, schema_id: int) -> None:
        """Fetch and parse schema `schema_id` (off the event loop)."""
        raise NotImplementedError

    def _decode(
        self, data: bytes, ctx: SerializationContext | None, payload: io.BytesIO, found: SchemaId
    ) -> Any:
        raise NotImplementedError


def _unusable(schema_id: int, parse: Callable[[], Any]) -> Any:
    """Run a schema's parse step; its failure is the schema's fault, not an outage."""
    try:
        return parse()
    except Exception as exc:
        raise UnknownSchema(
            f"schema {schema_id} cannot be used: {type(exc).__name__}: {exc}"
        ) from exc


class AvroDecoder(_RegistryDecoder):
    """The writer's schema is parsed by confluent-kafka's AvroDeserializer (named types and
    references resolved through the registry); a record is read by fastavro's
    `schemaless_reader` with it, which is all that deserializer does with no subject, no
    reader schema and no data-contract rules, without its per-call work for those (it
    expands the schema for rule transforms on every call: half of its time, measured)."""

    format = "avro"
    schema_type = "AVRO"

    def __init__(self, registry: SchemaRegistry, field: Field = "value") -> None:
        super().__init__(registry, field)
        self._parser = AvroDeserializer(registry.client, conf=_CONF)
        self._schemas: dict[int, Any] = {}
        # Whether a schema's values need making plain (logical types, bytes): most do not,
        # and the walk is then skipped.
        self._needs_plain: dict[int, bool] = {}

    def _prepare(self, schema_id: int) -> None:
        schema = self._registry.client.get_schema(schema_id)
        parsed = _unusable(schema_id, lambda: self._parser._get_parsed_schema(schema))
        text = schema.schema_str or ""
        # A referenced schema's types are not in this text: then always make values plain.
        self._needs_plain[schema_id] = bool(schema.references) or any(
            marker in text for marker in ('"logicalType"', '"bytes"', '"fixed"')
        )
        self._schemas[schema_id] = parsed

    def _decode(
        self, data: bytes, ctx: SerializationContext | None, payload: io.BytesIO, found: SchemaId
    ) -> Any:
        schema_id = int(found.id or 0)  # set: _framing refused a record without one
        schema = self._schemas[schema_id]
        if schema == "bytes" or (isinstance(schema, dict) and schema.get("type") == "bytes"):
            value: Any = payload.read()  # as the deserializer reads a plain bytes schema
        else:
            value = schemaless_reader(payload, schema, None, False)
        return avro_value(value) if self._needs_plain[schema_id] else value


class ProtobufDecoder(_RegistryDecoder):
    """Protobuf needs a message class to parse into; it is built from the writer's schema in
    the registry (so no generated code is needed), one per schema id and message index.

    The framing (schema id, message indexes) is read by confluent-kafka's own function, and
    the schema parsed by its ProtobufDeserializer's parser; the message itself by protobuf.
    Registries serve a Protobuf schema as .proto text or as a base64 FileDescriptorProto
    (`format=serialized`); Python's protobuf cannot parse .proto text, so a text answer is
    asked for again as a descriptor.
    """

    format = "protobuf"
    schema_type = "PROTOBUF"

    def __init__(self, registry: SchemaRegistry, field: Field = "value") -> None:
        super().__init__(registry, field)
        # Only for its schema parsing (descriptor pools with the well-known types, references
        # resolved through the registry); it never parses a record.
        self._parser = ProtobufDeserializer(empty_pb2.Empty, _CONF, registry.client)
        self._files: dict[int, Any] = {}
        self._classes: dict[tuple[int, tuple[int, ...]], Any] = {}

    def _prepare(self, schema_id: int) -> None:
        client = self._registry.client
        schema = client.get_schema(schema_id)
        try:
            parsed = self._parser._get_parsed_schema(schema)
        except Exception:  # .proto text: ask for the descriptor (Confluent's format=serialized)
            answer = client._rest_client.get(f"schemas/ids/{schema_id}", {"format": "serialized"})
            described = Schema(answer.get("schema"), "PROTOBUF", schema.references)
            parsed = _unusable(schema_id, lambda: self._parser._get_parsed_schema(described))
        fd_proto, pool = parsed
        self._files[schema_id] = (pool, pool.FindFileByName(fd_proto.name))

    def _decode(
        self, data: bytes, ctx: SerializationContext | None, payload: io.BytesIO, found: SchemaId
    ) -> Any:
        schema_id = int(found.id or 0)  # set: _framing refused a record without one
        indexes = tuple(found.message_indexes or [0])
        message_class = self._classes.get((schema_id, indexes))
        if message_class is None:
            pool, file = self._files[schema_id]
            descriptor = self._parser._get_message_desc(pool, file, list(indexes))
            message_class = GetMessageClass(descriptor)
            self._classes[(schema_id, indexes)] = message_class
        return protobuf_value(message_class.FromString(payload.read()))


class JsonSchemaDecoder(_RegistryDecoder):
    """JSON with a registered JSON Schema: parsed, then validated against the writer's schema
    (a record that does not validate is dead-lettered, as a producer's bug)."""

    format = "json_schema"
    schema_type = "JSON"

    def __init__(self, registry: SchemaRegistry, field: Field = "value") -> None:
        super().__init__(registry, field)
        self._deserializer = JSONDeserializer(
            None, schema_registry_client=registry.client, conf=_CONF, json_decode=orjson.loads
        )

    def _prepare(self, schema_id: int) -> None:
        schema = self._registry.client.get_schema(schema_id)
        _unusable(schema_id, lambda: self._deserializer._get_parsed_schema(schema))

    def _decode(
        self, data: bytes, ctx: SerializationContext | None, payload: io.BytesIO, found: SchemaId
    ) -> Any:
        try:
            return self._deserializer(data, ctx)
        except SerializationError as exc:
            invalid = exc.__context__  # the deserializer raises it while handling jsonschema's
            if isinstance(invalid, ValidationError):
                # Where and which rule, never the value: jsonschema's own message quotes it,
                # and dead-letter reasons reach headers and logs (personal data).
                where = "$" + "".join(
                    f"[{p}]" if isinstance(p, int) else f".{p}" for p in invalid.absolute_path
                )
                rule = repr(invalid.validator_value)  # from the schema, not the record
                rule = rule if len(rule) <= 80 else rule[:77] + "..."
                raise SerializationError(
                    f"{where} fails the schema's {invalid.validator} rule ({rule})"
                ) from None
            raise


_REGISTRY_DECODERS: dict[str, type[_RegistryDecoder]] = {
    "avro": AvroDecoder,
    "protobuf": ProtobufDecoder,
    "json_schema": JsonSchemaDecoder,
}


def decoder_for(fmt: KeyFormat, registry: SchemaRegistry | None, field: Field) -> Decoder:
    """The decoder of `fmt`; a registry format needs `registry` (the config checks that one
    is configured, so None here is a caller's bug)."""
    if fmt == "json":
        return JsonDecoder(field)
    if fmt == "string":
        return TextDecoder()
    if registry is None:
        raise ValueError(f"format {fmt!r} needs a schema registry")
    return _REGISTRY_DECODERS[fmt](registry, field)
