"""`bridge dlq replay --dry-run`: what a replay would send, and what the current mappings now
make of it, without sending, dead-lettering or committing anything.

    DeadLetterReader (no group, no commit) ──> Selection ──> restore ──> Mapper.map
                                                                   ├──> would send (operations)
                                                                   ├──> would skip (no rule)
                                                                   └──> would fail again (why)

Gameball's answer cannot be foreseen: a record the mappings now turn into operations is
"would send", whether Gameball then takes it or not. Memory is bounded as in `dlq show`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bridge.config import BridgeConfig
from bridge.dlq.letters import normalized
from bridge.dlq.summary import MAX_REASONS, OTHER_REASONS, TOP_REASONS
from bridge.errors import MappingError, SchemaPending
from bridge.kafka.dead_letter_reader import Bounds, DeadLetterReader
from bridge.mapping.mapper import Mapper
from bridge.record import SourceRecord
from bridge.replay.dead_letters import Selection, restore


@dataclass
class DryRunReport:
    read: int = 0
    records_to_send: int = 0
    operations: Counter[str] = field(default_factory=Counter)  # by resource
    to_skip: int = 0
    to_fail: Counter[tuple[str, str]] = field(default_factory=Counter)  # (kind, reason)
    selection: dict[str, object] = field(default_factory=dict)

    def fails(self, kind: str, message: str) -> None:
        reason = (kind, normalized(message))
        if reason in self.to_fail or len(self.to_fail) < MAX_REASONS:
            self.to_fail[reason] += 1
        else:
            self.to_fail[kind, OTHER_REASONS] += 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "read": self.read,
            **self.selection,
            "would_send": {
                "records": self.records_to_send,
                "operations": dict(sorted(self.operations.items())),
            },
            "would_skip": self.to_skip,
            "would_fail_again": [
                {"kind": kind, "reason": reason, "count": n}
                for (kind, reason), n in self.to_fail.most_common(TOP_REASONS)
            ],
            "would_fail_again_total": sum(self.to_fail.values()),
        }

    def render(self, topic: str) -> str:
        sel = self.selection
        filters = sel.get("filters") or "(none)"
        guard = f"replays that failed {sel['max_failed_replays']} times in a row, same reason"
        rows = [
            f"dry run of bridge dlq replay on {topic}: nothing is sent, dead-lettered or committed",
            f"  dead letters read                {self.read:>8,}",
            f"  not matching the filters         {sel['not_matching']:>8,}  {filters}",
            f"  held back by the loop guard      {sel['held_back']:>8,}  ({guard}"
            + ("; --force given: none held)" if sel["force"] else "; --force replays them)"),
            f"  would be replayed                {sel['chosen']:>8,}",
            "what the current mappings make of them",
            f"  would send                       {self.records_to_send:>8,}  record(s)"
            + (
                ": "
                + ", ".join(f"{n:,} {resource}" for resource, n in sorted(self.operations.items()))
                if self.operations
                else ""
            ),
            f"  would skip (no rule matches)     {self.to_skip:>8,}",
            f"  would fail again                 {sum(self.to_fail.values()):>8,}",
        ]
        rows += [
            f"    {n:>6,}  {kind}: {reason}"
            for (kind, reason), n in self.to_fail.most_common(TOP_REASONS)
        ]
        return "\n".join(rows) + "\n"


def dry_run(
    config: BridgeConfig,
    selection: Selection,
    bounds: Bounds | None = None,
    *,
    should_stop: Callable[[], bool] = lambda: False,
) -> DryRunReport:
    """Read the dead letters `bounds` choose, decide as the replay would, and map the chosen
    ones with the current mappings. Raises `KafkaClientError`."""
    reader = DeadLetterReader(config.kafka, config.dead_letter.topic)
    plan = reader.plan(bounds or Bounds())
    mapper = config.mapper(log_skips=False)
    report = DryRunReport()
    try:
        for item in reader.records(plan, should_stop=should_stop):
            if not isinstance(item, SourceRecord):  # CAUGHT_UP: the plan is read
                break
            report.read += 1
            if not selection(item):
                continue
            try:
                operations = _map(mapper, restore(item))
            except MappingError as exc:
                report.fails(exc.kind, exc.message)
                continue
            except Exception as exc:  # as the engine does: a mapping's bug costs one record
                report.fails("internal_error", f"{type(exc).__name__}: {exc}")
                continue
            if operations:
                report.records_to_send += 1
                report.operations.update(op.resource.value for op in operations)
            else:
                report.to_skip += 1
    finally:
        mapper.close()
    report.selection = {**selection.context(), **selection.counts()}
    return report


def _map(mapper: Mapper, record: SourceRecord) -> list[Any]:
    try:
        return mapper.map(record)
    except SchemaPending as pending:
        # The engine would hold the record and ask the registry until it answers; here it
        # is asked once, and a registry that does not answer is reported as such.
        try:
            pending.prepare()
            return mapper.map(record)
        except (SchemaPending, Exception) as exc:
            if isinstance(exc, MappingError):
                raise
            raise MappingError(
                "schema_unavailable",
                f"the schema registry did not give {pending.what} (a replay would wait for it)",
            ) from None
