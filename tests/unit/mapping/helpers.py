"""Building mappers and records from plain dicts, for the mapping tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from bridge.config import load_mappings, parse_config
from bridge.decoding.registry import SchemaRegistry
from bridge.mapping.mapper import Mapper
from bridge.mapping.sample_runs import sample_mapper
from bridge.mapping.settings import MappingConfig
from bridge.record import SourceRecord


def mapper(**mapping: Any) -> Mapper:
    """A Mapper for one mapping named 'm' on topic 't' (override with keyword arguments)."""
    spec = {"name": "m", "topics": ["t"], **mapping}
    return Mapper([MappingConfig.model_validate(spec)], max_record_bytes=10_000)


def rules_mapper(*rules: dict[str, Any], **mapping: Any) -> Mapper:
    return mapper(rules=list(rules), **mapping)


def record(
    value: Any,
    topic: str = "t",
    *,
    key: bytes | None = None,
    headers: tuple[tuple[str, bytes | None], ...] = (),
) -> SourceRecord:
    raw = value if isinstance(value, bytes) or value is None else orjson.dumps(value)
    return SourceRecord(topic, 0, 7, raw, key=key, headers=headers, timestamp_ms=1_700_000_000_000)


def config_error(mapping: dict[str, Any]) -> str:
    """The one-line error the config loader gives for this mapping."""
    data = {
        "kafka": {"bootstrap_servers": "127.0.0.1:9092"},
        "gameball": {"api_key": "k"},
        "dead_letter": {"topic": "dlq"},
        "mappings": [{"name": "m", "topics": ["t"], **mapping}],
    }
    try:
        parse_config(data, source="conf.yaml", env={})
    except Exception as exc:
        return str(exc)
    raise AssertionError("the config was accepted")


def load_mapper(path: str | Path) -> Mapper:
    """The mapper `bridge mapping test` would run for the mappings of the file at `path`."""
    mappings = load_mappings(path)
    # An in-memory registry, for the mappings of registry formats (config/mappings/avro-orders).
    return sample_mapper(
        mappings.mappings, mappings.max_record_bytes, registry=SchemaRegistry.in_memory()
    )
