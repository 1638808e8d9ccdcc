"""What a run of dead letters adds up to, for `bridge dlq show`: counts by kind, by Gameball
code and HTTP status, by source topic and mapping, by hour, the top reasons, and a few
masked samples per kind.

Memory is bounded whatever the topic's size: counters keyed by a few low-cardinality values
(kinds, codes, topics, mappings, hours), at most `MAX_REASONS` distinct reasons (the rest
counted together), and `samples` records per kind.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

from bridge.dlq.letters import CATEGORIES, DeadLetter
from bridge.dlq.samples import Sample, SampleMasker

MAX_REASONS = 1_000
OTHER_REASONS = "(other reasons)"
TOP_REASONS = 10
HOUR_MS = 3_600_000


class Summary:
    def __init__(self, *, samples: int = 0, masker: SampleMasker | None = None) -> None:
        self.read = 0  # dead letters read, matching the filters or not
        self.matched = 0
        self.by_kind: Counter[tuple[str, str]] = Counter()  # (category, kind)
        self.by_code: Counter[tuple[int | None, int | None]] = Counter()  # (status, code)
        self.by_source: Counter[tuple[str, str | None]] = Counter()  # (topic, mapping)
        self.by_hour: Counter[int] = Counter()  # hour's start, epoch ms
        self.reasons: Counter[tuple[str, str]] = Counter()  # (kind, normalized message)
        self.first_ms: int | None = None
        self.last_ms: int | None = None
        self.replayed = 0  # written by a replay that failed
        self.failed_again = 0  # ... for the same reason as the dead letter it replayed
        self._samples_per_kind = samples
        self._masker = masker
        self.samples: dict[str, list[Sample]] = {}

    def add(self, letter: DeadLetter, mapping: str | None) -> None:
        self.matched += 1
        self.by_kind[letter.category, letter.kind] += 1
        if letter.http_status is not None or letter.gameball_code is not None:
            self.by_code[letter.http_status, letter.gameball_code] += 1
        self.by_source[letter.source_topic or "(unknown)", mapping] += 1
        at = letter.failed_at_ms
        if at is not None:
            self.by_hour[at - at % HOUR_MS] += 1
            self.first_ms = at if self.first_ms is None else min(self.first_ms, at)
            self.last_ms = at if self.last_ms is None else max(self.last_ms, at)
        reason = (letter.kind, letter.reason)
        if reason in self.reasons or len(self.reasons) < MAX_REASONS:
            self.reasons[reason] += 1
        else:
            self.reasons[letter.kind, OTHER_REASONS] += 1
        if letter.replayed_from is not None:
            self.replayed += 1
            if letter.failed_again:
                self.failed_again += 1
        if self._masker is not None and self._samples_per_kind:
            kept = self.samples.setdefault(letter.kind, [])
            if len(kept) < self._samples_per_kind:
                kept.append(self._masker.sample(letter))

    # -- output --------------------------------------------------------------------------------

    def as_dict(self) -> dict[str, Any]:
        return {
            "read": self.read,
            "matched": self.matched,
            "first_seen": _iso(self.first_ms),
            "last_seen": _iso(self.last_ms),
            "by_kind": [
                {"category": category, "kind": kind, "count": n}
                for (category, kind), n in sorted(self.by_kind.items())
            ],
            "by_code": [
                {"http_status": status, "gameball_code": code, "count": n}
                for (status, code), n in self.by_code.most_common()
            ],
            "by_source": [
                {"topic": topic, "mapping": mapping, "count": n}
                for (topic, mapping), n in self.by_source.most_common()
            ],
            "by_hour": [
                {"hour": _iso(hour), "count": n} for hour, n in sorted(self.by_hour.items())
            ],
            "top_reasons": [
                {"kind": kind, "reason": reason, "count": n}
                for (kind, reason), n in self.reasons.most_common(TOP_REASONS)
            ],
            "replayed": self.replayed,
            "failed_again": self.failed_again,
            "samples": {
                kind: [s.as_dict() for s in samples]
                for kind, samples in sorted(self.samples.items())
            },
        }

    def render(self, heading: str) -> str:
        """The summary for a person: `heading` first (what was read, with which filters)."""
        lines = [heading]
        if not self.matched:
            lines.append("no dead letters matched")
            return "\n".join(lines) + "\n"
        lines.append(f"first {_iso(self.first_ms)}, last {_iso(self.last_ms)}")
        if self.replayed:
            lines.append(
                f"{self.replayed:,} written by a replay that failed, {self.failed_again:,} of "
                "them for the same reason again (see bridge.replay.failures)"
            )
        lines += _table("by kind", self._kind_rows())
        lines += _table(
            "by Gameball code and HTTP status",
            [(_refusal(status, code), n) for (status, code), n in self.by_code.most_common()],
        )
        lines += _table(
            "by source topic and mapping",
            [
                (f"{topic}  (mapping {mapping or '(none)'})", n)
                for (topic, mapping), n in self.by_source.most_common()
            ],
        )
        lines += _table(
            "by hour (UTC, failed_at)",
            [(_hour(hour), n) for hour, n in sorted(self.by_hour.items())],
        )
        lines += _table(
            "top reasons",
            [
                (f"{kind}: {reason}", n)
                for (kind, reason), n in self.reasons.most_common(TOP_REASONS)
            ],
        )
        for kind, samples in sorted(self.samples.items()):
            lines += ["", f"samples of {kind}"]
            for sample in samples:
                lines += render_sample(sample)
        return "\n".join(lines) + "\n"

    def _kind_rows(self) -> list[tuple[str, int]]:
        rows: list[tuple[str, int]] = []
        for category in CATEGORIES:
            kinds = {k: n for (c, k), n in self.by_kind.items() if c == category}
            if kinds:
                rows.append((category, sum(kinds.values())))
                rows += [
                    (f"  {kind}", n) for kind, n in sorted(kinds.items(), key=_count_then_name)
                ]
        return rows


def render_sample(sample: Sample) -> list[str]:
    lines = [
        f"  {sample.dead_letter}  from {sample.source}  failed {_iso(sample.failed_at_ms)}",
        f"    key: {sample.key}",
    ]
    lines += [f"    header {name}: {value}" for name, value in sample.headers]
    lines.append(f"    value: {sample.value}")
    return lines


def _table(title: str, rows: list[tuple[str, int]]) -> list[str]:
    if not rows:
        return []
    width = max(len(label) for label, _ in rows)
    return ["", title, *(f"  {label.ljust(width)}  {n:>8,}" for label, n in rows)]


def _refusal(status: int | None, code: int | None) -> str:
    parts = [f"HTTP {status}" if status is not None else "HTTP -"]
    parts.append(f"code {code}" if code is not None else "no code")
    return ", ".join(parts)


def _count_then_name(item: tuple[str, int]) -> tuple[int, str]:
    return -item[1], item[0]


def _iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return (
        datetime.fromtimestamp(ms / 1000, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def _hour(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:00")
