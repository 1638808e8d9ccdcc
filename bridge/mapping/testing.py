"""`bridge mapping test`: run sample records through the mappings, without Kafka or Gameball.

    bridge mapping test -c CONFIG --topic TOPIC SAMPLES [--expect GOLDEN]

CONFIG is a bridge config or a file with only a ``mappings:`` list (only that part is read,
so no Kafka or Gameball settings or secrets are needed). SAMPLES has one record per line: the
record's JSON value, or ``{"value": ..., "key": "...", "headers": {"name": "value"}}`` (an
object whose keys are `value` and some of `key`, `headers`, `timestamp`); a string `value`
is taken as the raw bytes, to test undecodable records. For each record one JSON line is
printed: ``{"record": N, "operations": [...]}`` (an empty list: skipped on purpose) or
``{"record": N, "error": {"kind", "message"}}``. With ``--expect`` the lines are compared with
a golden file of the same form and the exit code is 1 on any difference.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson

from bridge.errors import MappingError
from bridge.mapping.mapper import Mapper
from bridge.mapping.schema import MappingConfig
from bridge.record import SourceRecord

EXIT_OK, EXIT_DIFFERENT, EXIT_CONFIG = 0, 1, 2
_ENVELOPE_KEYS = frozenset({"value", "key", "headers", "timestamp"})


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", default="config/bridge.yaml", help="config or mappings")
    parser.add_argument("--topic", required=True, help="the topic the records come from")
    parser.add_argument("samples", type=Path, help="JSON lines: one record per line")
    parser.add_argument("--expect", type=Path, help="golden output; exit 1 on any difference")


def sample_mapper(mappings: Sequence[MappingConfig], max_record_bytes: int) -> Mapper:
    """The mapper `bridge mapping test` runs: quiet about skips, since its output is the JSON
    lines and the mapper's debug lines must not mix in."""
    return Mapper(mappings, max_record_bytes=max_record_bytes, log_skips=False)


def read_samples(path: Path, topic: str) -> Iterator[SourceRecord]:
    for offset, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
        if line.strip():
            yield sample_record(orjson.loads(line), topic, offset)


def sample_record(doc: Any, topic: str, offset: int) -> SourceRecord:
    if not (isinstance(doc, dict) and "value" in doc and doc.keys() <= _ENVELOPE_KEYS):
        return SourceRecord(topic, 0, offset, orjson.dumps(doc))
    value = doc["value"]
    if value is None:  # a tombstone
        return SourceRecord(topic, 0, offset, None)
    raw = (
        value.encode() if isinstance(value, str) else None if value is None else orjson.dumps(value)
    )
    key = doc.get("key")
    headers = tuple(
        (str(name), None if v is None else str(v).encode())
        for name, v in (doc.get("headers") or {}).items()
    )
    return SourceRecord(
        topic,
        0,
        offset,
        raw,
        key=None if key is None else str(key).encode(),
        headers=headers,
        timestamp_ms=doc.get("timestamp"),
    )


def outcome(mapper: Mapper, record: SourceRecord, number: int) -> dict[str, Any]:
    try:
        operations = mapper.map(record)
    except MappingError as exc:
        return {"record": number, "error": {"kind": exc.kind, "message": exc.message}}
    return {
        "record": number,
        "operations": [
            {"resource": op.resource.value, "customer_id": op.customer_id, "body": op.body}
            for op in operations
        ],
    }


def run_samples(mapper: Mapper, samples: Path, topic: str) -> list[dict[str, Any]]:
    return [outcome(mapper, r, n) for n, r in enumerate(read_samples(samples, topic), start=1)]


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


def run(args: argparse.Namespace, mapper: Mapper) -> int:
    """The command, once the CLI has loaded `args.config`'s mappings into `mapper`."""
    try:
        results = run_samples(mapper, args.samples, args.topic)
    except (OSError, orjson.JSONDecodeError) as exc:
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
