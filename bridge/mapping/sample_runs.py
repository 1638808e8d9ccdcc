"""Sample records run through the mappings, without Kafka or Gameball, and compared with golden
output: what the `bridge mapping test` command does (this is not support for the bridge's own
tests, though they use it on the shipped mappings).

    bridge mapping test -c CONFIG --topic TOPIC SAMPLES [--expect GOLDEN]

CONFIG is a bridge config or a file with only a ``mappings:`` list (only that part is read,
so no Kafka or Gameball settings or secrets are needed). SAMPLES has one record per line: the
record's JSON value, or ``{"value": ..., "key": "...", "headers": {"name": "value"}}`` (an
object whose keys are `value` and some of `key`, `headers`, `timestamp`); a string `value`
is taken as the raw bytes, to test undecodable records. For each record one JSON line is
printed: ``{"record": N, "operations": [...]}`` (an empty list: skipped on purpose) or
``{"record": N, "error": {"kind", "message"}}``. With ``--expect`` the lines are compared with
a golden file of the same form and the exit code is 1 on any difference.

For a mapping whose `format` (or `key_format`) is avro or json_schema, the samples are still
written as JSON and are encoded with the schema first (`bridge.mapping.sample_encoding`),
against an in-memory registry: ``--schema FILE`` / ``--key-schema FILE``, or by default
``schemas/<topic>-value.avsc`` (``.json`` for JSON Schema) and ``schemas/<topic>-key.avsc``
beside the mappings file. A value written ``{"base64": "..."}`` is taken as already encoded
bytes (an undecodable record, or one a real producer wrote). ``--registry URL`` decodes such
encoded samples (records copied from the topic, say) with the schemas of that registry,
which is only read from: every value (and key) of a registry format must then be encoded.
"""

from __future__ import annotations

import argparse
import base64
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson

from bridge.decoding.registry import RegistryUnavailable, SchemaRegistry
from bridge.decoding.settings import REGISTRY_FORMATS, RegistryConfig
from bridge.errors import MappingError, SchemaPending
from bridge.mapping.mapper import Mapper
from bridge.mapping.rules import TopicFilter
from bridge.mapping.sample_encoding import SUFFIXES, SampleEncoder, schema_file
from bridge.mapping.settings import MappingConfig
from bridge.record import Operation, SourceRecord

EXIT_OK, EXIT_DIFFERENT, EXIT_CONFIG = 0, 1, 2
_ENVELOPE_KEYS = frozenset({"value", "key", "headers", "timestamp"})


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", default="config/bridge.yaml", help="config or mappings")
    parser.add_argument("--topic", required=True, help="the topic the records come from")
    parser.add_argument("samples", type=Path, help="JSON lines: one record per line")
    parser.add_argument("--expect", type=Path, help="golden output; exit 1 on any difference")
    parser.add_argument("--schema", type=Path, help="the values' schema (avro, json_schema)")
    parser.add_argument("--key-schema", type=Path, help="the keys' schema (avro, json_schema)")
    parser.add_argument(
        "--registry",
        metavar="URL",
        help='decode encoded samples ({"base64": ...}, e.g. copied from the topic) with the '
        "schemas of this registry; it is only read from",
    )


class Encoders:
    """How a topic's samples become record bytes: JSON text, or encoded with a schema.
    `encoded_values` / `encoded_keys`: they must be encoded already, as base64 (a real
    registry is only read from)."""

    def __init__(
        self,
        value: SampleEncoder | None = None,
        key: SampleEncoder | None = None,
        *,
        encoded_values: bool = False,
        encoded_keys: bool = False,
    ) -> None:
        self.value = value
        self.key = key
        self.encoded_values = encoded_values
        self.encoded_keys = encoded_keys


