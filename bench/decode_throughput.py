"""Records/s of decoding plus mapping: Avro, Protobuf and JSON Schema values against JSON.

The same order events (a customer id, an event name, three properties, an amount and a
timestamp) are encoded once per format with confluent-kafka's own serializers into the
in-memory Schema Registry (``mock://``), then mapped by the same path-only event mapping with
the mapping's `format` set to each format in turn. Each format's Gameball bodies are checked
to equal JSON's before anything is timed, so every format does the same work.

    json          orjson text, the baseline
    avro          an Avro record of plain types: no logical types, so the decoder skips
                  the walk that makes values plain (AvroDecoder._needs_plain)
    avro-logical  the same record with timestamp-millis and decimal(12,2): the walk runs,
                  turning datetimes into ISO text and Decimals into numbers
    protobuf      a proto3 message (int64 milliseconds, a nested message defined first, so
                  the record's message index is [1]), built from a descriptor, no protoc
    json_schema   JSON validated against its JSON Schema

Each figure is the median of --runs runs of --records records; the formats run in turn
within a run. A format's cost is its time per record over JSON's. The decoder is also timed
alone (a second decoder of the format, over the same registry client), which splits each
figure into decoding and the rest (mapping, and the cache misses the decoder leaves it). The
aim: Avro decoding plus a path-only mapping at no worse than 2x JSON's cost; the figure says
whether it is met. A last line prices Avro's logical types.

    .venv/bin/python bench/decode_throughput.py [--records 20000] [--runs 5]
"""

from __future__ import annotations

import argparse
import datetime as dt
import decimal
import io
import statistics
import time
from collections.abc import Callable
from typing import Any

import fastavro
import orjson
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.schema_registry.json_schema import JSONSerializer
from confluent_kafka.schema_registry.protobuf import ProtobufSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.message_factory import GetMessageClass

from bridge.decoding.formats import Decoder, decoder_for
from bridge.decoding.plain import avro_value
from bridge.decoding.registry import SchemaRegistry
from bridge.errors import SchemaPending
from bridge.mapping.mapper import Mapper
from bridge.mapping.settings import MappingConfig
from bridge.record import SourceRecord

AIM = 2.0  # Avro's cost, at most this many times JSON's

EVENT = {
    "customer_id": "customer_id",
    "name": {"path": "event", "map": {"order_placed": "place_order"}},
    "metadata": {
        "product_id": "properties.product_id",
        "plan": "properties.plan",
        "rating": "properties.rating",
        "amount": "amount",
        "at": "timestamp",
    },
}

_EVENTS = ("order_placed", "write_review", "app_opened")
_START_MS = 1_780_000_000_000  # 2026-05-28


def event(i: int) -> dict[str, Any]:
    """Record `i` as plain values: what JSON carries and every decoder must give back."""
    return {
        "customer_id": f"cust_{i % 500}",
        "event": _EVENTS[i % 3],
        "properties": {"product_id": f"P-{i}", "plan": "pro", "rating": i % 5 + 1},
        "amount": (i % 10_000) / 4,  # exact in binary: the same double in every format
        "timestamp": _START_MS + i * 1_000,
    }


# --- Avro ---------------------------------------------------------------------------------

_PROPERTIES = {
    "type": "record",
    "name": "Properties",
    "fields": [
        {"name": "product_id", "type": "string"},
        {"name": "plan", "type": "string"},
        {"name": "rating", "type": "int"},
    ],
}


def _avro_schema(amount: Any, timestamp: Any) -> str:
    return orjson.dumps(
        {
            "type": "record",
            "name": "OrderEvent",
            "namespace": "shop",
            "fields": [
                {"name": "customer_id", "type": "string"},
                {"name": "event", "type": "string"},
                {"name": "properties", "type": _PROPERTIES},
                {"name": "amount", "type": amount},
                {"name": "timestamp", "type": timestamp},
            ],
        }
    ).decode()


AVRO_PLAIN = _avro_schema("double", "long")
AVRO_LOGICAL = _avro_schema(
    {"type": "bytes", "logicalType": "decimal", "precision": 12, "scale": 2},
    {"type": "long", "logicalType": "timestamp-millis"},
)


def _logical(record: dict[str, Any]) -> dict[str, Any]:
    """`record` with the values avro-logical's serializer takes: a Decimal, a datetime."""
    moment = dt.datetime.fromtimestamp(record["timestamp"] / 1000, dt.UTC)
    return {
        **record,
        "amount": decimal.Decimal(str(record["amount"])),
        "timestamp": moment,
    }


