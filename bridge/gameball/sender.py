"""The door to Gameball: hand over an operation, get its outcome.

    GameballSender.send(operation)
        ├─ ModeSwitch: single call or batch, per resource (`delivery.batch.mode`; `auto`
        │              reads the operations waiting and the limiter's wait)
        ├─ single: RateLimiter (the resource's windows, its 429 hold) ─> connection slot ─>
        │          GameballClient.send: the HTTP request, its answer classified
        └─ batch:  ResourceBatches: gathered into a job, the item's own outcome read back;
                   each create and status call under the "others" limit and a connection slot

Everything that shapes traffic on the wire lives behind this one call, as httpx keeps
connection pooling behind `AsyncBaseTransport`: the engine decides *what* to send and what an
outcome means for the record (retry, dead-letter, stop); the sender decides *how* it travels.
An outcome is the return (accepted) or one of the bridge's `DeliveryError`s.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import httpx
import structlog

from bridge.backoff import Backoff
from bridge.errors import (
    DeliveryError,
    GameballAccessError,
    RateLimitedError,
    RetryableDeliveryError,
    Withdrawn,
)
from bridge.gameball.batch_status import JobStatus
from bridge.gameball.batching import BatchCounters, ResourceBatches
from bridge.gameball.client import GameballClient, RequestObserver
from bridge.gameball.modes import Mode, ModeSwitch
from bridge.gameball.rate_limits import RateLimiter, SlotDeclined
from bridge.gameball.retry_policy import DEFAULT_POLICY, RetryPolicy
from bridge.gameball.settings import BATCH_RESOURCES, BatchConfig, GameballConfig
from bridge.gameball.status import SenderStatus
from bridge.record import Operation, Resource

log = structlog.get_logger("bridge.gameball")

# Gameball's rate-limit table has one row for "transactions, coupons, others (payments,
# batches)": batch creates and status calls count where payments do.
OTHERS = Resource.PAYMENTS

# Gameball stops counting as answering once every call has failed for this long: an outage,
# not one record's bad answer among good ones.
FAILING_AFTER = 1.0

# Told of each finished batch job: resource, final state (completed, failed, timed_out),
# items, seconds from creation (bridge.observability.metrics).
JobObserver = Callable[[Resource, str, int, float], None]


class AnswerWatch:
    """Whether Gameball is answering, from its calls' outcomes: any answer but a 5xx or a
    refusal of the keys counts (a 4xx is an answer); none at all (a timeout, a refused
    connection) does not. Not known to answer before the first answer."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._answered: float | None = None
        self._failed: float | None = None

    def answered(self) -> None:
        self._answered = self._clock()

    def failed(self) -> None:
        self._failed = self._clock()

    def answering(self) -> bool:
        if self._answered is None:
            return False
        if self._failed is None or self._failed < self._answered:
            return True
        return self._clock() - self._answered < FAILING_AFTER