def sample_mapper(
    mappings: Sequence[MappingConfig],
    max_record_bytes: int,
    registry: SchemaRegistry | None = None,
) -> Mapper:
    """The mapper `bridge mapping test` runs: quiet about skips, since its output is the JSON
    lines and the mapper's debug lines must not mix in."""
    return Mapper(mappings, max_record_bytes=max_record_bytes, log_skips=False, registry=registry)


def sample_setup(
    mappings: Sequence[MappingConfig],
    max_record_bytes: int,
    topic: str,
    folder: Path,
    schema: Path | None = None,
    key_schema: Path | None = None,
    registry_url: str | None = None,
) -> tuple[Mapper, Encoders]:
    """The mapper and the encoders for `topic`'s samples; an in-memory registry when the
    topic's mapping reads a registry format, or the one at `registry_url` (then samples of
    registry formats must be encoded already: nothing is registered there). Raises
    ValueError naming what is missing."""
    mapping = next((m for m in mappings if TopicFilter(m.topics)(topic)), None)
    if mapping is None or {mapping.format, mapping.key_format}.isdisjoint(REGISTRY_FORMATS):
        return sample_mapper(mappings, max_record_bytes), Encoders()
    if registry_url is not None:
        real = SchemaRegistry.from_config(RegistryConfig(url=registry_url))
        encoders = Encoders(
            encoded_values=mapping.format in REGISTRY_FORMATS,
            encoded_keys=mapping.key_format in REGISTRY_FORMATS,
        )
        return sample_mapper(mappings, max_record_bytes, real), encoders
    registry = SchemaRegistry.in_memory()
    encoders = sample_encoders(mapping, topic, folder, registry, schema, key_schema)
    return sample_mapper(mappings, max_record_bytes, registry), encoders


def sample_encoders(
    mapping: MappingConfig,
    topic: str,
    folder: Path,
    registry: SchemaRegistry,
    schema: Path | None = None,
    key_schema: Path | None = None,
) -> Encoders:
    """Encoders for the mapping's registry formats, registering their schemas in `registry`
    (in memory for `mapping test`; the demo's real one). Raises ValueError naming a missing
    schema file."""
    encoders = Encoders()
    for field, fmt, given in (
        ("value", mapping.format, schema),
        ("key", mapping.key_format, key_schema),
    ):
        if fmt not in REGISTRY_FORMATS:
            continue
        path = given or schema_file(folder, topic, fmt, field)
        if path is None:
            option = "--key-schema" if field == "key" else "--schema"
            default = folder / "schemas" / f"{topic}-{field}{SUFFIXES.get(fmt, '')}"
            raise ValueError(
                f"mapping {mapping.name!r} reads {fmt} {field}s: give {option} FILE, or put "
                f"the schema at {default}"
            )
        setattr(encoders, field, SampleEncoder(registry, fmt, path, field))
    return encoders


def read_samples(
    path: Path, topic: str, encoders: Encoders | None = None
) -> Iterator[SourceRecord]:
    for offset, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
        if line.strip():
            yield sample_record(orjson.loads(line), topic, offset, encoders or Encoders())


def _raw(value: Any, topic: str, encoder: SampleEncoder | None, refuse: bool = False) -> bytes:
    if isinstance(value, dict) and value.keys() == {"base64"}:
        return base64.b64decode(value["base64"])
    if refuse:
        raise ValueError('with --registry, give each value (and key) encoded: {"base64": "..."}')
    if isinstance(value, str) and encoder is None:
        return value.encode()
    if encoder is not None:
        return encoder.encode(value, topic)
    return orjson.dumps(value)


