"""Operations of one resource gathered into Gameball's batch jobs, each operation's outcome
read back from the job's status.

    send(op) ──> Batch: goes when full (max_items / max_bytes), or once no more operations
                 │  are arriving and no job of the resource is unread, or at the latest
                 │  max_wait (or a batch cycle, if longer) after its first item
                 └─ POST batch/<resource> ──> {"jobId"} ──> poll the status (job_polling.py)
                      ──> per item: accepted: send() returns   refused: send() raises its error

To the caller a batched operation looks like a single call: `send` returns once Gameball
confirmed that very item, or raises the error the retry table makes of the item's failure
(the same table as a single call's answer). So the engine's rules hold unchanged: a record is
done only when every operation is confirmed; a failed item is retried (alone or in a later
batch) or dead-lettered with its own error; keys refused stop all sending.

- A job that fails as a whole, an item without an outcome, and a job not finished within
  `job_timeout`: their items are retried. A job that did finish after all has then delivered
  them twice (the one way batches add duplicates; never a loss).
- Batch creates and status calls share Gameball's "others" rate limit (payments' row in
  API.md), through the sender's limiter for it.
- Per-customer order is kept by the caller: the engine hands over at most one operation per
  customer at a time, so no two items of a customer are ever in unfinished jobs at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import orjson
import structlog

from bridge.errors import (
    DeliveryError,
    GameballAccessError,
    OutcomeUnknownError,
    PermanentDeliveryError,
    RetryableDeliveryError,
    Withdrawn,
)
from bridge.gameball.batch_status import ItemFailure, JobState, JobStatus
from bridge.gameball.client import GameballClient
from bridge.gameball.job_polling import JobTiming
from bridge.gameball.outcomes import classify
from bridge.gameball.retry_policy import NO_SUCH_ENDPOINT, RetryPolicy
from bridge.gameball.settings import BatchConfig
from bridge.record import Operation, Resource

log = structlog.get_logger("bridge.gameball")

_ENVELOPE = len(b'{"body":[]}')

# Runs one Gameball call for the batch machinery inside the sender's shaping (the "others"
# rate limit, a connection slot, the 429 hold): `call` is awaited inside it.
Shaped = Callable[[Callable[[], Awaitable[object]]], Awaitable[object]]


@dataclass(slots=True)
class BatchCounters:
    """What the batch machinery has done, for the stats line and /metrics."""

    batches_sent: int = 0
    batch_items: int = 0
    batch_items_failed: int = 0
    jobs_failed: int = 0
    jobs_timed_out: int = 0
    status_calls: int = 0
    jobs_pending: int = 0
    # Items whose job answered with a failure, by reason: the Gameball code ("3000"),
    # "http_<status>" without one, "job_failed", "job_timeout", "no_outcome".
    failed_by_reason: dict[str, int] = field(default_factory=dict)

    def snapshot(self) -> dict[str, int]:
        return {
            "batches_sent": self.batches_sent,
            "batch_items": self.batch_items,
            "batch_items_failed": self.batch_items_failed,
            "jobs_failed": self.jobs_failed,
            "jobs_timed_out": self.jobs_timed_out,
            "status_calls": self.status_calls,
            "jobs_pending": self.jobs_pending,
        }


@dataclass(slots=True)
class _Item:
    operation: Operation
    body: bytes
    result: asyncio.Future[None]
    # Asked just before the job's create call goes: False withdraws the item.
    wanted: Callable[[], bool] | None = None
    # Where the operation comes from, for the job journal (opaque here).
    origin: object = None


@dataclass(slots=True)
class _Open:
    """The batch being filled."""

    items: list[_Item] = field(default_factory=list)
    size: int = _ENVELOPE
    timer: asyncio.TimerHandle | None = None
    # When its first item came (the clock's): where an operation's batch cycle starts.
    opened: float = 0.0
    # A look at it is due once the items arriving now have all come (`_arrivals_ended`).
    checking: bool = False


class ResourceBatches:
    """The batches of one resource. `shaped` runs each Gameball call inside the sender's
    rate limit and connection slots."""

    def __init__(
        self,
        resource: Resource,
        config: BatchConfig,
        *,
        client: GameballClient,
        policy: RetryPolicy,
        shaped: Shaped,
        counters: BatchCounters,
        observe_job: Callable[[Resource, str, int, float], None] | None = None,
        no_endpoint: Callable[[Resource, str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`no_endpoint(resource, message)` is told when the batch path does not exist."""
        self.resource = resource
        self._config = config
        self._client = client
        self._policy = policy
        self._shaped = shaped
        self._counters = counters
        self._observe_job = observe_job
        self._no_endpoint = no_endpoint
        self._clock = clock
        self._open = _Open()
        # Jobs created (or being created) whose outcome is not read yet.
        self._unread = 0
        self._timing = JobTiming(config.first_poll, config.poll_interval, config.max_poll_interval)
        # Seconds from an operation handed over to its outcome (filling, the job, its status
        # read): what `auto` weighs single calls' wait against (modes.py). Learnt from the
        # completed jobs, each from its batch's first item.
        self._cycle = config.max_wait + config.first_poll
        self._jobs: set[asyncio.Task[None]] = set()
        # Told of each job created: resource, job id, its items' origins (the journal).
        self.created: Callable[[Resource, int, list[object]], None] | None = None

    async def send(
        self,
        operation: Operation,
        wanted: Callable[[], bool] | None = None,
        origin: object = None,
    ) -> None:
        """Return once Gameball confirmed the operation; raise its item's error otherwise.
        `wanted` is asked just before the job's create call: False withdraws the item.
        `origin` is handed to the `created` listener with the job's id."""
        await self.enqueue(operation, wanted, origin)

    def enqueue(
        self,
        operation: Operation,
        wanted: Callable[[], bool] | None = None,
        origin: object = None,
    ) -> asyncio.Future[None]:
        """`send` without a coroutine of its own (one less for each of the thousands of
        operations waiting for their jobs): the item's outcome, to be awaited."""
        # A copy of its own size: orjson's result keeps its 4 KiB write buffer (tracemalloc:
        # 4,096 bytes for a 90-byte body), and an item waits a whole job cycle or an outage.
        body = bytes(memoryview(orjson.dumps(operation.body)))
        if self._open.items and self._open.size + len(body) + 1 > self._config.max_bytes:
            self._flush()
        item = _Item(operation, body, asyncio.get_running_loop().create_future(), wanted, origin)
        batch = self._open
        if not batch.items:
            batch.opened = self._clock()
        batch.items.append(item)
        batch.size += len(body) + 1
        if len(batch.items) >= self._config.max_items:
            self._flush()
        else:
            loop = asyncio.get_running_loop()
            if batch.timer is None:
                # At the latest: a job unread for longer (a slow or hung one) is not waited for.
                wait = max(self._config.max_wait, self._cycle)
                batch.timer = loop.call_later(wait, self._flush)
            self._look_soon(batch)
        return item.result

    def _look_soon(self, batch: _Open) -> None:
        """Look at the batch once the operations woken with the latest have come too (those
        of one job's customers come together, the moment the job is read)."""
        if not batch.checking:
            batch.checking = True
            asyncio.get_running_loop().call_soon(self._arrivals_ended, batch)

    def _arrivals_ended(self, batch: _Open) -> None:
        """No more operations are coming at this moment: the batch goes now unless a job
        of the resource is still unread. Then it waits for that job, whose customers' next
        operations join it the moment it is read: a backlog of few customers travels in one
        job per round rather than in groups that each wait their turn, and a live stream
        makes one job at a time, no more often than jobs take (each costs calls under the
        "others" limit)."""
        batch.checking = False
        if batch is self._open and batch.items and not self._unread:
            self._flush()

    def _flush(self) -> None:
        batch, self._open = self._open, _Open()
        if batch.timer is not None:
            batch.timer.cancel()
        items = [item for item in batch.items if not item.result.done()]  # not cancelled
        if not items:
            return
        self._unread += 1
        task = asyncio.create_task(
            self._run(items, batch.opened), name=f"batch:{self.resource.value}"
        )
        self._jobs.add(task)
        task.add_done_callback(self._jobs.discard)

    def cycle(self) -> float:
        """Seconds from an operation handed over to its outcome, lately."""
        return self._cycle

    async def _run(self, items: list[_Item], opened: float) -> None:
        try:
            await self._job(items, opened)
        finally:
            # Read (or given up on): a batch that waited for it goes once the operations
            # its outcome woke have joined.
            self._unread -= 1
            if self._open.items:
                self._look_soon(self._open)

    async def _job(self, items: list[_Item], opened: float) -> None:
        counters = self._counters

        async def create() -> int | None:
            # Inside the "others" slot, right before the wire: an item whose partition was
            # revoked meanwhile is withdrawn (its next owner sends it), not sent by us too.
            nonlocal items
            live = []
            for item in items:
                if item.result.done():
                    continue
                if item.wanted is not None and not item.wanted():
                    item.result.set_exception(
                        Withdrawn("withdrawn: its partition was revoked before the job was created")
                    )
                    continue
                live.append(item)
            items = live
            if not items:
                return None
            body = b'{"body":[' + b",".join(item.body for item in items) + b"]}"
            return await self._client.create_batch(self.resource, body)

        try:
            job_id = await self._shaped(create)
        except asyncio.CancelledError:
            _settle(items, asyncio.CancelledError())
            raise
        except GameballAccessError as exc:
            if exc.code is not None or exc.status not in NO_SUCH_ENDPOINT or not self._no_endpoint:
                _settle(items, exc)
                return
            # No batch endpoint at this base URL (an account or a Gameball without the batch
            # API): the resource falls back to single calls for good, and these items are
            # sent again that way instead of stopping all sending.
            self._no_endpoint(self.resource, exc.message)
            _settle(items, RetryableDeliveryError(f"no batch endpoint: {exc.message}"))
            return
        except Exception as exc:
            # The create call itself failed: every item takes its error, as a single call
            # would (retried, dead-lettered or stopping all sending, by the retry table). No
            # one awaits this task: whatever went wrong reaches the senders, not the loop.
            _settle(items, exc)
            return
        if job_id is None:  # every item withdrawn: no job
            return
        assert isinstance(job_id, int)
        if self.created is not None:
            # Before anything else: a crash from here on leaves the job's id for the next
            # owner of its records, who asks Gameball what it did (bridge/engine/journal.py).
            self.created(self.resource, job_id, [item.origin for item in items])
        counters.batches_sent += 1
        counters.batch_items += len(items)
        counters.jobs_pending += 1
        started = self._clock()
        state = "timed_out"
        try:
            status = await self._until_finished(job_id, len(items), started)
            state = "timed_out" if status is None else status.state.value
            if status is None:
                await self._stop(job_id)
            elif status.state is JobState.COMPLETED:
                self._cycle += (self._clock() - opened - self._cycle) * 0.3
            self._settle_job(job_id, items, status)
        except asyncio.CancelledError:
            state = "cancelled"  # shut down while the job ran: neither failed nor timed out
            _settle(items, asyncio.CancelledError())
            raise
        except Exception as exc:
            # A status call refused the keys (401/403/6000: every item stops for the access
            # gate, and is sent again once it opens, a duplicate if this job had landed), or
            # a bug: the senders take it, as above, and it counts as a failed job.
            state = JobState.FAILED.value
            counters.jobs_failed += 1
            for _item in items:
                self._count_failure("job_failed")
            _settle(items, exc)
        finally:
            counters.jobs_pending -= 1
            seconds = self._clock() - started
            if self._observe_job is not None:
                self._observe_job(self.resource, state, len(items), seconds)

    async def outcome_of(self, job_id: int, count: int) -> JobStatus | None:
        """A job another process created (found in the journal): its final status, asked
        until it finishes; None when it does not within `job_timeout`. A job Gameball does
        not know (a 404) comes back failed, no item known: the journal sends them again."""
        return await self._until_finished(job_id, count, self._clock(), learn=False)

    async def _stop(self, job_id: int) -> None:
        """Stop a job given up on, before its items are sent again: left running, it would
        keep its customers busy (Gameball answers their resends 2001) and could still apply
        them. Best effort: if the call fails, the resends retry their 2001s until it ends."""
        try:
            await self._shaped(lambda: self._client.stop_batch(job_id))
        except DeliveryError as exc:
            log.warning(
                "batch.stop_failed", resource=self.resource.value, job_id=job_id, error=exc.message
            )

    async def _until_finished(
        self, job_id: int, count: int, started: float, *, learn: bool = True
    ) -> JobStatus | None:
        """The job's final status, or None once `job_timeout` has passed without one.
        `learn`: what the first call finds teaches when to ask (not for another process's
        jobs, whose age is unknown)."""
        config = self._config
        delays = self._timing.delays()
        first = learn
        while True:
            remaining = started + config.job_timeout - self._clock()
            if remaining <= 0:
                return None
            await asyncio.sleep(min(next(delays), remaining))
            self._counters.status_calls += 1
            try:
                answer = await self._shaped(lambda: self._client.batch_status(job_id, count))
            except PermanentDeliveryError as exc:
                # No such job (a 404), or refused for good: nothing tells what landed.
                return JobStatus(JobState.FAILED, message=f"status call refused: {exc.message}")
            except RetryableDeliveryError as exc:
                # An outage or a 429 on the status call: the job runs on meanwhile.
                log.warning(
                    "batch.status_failed",
                    resource=self.resource.value,
                    job_id=job_id,
                    error=exc.message,
                )
                answer = None
            assert answer is None or isinstance(answer, JobStatus)
            if first and answer is not None:
                self._timing.first_call_found(answer.state is not JobState.PENDING)
            first = False
            if answer is not None and answer.state is not JobState.PENDING:
                return answer

    def _settle_job(self, job_id: int, items: list[_Item], status: JobStatus | None) -> None:
        counters = self._counters
        if status is None:
            counters.jobs_timed_out += 1
            message = (
                f"batch job {job_id} did not finish within {self._config.job_timeout:g} s; "
                "its items are sent again"
            )
            log.warning("batch.job_timed_out", resource=self.resource.value, job_id=job_id)
            self._fail_all(items, OutcomeUnknownError(message), "job_timeout")
            return
        if status.state is JobState.FAILED:
            counters.jobs_failed += 1
            message = f"batch job {job_id} failed" + (
                f": {status.message}" if status.message else ""
            )
            log.warning(
                "batch.job_failed", resource=self.resource.value, job_id=job_id, error=message
            )
            self._fail_all(items, OutcomeUnknownError(message), "job_failed")
            return
        if status.message:
            # The answer contradicts itself: only its failures are taken (batch_status.py).
            log.warning(
                "batch.status_doubtful",
                resource=self.resource.value,
                job_id=job_id,
                reason=status.message,
                items=len(items),
                failures=len(status.items),
            )
        for index, item in enumerate(items):
            error: DeliveryError | None = None
            if index not in status.items:
                # Nothing in the answer says it landed: sent again, as a single call (whose
                # answer is certain), never counted delivered.
                error = OutcomeUnknownError(
                    f"batch job {job_id}: no certain outcome for item {index}", single=True
                )
                self._count_failure("no_outcome")
            elif (failure := status.items[index]) is not None:
                # None when the retry table calls the answer delivered (9004: the order
                # exists already, from an earlier attempt).
                error = self._item_error(failure)
                if error is not None:
                    code = failure.code
                    self._count_failure(str(code) if code is not None else f"http_{failure.status}")
            if item.result.done():
                continue
            if error is None:
                item.result.set_result(None)
            else:
                item.result.set_exception(error)

    def _item_error(self, failure: ItemFailure) -> DeliveryError | None:
        body = orjson.dumps({"code": failure.code, "message": failure.message})
        return classify(failure.status, {}, body, self._policy)

    def _fail_all(self, items: list[_Item], error: DeliveryError, reason: str) -> None:
        for item in items:
            self._count_failure(reason)
            if not item.result.done():
                item.result.set_exception(error)

    def _count_failure(self, reason: str) -> None:
        counters = self._counters
        counters.batch_items_failed += 1
        counters.failed_by_reason[reason] = counters.failed_by_reason.get(reason, 0) + 1

    async def aclose(self) -> None:
        if self._open.timer is not None:
            self._open.timer.cancel()
        # The batch still filling is never sent: its senders end, cancelled.
        _settle(self._open.items, asyncio.CancelledError())
        self._open = _Open()
        jobs = list(self._jobs)
        for job in jobs:
            job.cancel()
        await asyncio.gather(*jobs, return_exceptions=True)


def _settle(items: list[_Item], exc: BaseException) -> None:
    """Every item not settled yet takes `exc` (a CancelledError cancels it)."""
    for item in items:
        if not item.result.done():
            if isinstance(exc, asyncio.CancelledError):
                item.result.cancel()
            else:
                item.result.set_exception(exc)
