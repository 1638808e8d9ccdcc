"""Which dead letters a command is about: `--kind`, `--code`, `--status`, `--topic`,
`--mapping` and `--reason`, shared by `bridge dlq show` and `bridge dlq replay`.

Each option may be given several times: a dead letter matches an option when it matches any
of its values, and the filter when it matches every option given. Time and offset bounds are
not here: they choose which part of the topic is read at all (`bridge.kafka.dead_letter_reader`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bridge.dlq.letters import DeadLetter


@dataclass(frozen=True, slots=True)
class Filters:
    # A kind (missing_field, rejected, ...) or a family of kinds (mapping_failed,
    # gameball_refused).
    kinds: frozenset[str] = frozenset()
    codes: frozenset[int] = frozenset()  # Gameball error codes
    statuses: frozenset[int] = frozenset()  # HTTP statuses of Gameball's answer
    topics: frozenset[str] = frozenset()  # source topics
    mappings: frozenset[str] = frozenset()  # the mapping the current config routes them to
    reason: str = ""  # a piece of the message, any case

    @classmethod
    def of(
        cls,
        *,
        kinds: Iterable[str] = (),
        codes: Iterable[int] = (),
        statuses: Iterable[int] = (),
        topics: Iterable[str] = (),
        mappings: Iterable[str] = (),
        reason: str | None = None,
    ) -> Filters:
        return cls(
            frozenset(kinds),
            frozenset(codes),
            frozenset(statuses),
            frozenset(topics),
            frozenset(mappings),
            (reason or "").casefold(),
        )

    def matches(self, letter: DeadLetter, mapping: str | None) -> bool:
        return (
            (not self.kinds or letter.kind in self.kinds or letter.category in self.kinds)
            and (not self.codes or letter.gameball_code in self.codes)
            and (not self.statuses or letter.http_status in self.statuses)
            and (not self.topics or letter.source_topic in self.topics)
            and (not self.mappings or mapping in self.mappings)
            and (not self.reason or self.reason in letter.message.casefold())
        )

    def describe(self) -> str:
        """The filters as the command line gave them (empty: none)."""
        parts = [
            *(f"--kind {k}" for k in sorted(self.kinds)),
            *(f"--code {c}" for c in sorted(self.codes)),
            *(f"--status {s}" for s in sorted(self.statuses)),
            *(f"--topic {t}" for t in sorted(self.topics)),
            *(f"--mapping {m}" for m in sorted(self.mappings)),
            *([f"--reason {self.reason!r}"] if self.reason else []),
        ]
        return " ".join(parts)
