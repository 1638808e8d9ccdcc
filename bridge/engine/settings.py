"""The engine's settings: the `delivery` section (ordering, in-flight bounds, commits, drain,
retries and backoff)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from bridge.gameball.settings import RetryTable
from bridge.settings import DAY, Frozen


class RetryConfig(RetryTable):
    initial_backoff: float = Field(default=0.2, gt=0, le=DAY)
    max_backoff: float = Field(default=30.0, gt=0, le=DAY)
    # While Gameball refuses the keys or the account, one request tries again this often.
    access_retry_interval: float = Field(default=60.0, gt=0, le=DAY)


class DeliveryConfig(Frozen):
    # "customer": one request at a time per customer, customers concurrently.
    # "partition": one request at a time per partition (strict partition order).
    ordering: Literal["customer", "partition"] = "customer"
    max_in_flight: int = Field(default=500, ge=1)
    # And at most this many bytes of record keys and values in flight.
    max_in_flight_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    commit_interval: float = Field(default=1.0, gt=0, le=DAY)
    drain_timeout: float = Field(default=30.0, ge=0, le=DAY)
    retry: RetryConfig = RetryConfig()
