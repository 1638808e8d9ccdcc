"""Single calls or batches, per resource: the `auto` mode's choice, with hysteresis.

A light live stream keeps single calls (each record reaches Gameball in one round trip);
when single calls cannot keep up (a backlog after an outage, a first sync, a replay, a live
stream above the single-call limit), batches lift the resource's ceiling from the single-call
rate limit (40 events/s sustained) to the batch limit's thousands.

    up, when either crosses:                  down, when both hold for `calm_for`:
      operations waiting >= switch_up           operations waiting <= switch_down
      single calls held  >= the wait threshold  operations arriving <= KEEP_UP x the rate
                                                  single calls sustain

What a single call would be held is the rate limiter's own figure (`SinglePath.wait_ahead`:
the calls queued before it, at the paced rate). It sees a backlog of few customers, which
the waiting count cannot: one customer's records go one at a time, so at most one operation
per customer waits, and 150 customers never make 200 wait, while 150 calls queued at 40/s
are held almost 4 s. A batch carries every waiting customer once per batch cycle (filling,
the job, its status read), single calls go at the sustained rate: with W seconds of calls
queued, batches are W / cycle times faster, so the threshold is `switch_up_wait`, and never
less than BATCH_ADVANTAGE batch cycles (as the batches measure them).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from enum import StrEnum
from typing import Protocol

import structlog

from bridge.gameball.settings import BATCH_RESOURCES, BatchConfig
from bridge.record import Resource

log = structlog.get_logger("bridge.delivery")

# Single calls must be held this many batch cycles before batches take over: at one cycle the
# two are even, and the switch itself costs the calls already queued.
BATCH_ADVANTAGE = 1.5
# Back to single calls only while operations arrive at no more than this part of the rate
# single calls sustain: above it they would queue again at once, and switch up again.
KEEP_UP = 0.8


class Mode(StrEnum):
    SINGLE = "single"
    BATCH = "batch"


class SinglePath(Protocol):
    """How single calls of the resource fare (`bridge.gameball.rate_limits.ResourceLimiter`)."""

    def wait_ahead(self) -> float | None:
        """Seconds a single call asked for now would be held; None: unknown (no rate)."""
        ...

    def sustained_rate(self) -> float:
        """Single calls per second that can go for as long as it takes."""
        ...


class ModeSwitch:
    """The mode of one resource, told how many of its operations are waiting."""

    def __init__(
        self,
        resource: Resource,
        config: BatchConfig,
        *,
        single: SinglePath | None = None,
        batch_cycle: Callable[[], float] | None = None,
        on_change: Callable[[Resource, Mode], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`single`: the single calls' limiter (None: unlimited). `batch_cycle`: seconds from
        an operation handed to a batch to its outcome, as measured lately."""
        self.resource = resource
        self._config = config
        self._single = single
        self._batch_cycle = batch_cycle
        self._on_change = on_change
        self._clock = clock
        self._fixed = config.mode != "auto" or resource not in BATCH_RESOURCES
        batched = config.mode == "always" and resource in BATCH_RESOURCES
        self.mode = Mode.BATCH if batched else Mode.SINGLE
        self._calm_since: float | None = None
        self._arrivals = 0
        self._arrivals_at_calm = 0
        self.changes = 0

    def batching(self) -> bool:
        return self.mode is Mode.BATCH

    def arrived(self) -> None:
        """One operation of the resource was handed over (for its arrival rate)."""
        self._arrivals += 1

    def waiting(self, count: int) -> Mode:
        """`count` operations of the resource are waiting now (handed over, unconfirmed):
        the mode the next one travels in."""
        if self._fixed:
            return self.mode
        if self.mode is Mode.SINGLE:
            self._maybe_up(count)
        else:
            self._maybe_down(count)
        return self.mode

    def _maybe_up(self, count: int) -> None:
        config = self._config
        if count >= config.switch_up:
            reason = f"{count} operations waiting (switch_up: {config.switch_up})"
            self._switch(Mode.BATCH, reason, figure=count, threshold=config.switch_up)
            return
        wait = self._single.wait_ahead() if self._single is not None else None
        if wait is None:
            return
        threshold = self.wait_threshold()
        if wait >= threshold:
            reason = f"single calls held {wait:.2f} s (threshold {threshold:.2f} s)"
            self._switch(Mode.BATCH, reason, figure=round(wait, 3), threshold=round(threshold, 3))

    def _maybe_down(self, count: int) -> None:
        config = self._config
        if count > config.switch_down:
            self._calm_since = None
            return
        now = self._clock()
        if self._calm_since is None:
            self._calm_since, self._arrivals_at_calm = now, self._arrivals
        calm = now - self._calm_since
        if calm < config.calm_for:
            return
        arriving = (self._arrivals - self._arrivals_at_calm) / calm if calm > 0 else 0.0
        sustained = self._single.sustained_rate() if self._single is not None else math.inf
        keep_up = KEEP_UP * sustained
        if arriving > keep_up:
            # Calm at the sender, but single calls could not take this stream: stay, and
            # look again over the next calm_for.
            self._calm_since, self._arrivals_at_calm = now, self._arrivals
            return
        reason = (
            f"at most {config.switch_down} operations waiting for {config.calm_for:g} s, "
            f"{arriving:.1f}/s arriving"
            + (f" (single calls sustain {sustained:.1f}/s)" if math.isfinite(sustained) else "")
        )
        self._switch(
            Mode.SINGLE,
            reason,
            figure=round(arriving, 2),
            threshold=round(keep_up, 2) if math.isfinite(keep_up) else None,
        )

    def wait_threshold(self) -> float:
        """How long single calls must be held for batches to take over."""
        cycle = self._batch_cycle() if self._batch_cycle is not None else 0.0
        return max(self._config.switch_up_wait, BATCH_ADVANTAGE * cycle)

    def single_for_good(self, reason: str) -> None:
        """The resource has no batch endpoint: single calls from now on, whatever the mode."""
        self._fixed = True
        if self.mode is Mode.BATCH:
            self._switch(Mode.SINGLE, reason)

    def _switch(
        self,
        mode: Mode,
        reason: str,
        *,
        figure: float | None = None,
        threshold: float | None = None,
    ) -> None:
        self.mode = mode
        self._calm_since = None
        self.changes += 1
        log.info(
            "delivery.mode_changed",
            resource=self.resource.value,
            mode=mode.value,
            reason=reason,
            figure=figure,
            threshold=threshold,
        )
        if self._on_change is not None:
            self._on_change(self.resource, mode)