def _as_logical_json(record: dict[str, Any]) -> dict[str, Any]:
    """What avro-logical's records decode to (the plain values `bridge.decoding.plain`
    makes): the check's JSON records for it."""
    return {**record, "timestamp": _logical(record)["timestamp"].isoformat()}


# --- Protobuf -----------------------------------------------------------------------------

_STRING, _INT32, _INT64, _DOUBLE, _MESSAGE = 9, 5, 3, 1, 11  # FieldDescriptorProto.Type


def protobuf_class() -> Any:
    """The OrderEvent message class, from a FileDescriptorProto (what protoc would make)."""
    file = descriptor_pb2.FileDescriptorProto(name="shop.proto", package="shop", syntax="proto3")
    props = file.message_type.add(name="Properties")
    props.field.add(name="product_id", number=1, type=_STRING, label=1)
    props.field.add(name="plan", number=2, type=_STRING, label=1)
    props.field.add(name="rating", number=3, type=_INT32, label=1)
    message = file.message_type.add(name="OrderEvent")
    message.field.add(name="customer_id", number=1, type=_STRING, label=1)
    message.field.add(name="event", number=2, type=_STRING, label=1)
    message.field.add(
        name="properties", number=3, type=_MESSAGE, label=1, type_name=".shop.Properties"
    )
    message.field.add(name="amount", number=4, type=_DOUBLE, label=1)
    message.field.add(name="timestamp", number=5, type=_INT64, label=1)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return GetMessageClass(pool.FindMessageTypeByName("shop.OrderEvent"))


# --- JSON Schema --------------------------------------------------------------------------

JSON_SCHEMA = orjson.dumps(
    {
        "type": "object",
        "properties": {
            "customer_id": {"type": "string"},
            "event": {"type": "string"},
            "properties": {
                "type": "object",
                "properties": {
                    "product_id": {"type": "string"},
                    "plan": {"type": "string"},
                    "rating": {"type": "integer"},
                },
                "required": ["product_id", "plan", "rating"],
            },
            "amount": {"type": "number"},
            "timestamp": {"type": "integer"},
        },
        "required": ["customer_id", "event", "properties", "amount", "timestamp"],
    }
).decode()


# --- The run ------------------------------------------------------------------------------


def encoder(fmt: str, registry: SchemaRegistry, topic: str) -> Callable[[dict[str, Any]], bytes]:
    """Record (plain values) -> the bytes a producer of `fmt` would write to `topic`."""
    ctx = SerializationContext(topic, MessageField.VALUE)
    if fmt == "json":
        return orjson.dumps
    if fmt == "avro":
        avro = AvroSerializer(registry.client, AVRO_PLAIN)
        return lambda record: avro(record, ctx)
    if fmt == "avro-logical":
        logical = AvroSerializer(registry.client, AVRO_LOGICAL)
        return lambda record: logical(_logical(record), ctx)
    if fmt == "protobuf":
        cls = protobuf_class()
        proto = ProtobufSerializer(cls, registry.client, {"use.deprecated.format": False})
        return lambda record: proto(cls(**record), ctx)
    if fmt == "json_schema":
        js = JSONSerializer(JSON_SCHEMA, registry.client)
        return lambda record: js(record, ctx)
    raise ValueError(fmt)


FORMATS = ("json", "avro", "avro-logical", "protobuf", "json_schema")


def mapper_for(fmt: str, registry: SchemaRegistry, topic: str) -> Mapper:
    mapping = {
        "name": fmt,
        "topics": [topic],
        "format": "avro" if fmt == "avro-logical" else fmt,
        "key_format": "string",
        "event": EVENT,
    }
    return Mapper(
        [MappingConfig.model_validate(mapping)], max_record_bytes=1_000_000, registry=registry
    )


def warm(target: Callable[[], Any]) -> Any:
    """Call `target` once, fetching its record's schema first as the engine would (off the
    event loop): the first call of a schema raises SchemaPending."""
    try:
        return target()
    except SchemaPending as pending:
        pending.prepare()
        return target()


def rate(function: Callable[[Any], Any], inputs: list[Any]) -> float:
    started = time.perf_counter()
    for item in inputs:
        function(item)
    return len(inputs) / (time.perf_counter() - started)


