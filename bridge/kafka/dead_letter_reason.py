"""Why a record was dead-lettered, as plain data, and the `bridge.*` headers that say it on
the dead letter: shared by the engine, the dead-letter producer and the replays without any
of them importing the producer (bridge/kafka/dead_letter.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bridge.record import SourceRecord

HEADER_PREFIX = "bridge."


@dataclass(frozen=True, slots=True)
class DeadLetterReason:
    kind: str  # stable name: invalid_json, missing_field, rejected, retries_exhausted, ...
    message: str
    attempts: int = 0
    http_status: int | None = None
    gameball_code: int | None = None
    schema_id: int | None = None

    def headers(self, record: SourceRecord, failed_at: datetime) -> list[tuple[str, bytes]]:
        fields: dict[str, object | None] = {
            "error.kind": self.kind,
            "error.message": self.message[:2000],
            "error.http_status": self.http_status,
            "error.gameball_code": self.gameball_code,
            "error.attempts": self.attempts,
            "error.schema_id": self.schema_id,
            "source.topic": record.topic,
            "source.partition": record.partition,
            "source.offset": record.offset,
            "failed_at": failed_at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        }
        return [
            (HEADER_PREFIX + name, str(value).encode())
            for name, value in fields.items()
            if value is not None
        ]
