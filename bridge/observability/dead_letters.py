"""The process's own tally of the dead letters it wrote, by kind and reason: totals since
start (for /metrics) and the last hour in minute buckets (for the status page).

A reason here is what can be shown to anyone who can reach the metrics port: the kind, the
HTTP status and Gameball code of a refusal, and the source topic. Never a message, a key, a
value or a customer id: `add` is not even given the record.

Fed on the engine's loop (the dead-letter producer's `observe` hook), read by the HTTP
thread: a lock keeps the two apart. Memory is bounded: 60 buckets, and keys drawn from few
values (kinds, codes, topics).
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass

WINDOW_S = 3600
BUCKET_S = 60

# kind, HTTP status, Gameball code, source topic
Key = tuple[str, int | None, int | None, str]


@dataclass(frozen=True, slots=True)
class DeadLetterRow:
    kind: str
    http_status: int | None
    gameball_code: int | None
    topic: str
    count: int
    last_at: float  # epoch seconds


class RecentDeadLetters:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: deque[tuple[int, Counter[Key]]] = deque()  # (minute, counts)
        self._totals: Counter[Key] = Counter()
        self._last_at: dict[Key, float] = {}

    def add(self, topic: str, kind: str, http_status: int | None, code: int | None) -> None:
        now = self._clock()
        minute = int(now // BUCKET_S)
        key = (kind, http_status, code, topic)
        with self._lock:
            if not self._buckets or self._buckets[-1][0] != minute:
                self._buckets.append((minute, Counter()))
                self._forget(minute)
            self._buckets[-1][1][key] += 1
            self._totals[key] += 1
            self._last_at[key] = now

    def _forget(self, minute: int) -> None:
        while self._buckets and self._buckets[0][0] <= minute - WINDOW_S // BUCKET_S:
            self._buckets.popleft()

    def last_hour(self) -> list[DeadLetterRow]:
        """Dead letters of the last hour (to the minute), most first."""
        minute = int(self._clock() // BUCKET_S)
        counts: Counter[Key] = Counter()
        with self._lock:
            self._forget(minute)
            for _minute, bucket in self._buckets:
                counts.update(bucket)
            last = dict(self._last_at)
        return [
            DeadLetterRow(kind, status, code, topic, n, last[kind, status, code, topic])
            for (kind, status, code, topic), n in sorted(
                counts.items(), key=lambda item: (-item[1], str(item[0]))
            )
        ]

    def totals(self) -> dict[Key, int]:
        """Every dead letter since the process started, by key."""
        with self._lock:
            return dict(self._totals)