def walk_cost(schema: str, records: list[dict[str, Any]], runs: int) -> float:
    """Microseconds per record of `avro_value` on what fastavro reads with `schema`."""
    parsed = fastavro.parse_schema(orjson.loads(schema))
    logical = "logicalType" in schema
    values = []
    for record in records:
        out = io.BytesIO()
        fastavro.schemaless_writer(out, parsed, _logical(record) if logical else record)
        out.seek(0)
        values.append(fastavro.schemaless_reader(out, parsed, None))
    return statistics.median(1e6 / rate(avro_value, values) for _ in range(runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    registry = SchemaRegistry.in_memory()
    records = [event(i) for i in range(args.records)]
    expected = Mapper(
        [MappingConfig.model_validate({"name": "j", "topics": ["j"], "event": EVENT})],
        max_record_bytes=1_000_000,
    )
    mappers: dict[str, Mapper] = {}
    decoders: dict[str, Decoder] = {}
    sources: dict[str, list[SourceRecord]] = {}
    sizes: dict[str, float] = {}
    for fmt in FORMATS:
        topic = f"orders-{fmt}"
        encode = encoder(fmt, registry, topic)
        values = [encode(r) for r in records]
        sources[fmt] = [SourceRecord(topic, 0, i, v) for i, v in enumerate(values)]
        sizes[fmt] = sum(map(len, values)) / len(values)
        mappers[fmt] = mapper = mapper_for(fmt, registry, topic)
        warm(lambda: mapper.map(sources[fmt][0]))  # noqa: B023 (called at once)
        # The decoder alone, for the split of the cost: its own ready-state over the same
        # client (a decoder keeps what it parsed; the registry only which ids are ready).
        decoders[fmt] = decoder = decoder_for(
            "avro" if fmt == "avro-logical" else fmt,  # type: ignore[arg-type]
            SchemaRegistry(registry.client),
            "value",
        )
        warm(lambda: decoder.decode(values[0], topic, ()))  # noqa: B023
        # Same output as JSON for every record, or the comparison means nothing.
        plain = _as_logical_json if fmt == "avro-logical" else dict
        for record, source in zip(records, sources[fmt], strict=True):
            want = expected.map(SourceRecord("j", 0, 0, orjson.dumps(plain(record))))
            assert mapper.map(source) == want, (fmt, source.offset)

    maps: dict[str, list[float]] = {fmt: [] for fmt in FORMATS}
    decodes: dict[str, list[float]] = {fmt: [] for fmt in FORMATS}
    for _ in range(args.runs):
        for fmt in FORMATS:
            maps[fmt].append(rate(mappers[fmt].map, sources[fmt]))
            decode = decoders[fmt].decode
            topic = sources[fmt][0].topic
            values = [s.value or b"" for s in sources[fmt]]
            decodes[fmt].append(rate(lambda v: decode(v, topic, ()), values))  # noqa: B023

    print(
        f"decode + path-only mapping, {args.records:,} records, median of {args.runs} runs; "
        "decode alone, and the rest (mapping)"
    )
    medians = {fmt: statistics.median(r) for fmt, r in maps.items()}
    json_us = 1e6 / medians["json"]
    for fmt in FORMATS:
        total_us = 1e6 / medians[fmt]
        decode_us = 1e6 / statistics.median(decodes[fmt])
        print(
            f"{fmt:13} {medians[fmt]:>9,.0f} records/s {total_us:6.2f} us/record "
            f"(decode {decode_us:5.2f} + mapping {total_us - decode_us:5.2f})  "
            f"{sizes[fmt]:4.0f} B/record  cost {total_us / json_us:5.2f}x JSON"
        )
    avro_cost = medians["json"] / medians["avro"]
    verdict = "met" if avro_cost <= AIM else "NOT met"
    print(
        f"aim: Avro decode + path-only mapping at most {AIM:.1f}x JSON's cost: "
        f"{avro_cost:.2f}x, {verdict}"
    )
    logical_us = 1e6 / medians["avro-logical"] - 1e6 / medians["avro"]
    walked = walk_cost(AVRO_LOGICAL, records[:5_000], args.runs)
    skipped = walk_cost(AVRO_PLAIN, records[:5_000], args.runs)
    print(
        f"logical types (timestamp-millis, decimal) cost {logical_us:.2f} us/record more: "
        f"fastavro's datetime/Decimal, and the plain-value walk (avro_value) at {walked:.2f} "
        f"us/record; the plain schema skips the walk (AvroDecoder._needs_plain: no "
        f"logicalType, bytes or fixed), which would cost it {skipped:.2f} us/record"
    )


if __name__ == "__main__":
    main()
