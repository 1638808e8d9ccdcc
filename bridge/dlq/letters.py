"""A dead letter as plain data: the `bridge.*` headers the bridge wrote on it, read back.

A dead letter is its source record (key, value, headers) plus headers that say why it failed
(bridge/kafka/dead_letter_reason.py writes them). `read_dead_letter` turns one record of the
dead-letter topic into a `DeadLetter`; nothing here does I/O.

The loop guard's two headers travel with a record through a replay: `restore`
(bridge/replay/dead_letters.py) adds them to the record it sends again, and if that fails
the dead-letter producer copies them, with the record's other headers, onto the new dead
letter:

    bridge.replay.reason    the signature of the failure the record was replayed from
    bridge.replay.failures  how many replays in a row will have failed for that reason if
                            this one fails for it too

So on a dead letter whose own failure has that signature, `bridge.replay.failures` is the
number of replays of the record that failed again for the same reason (`failed_again`); a
different failure starts the count again (0).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from bridge.kafka.dead_letter_reason import HEADER_PREFIX as PREFIX
from bridge.mapping.rules import TopicFilter
from bridge.mapping.settings import MappingConfig
from bridge.record import SourceRecord

REPLAY_REASON = PREFIX + "replay.reason"
REPLAY_FAILURES = PREFIX + "replay.failures"

# The two families of kinds: Gameball answered and refused an operation, or the record never
# became operations at all (decoding, mapping, size, no mapping; `--kind` takes either name).
GAMEBALL_REFUSED = "gameball_refused"
MAPPING_FAILED = "mapping_failed"
CATEGORIES = (MAPPING_FAILED, GAMEBALL_REFUSED)
_REFUSED_KINDS = frozenset({"rejected", "retries_exhausted"})

_INTEGER = re.compile(r"-?[0-9]+")
# Numbers in a message (ids, amounts, positions) vary between records that failed the same
# way; an HTTP status or a Gameball code does not.
_DIGITS = re.compile(r"(?<!HTTP )(?<!code )(?<![0-9])[0-9]+")
_SPACE = re.compile(r"\s+")
REASON_CHARS = 160


@dataclass(frozen=True, slots=True)
class DeadLetter:
    record: SourceRecord  # as read from the dead-letter topic
    kind: str
    message: str
    http_status: int | None = None
    gameball_code: int | None = None
    attempts: int | None = None
    schema_id: int | None = None
    source_topic: str | None = None
    source_partition: int | None = None
    source_offset: int | None = None
    failed_at_ms: int | None = None  # the header, else the record's timestamp
    # Written by a replay: the failure it was replayed from, and the count of failed replays
    # that holds if this failure is the same (the `bridge.replay.*` headers).
    replayed_from: str | None = None
    replay_failures: int = 0

    @property
    def category(self) -> str:
        """`gameball_refused` when Gameball answered with a refusal, else `mapping_failed`."""
        if self.kind in _REFUSED_KINDS or self.http_status is not None:
            return GAMEBALL_REFUSED
        return MAPPING_FAILED

    @property
    def reason(self) -> str:
        """The message with its numbers blanked and its spacing folded, cut short: dead letters
        that failed the same way share it (for the summary's top reasons)."""
        return normalized(self.message)

    @property
    def signature(self) -> str:
        """What "the same reason" means to the loop guard: kind, HTTP status, Gameball code
        and the normalized message, hashed short enough for a header."""
        text = f"{self.kind}|{self.http_status}|{self.gameball_code}|{self.reason}"
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def failed_again(self) -> int:
        """How many replays in a row of this record have failed for this same reason (0: it
        was never replayed, or its last replay failed differently)."""
        if self.replayed_from is not None and self.replayed_from == self.signature:
            return self.replay_failures
        return 0

    @property
    def source(self) -> str:
        if self.source_topic is None:
            return "(unknown)"
        return f"{self.source_topic}[{self.source_partition}]@{self.source_offset}"

    def describe_refusal(self) -> str:
        """``HTTP 400, code 3000`` (or the half that is known; empty when neither is)."""
        parts = []
        if self.http_status is not None:
            parts.append(f"HTTP {self.http_status}")
        if self.gameball_code is not None:
            parts.append(f"code {self.gameball_code}")
        return ", ".join(parts)


def read_dead_letter(record: SourceRecord) -> DeadLetter:
    """The dead letter `record` is, from its `bridge.*` headers. A record without them (written
    by something else, or edited by hand) is read as kind ``unknown``, never refused."""
    ours: dict[str, str] = {}
    for name, value in record.headers:
        if name.startswith(PREFIX) and value is not None:
            ours[name[len(PREFIX) :]] = value.decode("utf-8", "replace")

    def number(name: str) -> int | None:
        text = ours.get(name)
        # ASCII digits only: str.isdigit() also takes "²", and int() then raises.
        return int(text) if text is not None and _INTEGER.fullmatch(text) else None

    return DeadLetter(
        record=record,
        kind=ours.get("error.kind") or "unknown",
        message=ours.get("error.message", ""),
        http_status=number("error.http_status"),
        gameball_code=number("error.gameball_code"),
        attempts=number("error.attempts"),
        schema_id=number("error.schema_id"),
        source_topic=ours.get("source.topic"),
        source_partition=number("source.partition"),
        source_offset=number("source.offset"),
        failed_at_ms=_epoch_ms(ours.get("failed_at")) or record.timestamp_ms,
        replayed_from=ours.get("replay.reason"),
        replay_failures=number("replay.failures") or 0,
    )


def replay_headers(letter: DeadLetter) -> tuple[tuple[str, bytes], ...]:
    """The loop guard's headers for the record restored from `letter` to be sent again: if
    it fails again the same way, its next dead letter has failed one replay more."""
    return (
        (REPLAY_REASON, letter.signature.encode()),
        (REPLAY_FAILURES, str(letter.failed_again + 1).encode()),
    )


def normalized(message: str) -> str:
    text = _SPACE.sub(" ", _DIGITS.sub("#", message)).strip()
    return text if len(text) <= REASON_CHARS else text[: REASON_CHARS - 1] + "…"


def _epoch_ms(text: str | None) -> int | None:
    if not text:
        return None
    try:
        return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        return None


class MappingNames:
    """Source topic -> the name of the mapping the current config routes it to (the first
    whose topics match, as the mapper chooses), or None. Dead letters do not record their
    mapping; this is the one a replay would use."""

    def __init__(self, mappings: Sequence[MappingConfig]) -> None:
        self._filters: list[tuple[str, Callable[[str], bool]]] = [
            (m.name, TopicFilter(m.topics)) for m in mappings
        ]
        self._cache: dict[str, str | None] = {}

    def __call__(self, topic: str | None) -> str | None:
        if topic is None:
            return None
        if topic not in self._cache:
            self._cache[topic] = next((name for name, ok in self._filters if ok(topic)), None)
        return self._cache[topic]
