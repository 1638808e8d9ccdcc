"""Sample records for `bridge mapping test`, written as JSON, encoded the way a producer
would encode them (Avro or JSON Schema, Confluent framing) against an in-memory registry, so
that golden tests of an Avro topic run the very decoding path the bridge runs.

A sample's values are the plain values the bridge decodes to (`bridge.decoding.plain`):
an Avro timestamp may be written as ISO 8601 text or as the epoch number, a decimal as a
number or text, a date as "2026-12-02", bytes as base64 text.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
import uuid
from pathlib import Path
from typing import Any

from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.schema_registry.json_schema import JSONSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from bridge.decoding.registry import SchemaRegistry

# The schema files a mapping's folder may hold, by format: schemas/<topic>-value.<suffix>.
SUFFIXES = {"avro": ".avsc", "json_schema": ".json"}
# Subjects as producers name them by default, {topic}-value and {topic}-key. Said outright:
# the client's own default first asks the registry for subject "associations" (a Confluent
# Cloud API), a request per topic that other registries answer 404, or slowly.
PRODUCER_CONF = {"subject.name.strategy.type": "TOPIC"}


class SampleEncoder:
    """Encodes one field (value or key) of a topic's samples with one schema file."""

    def __init__(self, registry: SchemaRegistry, fmt: str, schema_file: Path, field: str) -> None:
        text = schema_file.read_text(encoding="utf-8")
        self._field = MessageField.VALUE if field == "value" else MessageField.KEY
        self._avro: Any = json.loads(text) if fmt == "avro" else None
        if fmt == "avro":
            self._serializer: Any = AvroSerializer(registry.client, text, conf=PRODUCER_CONF)
        elif fmt == "json_schema":
            self._serializer = JSONSerializer(text, registry.client, conf=PRODUCER_CONF)
        else:
            raise ValueError(
                f"samples cannot be encoded as {fmt} here (only avro and json_schema); "
                'give them as encoded bytes: {"value": {"base64": "..."}}'
            )

    def encode(self, value: Any, topic: str) -> bytes:
        if self._avro is not None:
            value = avro_from_plain(self._avro, value, {})
        data = self._serializer(value, SerializationContext(topic, self._field))
        assert isinstance(data, bytes)
        return data


def schema_file(folder: Path, topic: str, fmt: str, field: str) -> Path | None:
    """schemas/<topic>-<field><suffix> beside a mapping file, when there is one."""
    suffix = SUFFIXES.get(fmt)
    if suffix is None:
        return None
    path = folder / "schemas" / f"{topic}-{field}{suffix}"
    return path if path.is_file() else None


def avro_from_plain(schema: Any, value: Any, names: dict[str, Any]) -> Any:
    """`value` (plain JSON) as fastavro writes `schema`: logical types as their objects."""
    if isinstance(schema, str):
        return avro_from_plain(names[schema], value, names) if schema in names else value
    if isinstance(schema, list):  # a union: null, or the first branch that takes the value
        if value is None:
            return None
        for branch in schema:
            if branch == "null":
                continue
            try:
                return avro_from_plain(branch, value, names)
            except (TypeError, ValueError, KeyError, decimal.InvalidOperation):
                continue
        return value
    kind, logical = schema.get("type"), schema.get("logicalType")
    if "name" in schema and kind in ("record", "enum", "fixed"):
        names[schema["name"]] = schema
    if kind == "record":
        if not isinstance(value, dict):
            raise TypeError("not a record")
        fields = {f["name"]: f["type"] for f in schema["fields"]}
        return {
            k: avro_from_plain(fields[k], v, names) if k in fields else v for k, v in value.items()
        }
    if kind == "array":
        return [avro_from_plain(schema["items"], v, names) for v in value]
    if kind == "map":
        return {k: avro_from_plain(schema["values"], v, names) for k, v in value.items()}
    if logical == "decimal":
        return decimal.Decimal(str(value)).quantize(
            decimal.Decimal(1).scaleb(-schema.get("scale", 0))
        )
    if logical in ("timestamp-millis", "timestamp-micros") and isinstance(value, str):
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if logical in ("local-timestamp-millis", "local-timestamp-micros") and isinstance(value, str):
        return dt.datetime.fromisoformat(value)
    if logical == "date" and isinstance(value, str):
        return dt.date.fromisoformat(value)
    if logical in ("time-millis", "time-micros") and isinstance(value, str):
        return dt.time.fromisoformat(value)
    if logical == "uuid" and isinstance(value, str):
        return str(uuid.UUID(value))
    if kind in ("bytes", "fixed") and isinstance(value, str):
        return base64.b64decode(value)
    if isinstance(kind, dict | list):
        return avro_from_plain(kind, value, names)
    if kind in names:
        return avro_from_plain(names[kind], value, names)
    return value
