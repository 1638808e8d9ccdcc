"""A dead letter shown to a person: its headers and a preview of its value, with personal data
masked by the rules the logs use (`logging.pii`, bridge/observability/pii.py), and never its
key.

- A JSON value is parsed and its `email`, `mobile` and configured `fields` keys are hashed or
  dropped wherever they are, exactly as in a log line, then printed compactly and cut short.
- Text that is not JSON (the likeliest dead letter: an `invalid_json` record) gets the same
  keys masked where they can be found in it (``"email": "..."``); like the logs, personal
  data in free text is not recognised.
- Binary values (Avro, Protobuf) show only their size.
- Headers: the record's own with the same key rule applied to their names, then the bridge's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson

from bridge.dlq.letters import DeadLetter
from bridge.observability.pii import DEFAULT_FIELDS, RedactPersonalData
from bridge.observability.settings import PersonalDataConfig

PREVIEW_CHARS = 400
HEADER_CHARS = 200


@dataclass(frozen=True, slots=True)
class Sample:
    dead_letter: str  # topic[partition]@offset on the dead-letter topic
    source: str  # topic[partition]@offset it came from
    failed_at_ms: int | None
    kind: str
    headers: tuple[tuple[str, str], ...]
    key: str  # never the key itself: its size
    value: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "dead_letter": self.dead_letter,
            "source": self.source,
            "failed_at_ms": self.failed_at_ms,
            "kind": self.kind,
            "headers": dict(self.headers),
            "key": self.key,
            "value": self.value,
        }


class SampleMasker:
    def __init__(self, config: PersonalDataConfig) -> None:
        self._mode = config.mode
        self._redact = RedactPersonalData.from_config(config)
        fields = sorted({f.lower() for f in (*DEFAULT_FIELDS, *config.fields)})
        # "key": "value" / "key": 123 / "key": true, in text that is not whole JSON.
        self._in_text = re.compile(
            r'("(?:' + "|".join(re.escape(f) for f in fields) + r')"\s*:\s*)'
            r'("(?:[^"\\]|\\.)*"?|[^\s,}\]]+)',
            re.IGNORECASE,
        )

    def sample(self, letter: DeadLetter) -> Sample:
        record = letter.record
        return Sample(
            dead_letter=f"{record.topic}[{record.partition}]@{record.offset}",
            source=letter.source,
            failed_at_ms=letter.failed_at_ms,
            kind=letter.kind,
            headers=self.headers(record.headers),
            key="(none)" if record.key is None else f"({len(record.key)} bytes, not shown)",
            value=self.value(record.value),
        )

    def headers(self, headers: tuple[tuple[str, bytes | None], ...]) -> tuple[tuple[str, str], ...]:
        out: list[tuple[str, str]] = []
        for name, raw in headers:
            text = "" if raw is None else _cut(raw.decode("utf-8", "replace"), HEADER_CHARS)
            masked = self._mask({name: text})
            if name in masked:
                out.append((name, str(masked[name])))
        return tuple(out)

    def value(self, value: bytes | None) -> str:
        if value is None:
            return "(no value: a tombstone)"
        try:
            doc = orjson.loads(value)
        except orjson.JSONDecodeError:
            pass
        else:
            return _cut(orjson.dumps(self._mask({"value": doc})["value"]).decode(), PREVIEW_CHARS)
        try:
            text = value.decode("utf-8")
        except UnicodeDecodeError:
            return f"({len(value)} bytes, binary: not shown)"
        if self._mode != "keep":
            text = self._in_text.sub(self._masked_in_text, text)
        return _cut(text, PREVIEW_CHARS)

    def _mask(self, doc: dict[str, Any]) -> dict[str, Any]:
        # The logs' own processor, on a one-key event: the same keys, modes and hashes.
        return dict(self._redact(None, "", doc))

    def _masked_in_text(self, match: re.Match[str]) -> str:
        if self._mode == "drop":
            return match.group(1) + '"(dropped)"'
        value = match.group(2).strip('"')
        return match.group(1) + f'"{self._redact.hash(value)}"'


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