def sample_record(
    doc: Any, topic: str, offset: int, encoders: Encoders | None = None
) -> SourceRecord:
    encoders = encoders or Encoders()
    if not (isinstance(doc, dict) and "value" in doc and doc.keys() <= _ENVELOPE_KEYS):
        raw = _raw(doc, topic, encoders.value, encoders.encoded_values)
        return SourceRecord(topic, 0, offset, raw)
    value = doc["value"]
    if value is None:  # a tombstone
        return SourceRecord(topic, 0, offset, None)
    raw = _raw(value, topic, encoders.value, encoders.encoded_values)
    key = doc.get("key")
    if key is not None and (encoders.key is not None or encoders.encoded_keys):
        encoded_key: bytes | None = _raw(key, topic, encoders.key, encoders.encoded_keys)
    else:
        encoded_key = None if key is None else str(key).encode()
    headers = tuple(
        (str(name), None if v is None else str(v).encode())
        for name, v in (doc.get("headers") or {}).items()
    )
    return SourceRecord(
        topic,
        0,
        offset,
        raw,
        key=encoded_key,
        headers=headers,
        timestamp_ms=doc.get("timestamp"),
    )


def outcome(mapper: Mapper, record: SourceRecord, number: int) -> dict[str, Any]:
    try:
        while True:
            try:
                operations = mapper.map(record)
                break
            except SchemaPending as pending:  # the in-memory registry: asked on the spot
                pending.prepare()
    except MappingError as exc:
        return {"record": number, "error": {"kind": exc.kind, "message": exc.message}}
    return {"record": number, "operations": [described(op) for op in operations]}


def described(op: Operation) -> dict[str, Any]:
    """An operation as the golden files hold it: its resource (rate-limit bucket), customer
    and body; and, for any operation but a tracking call, its name and path's parameters
    (so that the golden files written before there were others still match)."""
    out: dict[str, Any] = {"resource": op.resource.value, "customer_id": op.customer_id}
    if op.label != op.resource.value:
        out["operation"] = op.name
        if op.params:
            out["params"] = dict(op.params)
    out["body"] = op.body
    return out


def run_samples(
    mapper: Mapper, samples: Path, topic: str, encoders: Encoders | None = None
) -> list[dict[str, Any]]:
    records = read_samples(samples, topic, encoders)
    return [outcome(mapper, r, n) for n, r in enumerate(records, start=1)]


def render(results: list[dict[str, Any]]) -> str:
    return "".join(orjson.dumps(r, option=orjson.OPT_SORT_KEYS).decode() + "\n" for r in results)


def differences(results: list[dict[str, Any]], golden: Path) -> list[str]:
    expected = [orjson.loads(ln) for ln in golden.read_text(encoding="utf-8").splitlines() if ln]
    found = []
    for index in range(max(len(results), len(expected))):
        got = results[index] if index < len(results) else None
        want = expected[index] if index < len(expected) else None
        if got != want:
            found.append(f"record {index + 1}:\n  expected {_line(want)}\n  got      {_line(got)}")
    return found


def _line(result: dict[str, Any] | None) -> str:
    if result is None:
        return "(no record)"
    return orjson.dumps(result, option=orjson.OPT_SORT_KEYS).decode()


def run(args: argparse.Namespace, mapper: Mapper, encoders: Encoders | None = None) -> int:
    """The command, once the CLI has loaded `args.config`'s mappings into `mapper`."""
    try:
        results = run_samples(mapper, args.samples, args.topic, encoders)
    except RegistryUnavailable as exc:
        print(f"{args.registry}: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except (OSError, ValueError, TypeError) as exc:  # orjson's JSONDecodeError is a ValueError
        print(f"{args.samples}: cannot read the samples: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    sys.stdout.write(render(results))
    if args.expect is None:
        return EXIT_OK
    try:
        diffs = differences(results, args.expect)
    except (OSError, orjson.JSONDecodeError) as exc:
        print(f"{args.expect}: cannot read the expected output: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    for diff in diffs:
        print(diff, file=sys.stderr)
    if diffs:
        print(f"{len(diffs)} record(s) differ from {args.expect}", file=sys.stderr)
        return EXIT_DIFFERENT
    print(f"all {len(results)} record(s) match {args.expect}", file=sys.stderr)
    return EXIT_OK
