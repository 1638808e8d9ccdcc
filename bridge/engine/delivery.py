"""Deliver one job: post its operations in order with retries, or dead-letter the record.

What each Gameball answer leads to is decided by the retry table
(`bridge.gameball.retry_policy`, applied in `outcomes.classify`); this module carries it out:

- retryable (timeouts, connection errors, 5xx, 2001): retried with backoff, and dead-lettered
  only when the table bounds its attempts (4000/4500: `retry:5`) or its time (a refund whose
  order is not there yet: `retry_for:600`, from the first such answer; such a job is parked
  between its retries, out of its lane, so that the order queued behind it can go first);
- 429: wait at least as long as the sender holds the resource (Retry-After, else a backoff);
- permanent (other 4xx): dead-lettered at once;
- stop (401/403/6000): the gate closes for everyone; the record waits and is kept.

A job whose partition is being revoked is *withdrawn* wherever it waits (a lane, a retry's
backoff, a rate-limit slot, a batch not yet created): nothing of it reaches Gameball from us,
and its next owner sends it. A job that has reached the wire is *busy* until it ends: the
revoke waits for it (bounded), so that what is in the air finishes, is committed, and is not
sent again by the next owner.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable

import structlog

from bridge.backoff import Backoff
from bridge.engine.access_gate import AccessGate
from bridge.engine.jobs import Abandoned, Job, Parked
from bridge.engine.protocols import DeadLetters, Sender
from bridge.engine.settings import DeliveryConfig
from bridge.errors import (
    DeadLetterError,
    DeliveryError,
    GameballAccessError,
    OutcomeUnknownError,
    PermanentDeliveryError,
    RateLimitedError,
    RetryableDeliveryError,
    Withdrawn,
)
from bridge.kafka.dead_letter_reason import DeadLetterReason
from bridge.observability.stats import Counters
from bridge.record import Operation, TopicPartition

log = structlog.get_logger("bridge.engine")


class Delivery:
    def __init__(
        self,
        config: DeliveryConfig,
        *,
        sender: Sender,
        dead_letters: DeadLetters,
        counters: Counters,
        is_current: Callable[[Job], bool],
        sendable: Callable[[Job], bool] | None = None,
        park: bool = False,
    ) -> None:
        """`is_current(job)`: its partition is still assigned under the job's generation (a
        job that is not may do nothing more). `sendable(job)`: a job that has sent nothing
        yet may start (False while its partition is being revoked); default: `is_current`.
        `park`: a job whose operation's reference is not there yet raises `Parked` between
        its retries, rather than waiting in its lane (the pipeline's lanes)."""
        self._park = park
        self._sender = sender
        self._dead_letters = dead_letters
        self._counters = counters
        self._is_current = is_current
        self._sendable = sendable or is_current
        # Per partition, the jobs that reached the wire and have not ended.
        self._busy: Counter[TopicPartition] = Counter()
        self._backoff = Backoff(config.retry.initial_backoff, config.retry.max_backoff)
        self.gate = AccessGate(config.retry.access_retry_interval)

    def busy(self, tp: TopicPartition) -> int:
        """Jobs of `tp` that reached the wire (a request sent, or in a created batch job) and
        have not ended: what a revoke waits for."""
        return self._busy[tp]

    async def deliver(self, job: Job) -> None:
        """Return once the job is done (delivered or dead-lettered). Raises `Abandoned`."""
        if job.mapping_error is not None:
            error = job.mapping_error
            reason = DeadLetterReason(error.kind, error.message, schema_id=error.schema_id)
            await self.dead_letter(job, reason)
            return
        turn = _Turn(self, job)
        if job.sent:
            # Back from being parked, some of its operations delivered: it finishes while its
            # partition is ours, as a job whose first request went does.
            turn.begin()
        try:
            # The operations in order (not a coroutine of their own: one less for each of the
            # records in flight).
            for index, operation in enumerate(job.operations):
                if index in job.done_operations or (job.sent and index in job.sent):
                    continue
                origin = (job.tp[0], job.tp[1], job.offset, index)
                failure, attempts = await self._send(turn, operation, origin)
                if failure is not None:
                    exhausted = isinstance(failure, RetryableDeliveryError)
                    reason = DeadLetterReason(
                        kind="retries_exhausted" if exhausted else failure.kind,
                        message=f"{operation.label}: {failure.message}",
                        attempts=attempts,
                        http_status=failure.status,
                        gameball_code=failure.code,
                    )
                    await self.dead_letter(job, reason)
                    return
                if job.sent is None:
                    job.sent = set()
                job.sent.add(index)
                job.attempts = 0
                job.pending_since = None
            self._counters.delivered += 1
        finally:
            turn.end()

    async def deliver_merged(self, jobs: list[Job], merged: Operation) -> list[Job]:
        """Send `merged`, the events of `jobs` (consecutive records of one customer and one
        partition: bridge/engine/coalescing.py), as one operation. Return the jobs still to
        be delivered one by one: none once Gameball accepted it; all of them when it was
        refused for good, its retries ran out, or it would park, so that each record gets
        its own verdict. Raises `Abandoned`."""
        lead = jobs[0]
        group = Job(lead.record, [merged], None, lead.generation, lead.fetched, seq=lead.seq)
        turn = _Turn(self, group)
        origins = tuple((job.tp[0], job.tp[1], job.offset, 0) for job in jobs)
        try:
            failure, _ = await self._send(turn, merged, origins)
        except Parked:
            return jobs
        finally:
            turn.end()
        if failure is not None:
            log.info(
                "delivery.merged_refused",
                **group.log_context(),
                records=len(jobs),
                kind=failure.kind,
                code=failure.code,
                error=failure.message,
            )
            return jobs
        self._counters.delivered += len(jobs)
        return []

    async def _send(
        self, turn: _Turn, operation: Operation, origin: object
    ) -> tuple[DeliveryError | None, int]:
        """Post until accepted (None) or failed for good (the error); with the attempt count.
        Raises `Parked` when Gameball says what the operation refers to is not there yet and
        this delivery parks such jobs (the attempts and the wait so far are kept in the
        job, and go on counting when it comes back). `origin`: where the operation comes
        from, for the batch-job journal (one origin, or a merged operation's several)."""
        job = turn.job
        attempt = job.attempts
        # Answers under a `retry:N` rule, per Gameball code (or status): N of *those* answers
        # dead-letter the record. Timeouts and 5xx during an outage are not the record's
        # fault and must not use up the budget of a later generic failure.
        bounded: dict[int | None, int] | None = None  # made when first needed
        unknown: OutcomeUnknownError | None = None  # the last attempt may have landed
        while True:
            attempt += 1
            probe = await self.gate.enter()
            sent = False
            try:
                if not (self._is_current(job) if turn.started else self._sendable(job)):
                    raise Abandoned
                # From here the request may reach the wire: a probe that ends without a
                # verdict then waits an interval before the next one.
                sent = True
                if unknown is not None:
                    self._counters.resent_unknown += 1
                waited = await self._sender.send(
                    operation,
                    # A single call: the retry of a batch item whose outcome is unknown, and
                    # any operation Gameball's batch API does not take (a refund, a tag, an
                    # erasure, which count in a batched resource's bucket all the same).
                    single=unknown is not None and unknown.single,
                    wanted=turn.wanted,
                    origin=origin,
                )
                if waited > 0.001:
                    self._counters.rate_limit_waits += 1
            except Withdrawn:
                if probe:
                    self.gate.probe_ended(sent=False)
                raise Abandoned from None
            except GameballAccessError as exc:
                self.gate.denied(exc)
                attempt -= 1  # not the record's attempt: its fate waits on the operator
                continue
            except PermanentDeliveryError as exc:
                # Gameball checks the keys before the body: a rejected record means they
                # were accepted, so a probe answered this way opens the gate.
                self.gate.succeeded()
                return exc, attempt
            except RetryableDeliveryError as exc:
                unknown = exc if isinstance(exc, OutcomeUnknownError) else None
                if probe:
                    self.gate.probe_ended(sent=True)
                if exc.max_attempts is not None:
                    bounded = bounded if bounded is not None else {}
                    key = exc.code if exc.code is not None else exc.status
                    bounded[key] = bounded.get(key, 0) + 1
                    if bounded[key] >= exc.max_attempts:
                        return exc, attempt
                delay = self._retry_delay(exc, attempt)
                if exc.retry_for is not None:
                    # When the first answer under a `retry_for:S` rule came, per code (a
                    # refund whose order is not there yet waits S seconds from then, however
                    # many attempts that is).
                    if job.pending_since is None:
                        job.pending_since = {}
                    key = exc.code if exc.code is not None else exc.status
                    now = time.monotonic()
                    first = job.pending_since.setdefault(key, now)
                    if now - first >= exc.retry_for:
                        return exc, attempt
                    # The last attempt at the end of the wait, not a backoff past it.
                    delay = min(delay, first + exc.retry_for - now)
                self._log_retry(job, exc, attempt, delay)
                if exc.retry_for is not None and self._park:
                    # What it refers to may be behind it in its own lane (a refund consumed
                    # before its order): it steps aside and comes back after the delay.
                    job.attempts = attempt
                    raise Parked(delay) from exc
            except BaseException:
                # Abandoned (revoked), cancelled at shutdown, or a bug: whatever it was, the
                # probe must not stay claimed by a request that is gone.
                if probe:
                    self.gate.probe_ended(sent=sent)
                raise
            else:
                self.gate.succeeded()
                self._counters.requests += 1
                return None, attempt
            await asyncio.sleep(delay)

    def _retry_delay(self, exc: RetryableDeliveryError, attempt: int) -> float:
        backoff = self._backoff.delay(attempt)
        if isinstance(exc, RateLimitedError) and exc.retry_after is not None:
            # Never sooner than the sender holds the resource (Gameball's Retry-After).
            return max(exc.retry_after, backoff)
        return backoff

    def _log_retry(self, job: Job, exc: DeliveryError, attempt: int, delay: float) -> None:
        self._counters.retried += 1
        log.warning(
            "gameball.retry",
            **job.log_context(),
            kind=exc.kind,
            status=exc.status,
            code=exc.code,
            error=exc.message,
            attempt=attempt,
            retry_in=round(delay, 3),
        )

    async def dead_letter(self, job: Job, reason: DeadLetterReason) -> None:
        """Write the record to the dead-letter topic, retrying until the broker acknowledges
        it: until then its offset is not done, so nothing is lost if this never succeeds."""
        attempt = 0
        while True:
            attempt += 1
            self._check_current(job)
            try:
                await self._dead_letters.write(job.record, reason)
            except DeadLetterError as exc:
                delay = self._backoff.delay(attempt)
                log.error(
                    "dead_letter.write_failed",
                    **job.log_context(),
                    dead_letter_topic=self._dead_letters.topic,
                    error=str(exc),
                    attempt=attempt,
                    retry_in=round(delay, 3),
                )
                await asyncio.sleep(delay)
                continue
            self._counters.dead_lettered += 1
            log.warning(
                "record.dead_lettered",
                **job.log_context(),
                dead_letter_topic=self._dead_letters.topic,
                kind=reason.kind,
                reason=reason.message,
                status=reason.http_status,
                code=reason.gameball_code,
                attempts=reason.attempts,
            )
            return

    def _check_current(self, job: Job) -> None:
        if not self._is_current(job):
            raise Abandoned


class _Turn:
    """One turn of a job in its lane, as the sender sees it (an object rather than closures:
    one of these is kept for each of the 10,000 records in flight while batching)."""

    __slots__ = ("_delivery", "job", "started")

    def __init__(self, delivery: Delivery, job: Job) -> None:
        self._delivery = delivery
        self.job = job
        # A request of the job reached the wire (or a created batch job holds it).
        self.started = False

    def wanted(self) -> bool:
        """Asked by the sender at the last moment before the wire. Once one request of the
        job went, the job finishes (its record's later operations too) while its partition
        is ours, revoking or not: stopping half-way would make the next owner send the
        first ones again."""
        if self.started:
            return self._delivery._is_current(self.job)
        if not self._delivery._sendable(self.job):
            return False
        self.begin()
        return True

    def begin(self) -> None:
        self.started = True
        self._delivery._busy[self.job.tp] += 1

    def end(self) -> None:
        if self.started:
            busy = self._delivery._busy
            tp = self.job.tp
            busy[tp] -= 1
            if not busy[tp]:
                del busy[tp]
