"""The engine's settings: the `delivery` section (ordering, in-flight bounds, commits, drain,
retries and backoff)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from bridge.gameball.settings import BatchConfig, RetryTable
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
    # Short: a record confirmed since the last commit is sent again after a crash (SIGKILL), so
    # the interval bounds what a crash repeats beyond the requests in the air; a commit is one
    # small request to the group coordinator.
    commit_interval: float = Field(default=0.25, gt=0, le=DAY)
    drain_timeout: float = Field(default=30.0, ge=0, le=DAY)
    retry: RetryConfig = RetryConfig()
    # Single calls or Gameball's batch API (bridge/gameball/batching.py).
    batch: BatchConfig = BatchConfig()

    def batching(self) -> BatchConfig:
        """The batch settings as the sender uses them. Operations wait at the sender only
        while their records are in flight, so `auto` switches up at half of max_in_flight
        at the latest (with switch_down below it), whatever switch_up says."""
        batch = self.batch
        up = min(batch.switch_up, max(2, self.max_in_flight // 2))
        if up == batch.switch_up:
            return batch
        return batch.model_copy(
            update={"switch_up": up, "switch_down": min(batch.switch_down, up // 4)}
        )

    def in_flight_limit(self, batching: bool) -> int:
        """Records in flight at most: more while batching, so that batches can fill."""
        return max(self.max_in_flight, self.batch.max_in_flight) if batching else self.max_in_flight
