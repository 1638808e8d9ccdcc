"""Single calls or batches, per resource: the `auto` mode's choice, with hysteresis.

A light live stream keeps single calls (each record reaches Gameball in one round trip);
when operations pile up for a resource (a backlog after an outage, a first sync, a replay),
batches lift its ceiling from the single-call rate limit (40 events/s sustained) to the batch
limit's thousands. Up as soon as `switch_up` operations wait; down only after no more than
`switch_down` have waited for `calm_for` seconds, so a stream near the threshold does not
flap.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import StrEnum

import structlog

from bridge.gameball.settings import BATCH_RESOURCES, BatchConfig
from bridge.record import Resource

log = structlog.get_logger("bridge.delivery")


class Mode(StrEnum):
    SINGLE = "single"
    BATCH = "batch"


class ModeSwitch:
    """The mode of one resource, told how many of its operations are waiting."""

    def __init__(
        self,
        resource: Resource,
        config: BatchConfig,
        *,
        on_change: Callable[[Resource, Mode], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.resource = resource
        self._config = config
        self._on_change = on_change
        self._clock = clock
        self._fixed = config.mode != "auto" or resource not in BATCH_RESOURCES
        batched = config.mode == "always" and resource in BATCH_RESOURCES
        self.mode = Mode.BATCH if batched else Mode.SINGLE
        self._calm_since: float | None = None
        self.changes = 0

    def waiting(self, count: int) -> Mode:
        """`count` operations of the resource are waiting now (handed over, unconfirmed):
        the mode the next one travels in."""
        if self._fixed:
            return self.mode
        config = self._config
        if self.mode is Mode.SINGLE:
            if count >= config.switch_up:
                self._switch(
                    Mode.BATCH, f"{count} operations waiting (switch_up: {config.switch_up})"
                )
            return self.mode
        if count > config.switch_down:
            self._calm_since = None
            return self.mode
        now = self._clock()
        if self._calm_since is None:
            self._calm_since = now
        if now - self._calm_since >= config.calm_for:
            self._switch(
                Mode.SINGLE,
                f"at most {config.switch_down} operations waiting for {config.calm_for:g} s",
            )
        return self.mode

    def single_for_good(self, reason: str) -> None:
        """The resource has no batch endpoint: single calls from now on, whatever the mode."""
        self._fixed = True
        if self.mode is Mode.BATCH:
            self._switch(Mode.SINGLE, reason)

    def _switch(self, mode: Mode, reason: str) -> None:
        self.mode = mode
        self._calm_since = None
        self.changes += 1
        log.info(
            "delivery.mode_changed", resource=self.resource.value, mode=mode.value, reason=reason
        )
        if self._on_change is not None:
            self._on_change(self.resource, mode)
