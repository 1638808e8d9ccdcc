"""The mapper: route a record to its mapping by topic, decode it (with the mapping's formats,
`bridge.decoding`), run the mapping's rules."""

from __future__ import annotations

from collections.abc import Sequence

import structlog

from bridge.decoding.formats import Decoder, decoder_for
from bridge.decoding.registry import SchemaRegistry
from bridge.errors import MappingError
from bridge.mapping.context import RecordContext
from bridge.mapping.rules import CompiledMapping
from bridge.mapping.settings import MappingConfig
from bridge.record import Operation, SourceRecord

log = structlog.get_logger("bridge.mapping")


class Mapper:
    """`map(record) -> operations`, or `MappingError` saying why not. Holds no state per record.

    The first mapping (in config order) whose topics match the record's topic applies; the
    choice is cached per topic, since a consumer sees few distinct topics. An empty list means
    no rule matched and the mapping skips such records on purpose.

    A record whose schema the registry has to be asked for raises `SchemaPending` (not a
    MappingError: the record is fine, the engine holds it and asks). `registry` is needed
    when a mapping's format is a registry one.
    """

    def __init__(
        self,
        mappings: Sequence[MappingConfig],
        *,
        max_record_bytes: int,
        log_skips: bool = True,
        registry: SchemaRegistry | None = None,
    ) -> None:
        self._mappings = [CompiledMapping(m) for m in mappings]
        self._registry = registry
        # One decoder per format and field, shared by the mappings that use it (a decoder
        # holds its parsed schemas).
        decoders: dict[tuple[str, str], Decoder] = {}

        def decoder(fmt: str, field: str) -> Decoder:
            if (fmt, field) not in decoders:
                decoders[fmt, field] = decoder_for(fmt, registry, field)  # type: ignore[arg-type]
            return decoders[fmt, field]

        self._decoders = {
            m.name: (
                decoder(m.format, "value"),
                None if m.key_format == "string" else decoder(m.key_format, "key"),
            )
            for m in mappings
        }
        self._by_topic: dict[str, CompiledMapping | None] = {}
        self._max_record_bytes = max_record_bytes
        self._log_skips = log_skips

    def close(self) -> None:
        """Close the registry's connections: the mapper is its one user in a bridge."""
        if self._registry is not None:
            self._registry.close()

    def mapping_for(self, topic: str) -> CompiledMapping | None:
        try:
            return self._by_topic[topic]
        except KeyError:
            found = next((m for m in self._mappings if m.matches_topic(topic)), None)
            self._by_topic[topic] = found
            return found

    def map(self, record: SourceRecord) -> list[Operation]:
        try:
            mapping = self._by_topic[record.topic]
        except KeyError:
            mapping = self.mapping_for(record.topic)
        if mapping is None:
            raise MappingError("no_mapping", f"no mapping is configured for topic {record.topic!r}")
        value = record.value
        if value is None:
            raise MappingError("no_value", "the record has no value (a tombstone?)")
        if len(value) > self._max_record_bytes:
            raise MappingError(
                "too_large",
                f"the value is {len(value)} bytes, over dead_letter.max_record_bytes "
                f"({self._max_record_bytes})",
            )
        value_decoder, key_decoder = self._decoders[mapping.name]
        doc = value_decoder.decode(value, record.topic, record.headers)
        if not isinstance(doc, dict):
            kind = "JSON" if value_decoder.format == "json" else value_decoder.format
            raise MappingError("wrong_type", f"the value is {kind} but not an object")
        if key_decoder is None:
            ctx = RecordContext(record)
        else:
            key = record.key
            ctx = RecordContext(
                record,
                None if key is None else key_decoder.decode(key, record.topic, record.headers),
            )
        try:
            operations = mapping.apply(doc, ctx)
        except MappingError as exc:
            raise MappingError(exc.kind, f"{mapping.error_prefix}{exc.message}") from None
        if not operations and self._log_skips:
            log.debug(
                "mapping.skipped",
                mapping=mapping.name,
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
            )
        return operations
