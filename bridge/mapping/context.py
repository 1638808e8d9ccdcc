"""`RecordContext`: the Kafka side of a record (topic, partition, offset, key, headers,
timestamp), for `header` and `kafka` values, header matches and plugins."""

from __future__ import annotations

from typing import Any

from bridge.record import SourceRecord

_TEXT: Any = object()


class RecordContext:
    """A read-only view of a `SourceRecord`; keys and headers are decoded on first use."""

    __slots__ = ("_headers", "_key", "record")

    def __init__(self, record: SourceRecord, key: Any = _TEXT) -> None:
        """`key`: the key as its mapping's `key_format` decoded it; left out, the key is read
        as text when asked for."""
        self.record = record
        self._headers: dict[str, str] | None = None
        self._key: Any = self if key is _TEXT else key

    @property
    def topic(self) -> str:
        return self.record.topic

    @property
    def partition(self) -> int:
        return self.record.partition

    @property
    def offset(self) -> int:
        return self.record.offset

    @property
    def timestamp_ms(self) -> int | None:
        return self.record.timestamp_ms

    @property
    def key(self) -> Any:
        """The key as UTF-8 text (undecodable bytes replaced), or None; or the decoded key."""
        if self._key is self:
            raw = self.record.key
            self._key = None if raw is None else raw.decode("utf-8", "replace")
        return self._key

    @property
    def headers(self) -> dict[str, str]:
        """Header name -> value as UTF-8 text; of repeated headers, the last wins."""
        if self._headers is None:
            self._headers = {
                name: (value or b"").decode("utf-8", "replace")
                for name, value in self.record.headers
            }
        return self._headers