class GameballSender:
    def __init__(
        self,
        config: GameballConfig,
        *,
        policy: RetryPolicy = DEFAULT_POLICY,
        backoff: Backoff | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        observe: RequestObserver | None = None,
        observe_job: JobObserver | None = None,
        batch: BatchConfig | None = None,
    ) -> None:
        """`backoff` spaces the holds after a 429 without Retry-After (the engine's retry
        backoff); `batch` chooses single calls or batches (None: single calls only)."""
        batch = batch or BatchConfig(mode="never")
        self._client = GameballClient(
            config,
            policy=policy,
            transport=transport,
            observe=observe,
            status_path=batch.status_path,
        )
        limits = config.rate_limits
        # share: auto takes the group's fraction from the first assignment on
        # (`partitions_owned`); until then (and without a group) the whole account.
        self._auto_share = limits.fixed_share is None
        self._limits = RateLimiter(limits.windows(), share=limits.fixed_share or 1.0)
        self._assigned_before = False
        # No more requests in flight than the HTTP pools have connections: a request queued
        # for a connection would otherwise count its wait against the pool timeout.
        self._connections = asyncio.Semaphore(config.max_connections)
        self._backoff = backoff or Backoff(0.2, 30.0)
        # 429s in a row per resource: each hold without Retry-After grows like a backoff.
        self._rate_limited: dict[Resource, int] = {}
        self._waiting = dict.fromkeys(Resource, 0)
        self._answers = AnswerWatch()
        self._batch_counters = BatchCounters()
        self._batches = {
            resource: ResourceBatches(
                resource,
                batch,
                client=self._client,
                policy=policy,
                shaped=self._others,
                counters=self._batch_counters,
                observe_job=observe_job,
                no_endpoint=self._no_batch_endpoint,
            )
            for resource in BATCH_RESOURCES
        }
        self._modes = {
            resource: ModeSwitch(
                resource,
                batch,
                single=self._limits.of(resource),
                batch_cycle=self._batches[resource].cycle if resource in self._batches else None,
                on_change=self._mode_changed,
            )
            for resource in Resource
        }

    async def send(
        self,
        operation: Operation,
        *,
        single: bool = False,
        wanted: Callable[[], bool] | None = None,
        origin: object = None,
    ) -> float:
        """Send one operation; return the seconds it waited for room under the rate limits.
        Raises a `DeliveryError` saying what Gameball's answer (or its absence) means.
        `single`: a single call whatever the mode (the retry of a batch item whose outcome
        the job's status left unknown: a single call's answer is certain). `wanted` is asked
        at the last moment before the request reaches the wire (its rate-limit slot taken,
        or its batch's create call about to go): False withdraws it (`Withdrawn`). `origin`
        goes with a batched operation to the `jobs_created` listener."""
        if not operation.batchable:
            # No batch endpoint for it (a refund, tags, an erasure): a single call, and not
            # counted among the resource's waiting operations, which decide its mode.
            return await self._single(operation, wanted)
        resource = operation.resource
        switch = self._modes[resource]
        self._waiting[resource] += 1
        switch.arrived()
        try:
            if switch.waiting(self._waiting[resource]) is Mode.BATCH and not single:
                await self._batches[resource].enqueue(operation, wanted, origin)
                return 0.0
            if single:
                return await self._single(operation, wanted)
            try:
                # Queued for a single call's slot when the resource switches to batches: it
                # joins the batches rather than wait its turn at the single-call rate (the
                # calls queued at the switch would otherwise hold their customers' lanes
                # for seconds: 200 calls at 40/s are 5 s).
                return await self._single(operation, wanted, declined=switch.batching)
            except SlotDeclined:
                await self._batches[resource].enqueue(operation, wanted, origin)
                return 0.0
        finally:
            self._waiting[resource] -= 1
            switch.waiting(self._waiting[resource])

    async def _single(
        self,
        operation: Operation,
        wanted: Callable[[], bool] | None,
        declined: Callable[[], bool] | None = None,
    ) -> float:
        """Raises `SlotDeclined` when `declined` says so before the call is let go."""

        async def call() -> float:
            if wanted is not None and not wanted():
                raise Withdrawn("withdrawn: its partition was revoked before it was sent")
            return await self._client.send(operation)

        waited, _ = await self._shaped(operation.resource, call, declined)
        return waited

    def _mode_changed(self, resource: Resource, mode: Mode) -> None:
        if mode is Mode.BATCH:
            self._limits.of(resource).wake()  # its queued single calls move to batches

    async def _others(self, call: Callable[[], Awaitable[object]]) -> object:
        """A batch create or status call: they count in Gameball's "others" row."""
        _, result = await self._shaped(OTHERS, call)
        return result

    async def _shaped(
        self,
        resource: Resource,
        call: Callable[[], Awaitable[object]],
        declined: Callable[[], bool] | None = None,
    ) -> tuple[float, object]:
        """Make one Gameball call under `resource`'s rate limit and a connection slot; return
        the seconds it waited for the limit, and what `call` returned."""
        # The rate-limit slot first: a lane waiting for its resource's window (or a 429
        # hold) must not sit on one of the connections that the other resources need.
        async with self._limits.slot(resource, declined) as waited, self._connections:
            try:
                result = await call()
            except Withdrawn:
                raise  # never sent: says nothing of Gameball
            except RateLimitedError as exc:
                self._answers.answered()
                raise self._held(resource, exc) from None
            except GameballAccessError:
                self._answers.failed()
                raise
            except RetryableDeliveryError as exc:
                if exc.status is None or exc.status >= 500:
                    self._answers.failed()
                else:
                    self._answers.answered()
                raise
            except DeliveryError:
                self._answers.answered()
                raise
            self._answers.answered()
            self._rate_limited.pop(resource, None)
            return waited, result

    def partitions_owned(self, owned: int, total: int | None) -> None:
        """After a rebalance: this instance holds `owned` of the group's `total` partitions
        (None: not known yet). With `share: auto` it takes that fraction of the account's
        limits, at once, larger or smaller: the limiter paces requests, so shares can move
        with the partitions (bridge/gameball/rate_limits.py). Before the count is first
        known, nothing: the records fetched with a first assignment would otherwise go out
        at the whole account's rate."""
        if not self._auto_share:
            return
        if total is None or total <= 0:
            if not self._assigned_before:
                self._limits.set_share(0.0)
            return
        self._assigned_before = True
        share = owned / total
        if share == self._limits.share:
            return
        self._limits.set_share(share)
        log.info("rate_limits.share_changed", share=round(share, 4), partitions=f"{owned}/{total}")

    def listen_jobs(self, created: Callable[[Resource, int, list[object]], None]) -> None:
        """Tell `created(resource, job_id, origins)` of every batch job as it is created."""
        for batches in self._batches.values():
            batches.created = created

    async def job_outcome(self, resource: Resource, job_id: int, count: int) -> JobStatus | None:
        """The final status of a job another process created (the journal's), or None."""
        batches = self._batches.get(resource)
        return await batches.outcome_of(job_id, count) if batches is not None else None

    def _no_batch_endpoint(self, resource: Resource, message: str) -> None:
        self._modes[resource].single_for_good(f"no batch endpoint ({message}): single calls")

    def status(self) -> SenderStatus:
        # auto's way down is also checked here, not only when an operation comes: once a
        # backlog is drained and nothing more arrives, the mode (and with it the engine's
        # in-flight bound) returns to single calls after calm_for all the same. The engine
        # asks for the status at every turn of its loop.
        for resource, switch in self._modes.items():
            switch.waiting(self._waiting[resource])
        counters = self._batch_counters
        return SenderStatus(
            modes={r.value: s.mode.value for r, s in self._modes.items()},
            waiting={r.value: n for r, n in self._waiting.items()},
            batches=counters.snapshot(),
            batch_items_failed_by_reason=dict(counters.failed_by_reason),
            mode_changes=sum(s.changes for s in self._modes.values()),
            share=self._limits.share,
            answering=self._answers.answering(),
        )

    def _held(self, resource: Resource, exc: RateLimitedError) -> RateLimitedError:
        """Over the account's limit (another client on it, or a smaller limit than
        documented): hold every request of this resource, not just this one, for Retry-After
        (never less than a backoff, so "Retry-After: 0" is no tight loop). The error says
        how long, so the caller waits at least as long."""
        count = self._rate_limited[resource] = self._rate_limited.get(resource, 0) + 1
        hold = max(exc.retry_after or 0.0, self._backoff.delay(count))
        self._limits.hold(resource, hold)
        return RateLimitedError(
            exc.message,
            status=exc.status,
            code=exc.code,
            retry_after=hold,
            max_attempts=exc.max_attempts,
        )

    async def aclose(self) -> None:
        for batches in self._batches.values():
            await batches.aclose()
        await self._client.aclose()
