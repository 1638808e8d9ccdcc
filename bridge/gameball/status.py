"""What the Gameball door is doing, as plain data: the stats line, health, /metrics and the
engine's protocols read it without importing the door (bridge/gameball/sender.py)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class SenderStatus:
    """What the door is doing, for the stats line, health and /metrics."""

    # Resource -> "single" or "batch".
    modes: dict[str, str] = field(default_factory=dict)
    # Resource -> operations handed over and not yet confirmed.
    waiting: dict[str, int] = field(default_factory=dict)
    batches: dict[str, int] = field(default_factory=dict)
    batch_items_failed_by_reason: dict[str, int] = field(default_factory=dict)
    mode_changes: int = 0
    # The fraction of the account's rate limits this instance uses now.
    share: float = 1.0
    # Gameball answers (bridge/gameball/sender.py): False before its first answer, and once
    # every call has failed for a while (an outage, or the keys refused).
    answering: bool = True

    @property
    def batching(self) -> bool:
        return "batch" in self.modes.values()
