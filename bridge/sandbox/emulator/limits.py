"""Gameball's rate limits: a request count per second and per 30 seconds, per bucket."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from types import MappingProxyType

from bridge.operations import Resource

from .endpoints import ENDPOINTS

# (per second, per 30 s) per bucket, from API.md's table. Payments, refunds, and every batch
# call (a batch's creation, its status, stopping it) share Gameball's "transactions, coupons,
# others" bucket: "others" here.
DEFAULT_LIMITS: Mapping[str, tuple[int, int]] = MappingProxyType(
    {
        "events": (100, 1200),
        "orders": (30, 360),
        "customers": (30, 360),
        "others": (30, 360),
    }
)
# The bucket each endpoint counts in (endpoints.py; "batches": the batch endpoints), from the
# operation table's: refunds and cancellations count with payments, in "others".
_BUCKET_NAMES = {
    Resource.EVENTS: "events",
    Resource.ORDERS: "orders",
    Resource.CUSTOMERS: "customers",
    Resource.PAYMENTS: "others",
}
BUCKETS: Mapping[str, str] = MappingProxyType(
    {**{e.name: _BUCKET_NAMES[e.bucket] for e in ENDPOINTS}, "batches": "others"}
)

_SHORT_WINDOW = 1.0
_LONG_WINDOW = 30.0


def merge_limits(overrides: Mapping[str, tuple[int, int]] | None) -> dict[str, tuple[int, int]]:
    """The default limits with `overrides` applied; an override may name a bucket or a
    resource that counts in one ("payments" and "batches" both set "others")."""
    merged = dict(DEFAULT_LIMITS)
    for name, pair in (overrides or {}).items():
        bucket = BUCKETS.get(name, name)
        if bucket not in merged:
            raise ValueError(
                f"unknown bucket for rate limits: {name!r} (known: {', '.join(DEFAULT_LIMITS)})"
            )
        per_second, per_30s = pair
        if not (isinstance(per_second, int) and isinstance(per_30s, int)):
            raise ValueError(f"rate limits for {name!r} must be two integers")
        if per_second < 1 or per_30s < 1:
            raise ValueError(f"rate limits for {name!r} must be positive")
        merged[bucket] = (per_second, per_30s)
    return merged


class RateLimiter:
    """Sliding-window limiter: exact, because it keeps the times of the latest admitted
    requests (at most the larger limit per bucket). Rejected requests are not counted,
    so a client that keeps knocking while limited is not locked out for longer."""

    def __init__(self, limits: Mapping[str, tuple[int, int]] | None = None) -> None:
        self._limits = merge_limits(limits)
        self._admitted = {r: deque[float](maxlen=max(pair)) for r, pair in self._limits.items()}

    @property
    def limits(self) -> dict[str, tuple[int, int]]:
        return dict(self._limits)

    def acquire(self, bucket: str, now: float) -> float:
        """Admit a request to `bucket` at `now` (monotonic seconds) and return 0.0, or return
        how many seconds until one would be admitted."""
        admitted = self._admitted[bucket]
        per_second, per_30s = self._limits[bucket]
        wait = 0.0
        count = len(admitted)
        if count >= per_second:
            wait = admitted[-per_second] + _SHORT_WINDOW - now
        if count >= per_30s:
            wait = max(wait, admitted[-per_30s] + _LONG_WINDOW - now)
        if wait > 0:
            return wait
        admitted.append(now)
        return 0.0
