"""Exponential backoff with full jitter (AWS architecture blog, "Exponential Backoff And
Jitter"): spreading retries uniformly keeps a fleet of retrying lanes from hitting a
recovering Gameball in lockstep."""

from __future__ import annotations

import random


class Backoff:
    def __init__(self, initial: float, cap: float, *, rng: random.Random | None = None) -> None:
        self.initial = initial
        self.cap = cap
        self._rng = rng or random.Random()

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        ceiling = min(self.cap, self.initial * 2 ** min(attempt - 1, 32))
        return self._rng.uniform(0, ceiling)
