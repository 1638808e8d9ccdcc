"""The engine's main loop: fetch, map, schedule on lanes, and the shutdown around it (the
group's rebalances are handled in bridge/engine/rebalancing.py).

    Source.poll ──> Mapper.map ──> CustomerFence ──> Lanes (per customer) ──> Delivery ──> Sender
        ^   ^          │           (an erasure after        ^          │    └──> DeadLetters
        │   │          │            its customer's jobs)    └ parked ──┘ (a refund whose order
        │   │          │                                      is not there yet steps aside)
        │   │          └──> SchemaHolds: a partition waits while the registry is asked
        │   └── Pausing: backpressure (in-flight bounds, held commits)
        └────── Committer: OffsetTracker's contiguous done prefix, every commit_interval

Everything here runs on one asyncio event loop; the Kafka consumer's calls run on their own
thread behind the `Source`.
"""

from __future__ import annotations

import asyncio
import bisect
import math
import time
from collections.abc import Callable, Hashable

import structlog

from bridge.backoff import Backoff
from bridge.engine.checkpoint import Checkpoint
from bridge.engine.coalescing import Coalescing, mergeable
from bridge.engine.committing import Committer
from bridge.engine.delivery import Delivery
from bridge.engine.fences import CustomerFence
from bridge.engine.holding import SchemaHolds
from bridge.engine.jobs import Abandoned, Job, Parked
from bridge.engine.journal import JobJournal
from bridge.engine.lanes import Lanes
from bridge.engine.pausing import Pausing
from bridge.engine.protocols import DeadLetters, Sender, Source
from bridge.engine.rebalancing import Rebalancing
from bridge.engine.settings import DeliveryConfig
from bridge.errors import KafkaClientError, MappingError, SchemaPending
from bridge.kafka.dead_letter_reason import DeadLetterReason
from bridge.mapping.mapper import Mapper
from bridge.observability.health import EngineStatus, PartitionStatus
from bridge.observability.stats import Counters, log_stats_periodically
from bridge.record import OffsetCommit, Operation, SourceRecord, TopicPartition

log = structlog.get_logger("bridge.engine")

# At the end of a stop's drain, how long what is in the air may take at most.
MAX_SHUTDOWN_AIR_WAIT = 5.0
POLL_TIMEOUT = 0.1
# A partition whose commit is held back pauses at this many times max_in_flight offsets
# between its commit position and its newest record.
SPAN_PER_IN_FLIGHT = 20
MAX_POLL_BATCH = 500


class Pipeline:
    """Moves records from a `Source` to a `Sender` (or the `DeadLetters`), and commits each
    partition up to the records that are done."""

    def __init__(
        self,
        config: DeliveryConfig,
        *,
        source: Source,
        sender: Sender,
        dead_letters: DeadLetters,
        mapper: Mapper,
        stats_interval: float = 30.0,
        restore: Callable[[SourceRecord], SourceRecord] | None = None,
        commit_offsets: bool = True,
        schema_backoff: Backoff | None = None,
        journal: JobJournal | None = None,
    ) -> None:
        """`restore`, for replays, turns a fetched record into the one to map (see
        `bridge.replay`). `commit_offsets=False` (dry runs) commits nothing at all.
        `schema_backoff`: the waits between asking an unavailable schema registry again.
        `journal`: batch jobs recorded as they are created, and a takeover's check of what
        a previous owner's jobs did (bridge/engine/journal.py)."""
        self._restore = restore
        self._config = config
        self._stats_interval = stats_interval
        self._source = source
        self._sender = sender
        self._dead_letters = dead_letters
        self._mapper = mapper
        self.counters = Counters()
        self._journal = journal
        if journal is not None:
            sender.listen_jobs(journal.created)
        # What each partition has done, what its jobs delivered for a previous owner, what
        # is committed: one object; the Kafka door only sends the commits it plans.
        self._checkpoint = Checkpoint(
            on_committed=journal.committed if journal is not None else None
        )
        self._committer = Committer(
            source, self._checkpoint, interval=config.commit_interval, enabled=commit_offsets
        )
        self._pausing = Pausing(source, config, span_per_in_flight=SPAN_PER_IN_FLIGHT)
        self._by_customer = config.ordering == "customer"
        # One customer's waiting events as one operation (bridge/engine/coalescing.py): only
        # in customer lanes, where the jobs queued behind one are that customer's. Without
        # it a lane runs `_process_one` itself: one coroutine less for each record in flight.
        coalesce = config.batch.coalesce_events and self._by_customer
        self._lanes = Lanes(self._process if coalesce else self._process_one)
        # Records are numbered as they are consumed (all partitions together), and those
        # held for their schema remembered by (tp, offset): the fence keeps an erasure behind
        # every record of its customer consumed before it (bridge/engine/fences.py).
        self._consumed = 0
        self._held_seqs: dict[tuple[TopicPartition, int], int] = {}
        self._fence = CustomerFence(by_customer=self._by_customer, held_floor=self._held_floor)
        # Jobs parked until their retry (a refund whose order is not there yet), per lane.
        self._parked: dict[Hashable, list[Job]] = {}
        self._delivery = Delivery(
            config,
            sender=sender,
            dead_letters=dead_letters,
            counters=self.counters,
            is_current=self._is_current,
            sendable=self._sendable,
            park=True,
        )
        self._in_flight = 0
        self._in_flight_bytes = 0
        self._progress = asyncio.Event()
        # For `status()`: when the main loop last turned.
        self._loop_turned_at = time.monotonic()
        # Records waiting for their schema from the registry (bridge.engine.holding).
        self._holds = SchemaHolds(
            schema_backoff or Backoff(0.5, 30.0),
            resume=self._resume,
            count=self._count_held,
            is_current=lambda tp, generation: self._rebalancing.generation.get(tp) == generation,
        )
        # The group's assignments, revokes and losses, and each partition's generation.
        self._rebalancing = Rebalancing(
            config,
            source=source,
            sender=sender,
            journal=journal,
            counters=self.counters,
            checkpoint=self._checkpoint,
            committer=self._committer,
            pausing=self._pausing,
            holds=self._holds,
            delivery=self._delivery,
            progress=self._progress,
            drop_deferred=self._drop_deferred,
        )

    @property
    def in_flight(self) -> int:
        """Records admitted and not done: being delivered, or held for their schema."""
        return self._in_flight + len(self._holds)

    def committed_offsets(self) -> dict[TopicPartition, int | None]:
        """The last offset committed per assigned partition (None: nothing yet)."""
        return self._checkpoint.committed_offsets()

    async def status(self) -> EngineStatus:
        """The engine's state now, for health checks and metrics (bridge.observability)."""
        assigned = self._rebalancing.generation
        ends = await self._source.end_offsets(list(assigned))
        committed = self._checkpoint.committed_offsets()
        partitions = {}
        for tp in assigned:
            position, end = committed.get(tp), ends.get(tp)
            partitions[tp] = PartitionStatus(
                pending=self._checkpoint.pending(tp),
                committed=position,
                lag=max(end - position, 0) if end is not None and position is not None else None,
            )
        return EngineStatus(
            at=time.monotonic(),
            loop_turned_at=self._loop_turned_at,
            assignments=self._rebalancing.assignments,
            partitions=partitions,
            in_flight=self._in_flight + len(self._holds),
            gameball_open=self._delivery.gate.is_open,
            in_flight_bytes=self._in_flight_bytes,
            lanes=len(self._lanes),
            sender=self._sender.status(),
            held_for_schema=len(self._holds),
        )

    # -- main loop ----------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event, force_stop: asyncio.Event | None = None) -> None:
        """Run until `stop` is set, then drain and close. `force_stop` cuts the drain short."""
        force_stop = force_stop or asyncio.Event()
        if self._journal is not None:
            try:
                await self._journal.start()
            except KafkaClientError as exc:
                # Not fatal: without it a crash repeats unfinished jobs, as it always did.
                log.error("job_journal.unavailable", error=str(exc))
                self._journal.disable()
        await self._source.start(self)
        background = [
            asyncio.create_task(self._committer.run(), name="commits"),
            asyncio.create_task(
                log_stats_periodically(self.counters, self.status, self._stats_interval),
                name="stats",
            ),
        ]
        try:
            while not stop.is_set():
                self._loop_turned_at = time.monotonic()
                if self._rebalancing.assignment_changed:
                    await self._rebalancing.share_rate_limits()
                sender = self._sender.status()
                # More records for batches only while Gameball answers: in an outage they
                # would only wait in their retries, 10,000 of them (~60 MB) for nothing.
                limit = self._config.in_flight_limit(sender.batching and sender.answering)
                await self._pausing.update(
                    self._rebalancing.generation.keys(),
                    max_in_flight=limit,
                    in_flight=self._in_flight,
                    in_flight_bytes=self._in_flight_bytes,
                    span=self._checkpoint.span,
                    pending=self._checkpoint.pending,
                )
                room = limit - self._in_flight
                records = await self._source.poll(min(max(room, 1), MAX_POLL_BATCH), POLL_TIMEOUT)
                for record in records:
                    self._admit(record)
        finally:
            await self._shutdown(background, force_stop)

    def _admit(self, record: SourceRecord) -> None:
        tp = (record.topic, record.partition)
        generation = self._rebalancing.generation.get(tp)
        if generation is None:  # fetched just before its partition was revoked
            return
        try:
            needed = self._checkpoint.received(tp, record.offset)
        except ValueError:
            # Fetched again (a fetch position reset after pause/resume): it is already in
            # flight or done; admitting it twice would deliver it twice.
            log.debug(
                "record.refetched",
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
            )
            return
        self.counters.received += 1
        if not needed:
            # Done by the partition's previous owner after its last commit (see offsets.py).
            self.counters.done_before += 1
            return
        self._consumed += 1
        seq = self._consumed
        if tp in self._holds:  # its partition waits for a schema: it waits behind, in order
            self._hold(tp, record, generation, seq)
            return
        try:
            self._submit(self._job(record, generation, seq))
        except SchemaPending as pending:
            self._hold(tp, record, generation, seq, pending)

    def _hold(
        self,
        tp: TopicPartition,
        record: SourceRecord,
        generation: int,
        seq: int,
        pending: SchemaPending | None = None,
    ) -> None:
        self._held_seqs[tp, record.offset] = seq
        self._holds.hold(tp, record, generation, pending)

    def _resume(self, record: SourceRecord, generation: int) -> None:
        """A held record's schema is known: map and submit it (SchemaHolds calls this)."""
        seq = self._held_seqs.get(((record.topic, record.partition), record.offset), 0)
        self._submit(self._job(record, generation, seq))

    def _job(self, record: SourceRecord, generation: int, seq: int) -> Job:
        """The record mapped (or failed to map). Raises SchemaPending: the registry must be
        asked for the record's schema first."""
        operations: list[Operation] = []
        mapping_error: MappingError | None = None
        fetched: SourceRecord | None = None
        try:
            if self._restore is not None:
                # Inside the try: a dead letter whose headers cannot be restored (edited by
                # hand, say) must cost that record, not end the replay at it every time.
                fetched, record = record, self._restore(record)
            operations = self._mapper.map(record)
        except SchemaPending:
            raise
        except MappingError as exc:
            mapping_error = exc
        except Exception as exc:  # a bug in a mapping must cost one record, not the bridge
            log.exception("mapping.unexpected_error", topic=record.topic, offset=record.offset)
            mapping_error = MappingError("internal_error", f"{type(exc).__name__}: {exc}")
        job = Job(record, operations, mapping_error, generation, fetched, seq=seq)
        if mapping_error is None:
            job.done_operations = self._checkpoint.operations_done(job.tp, job.offset)
        return job

    def _submit(self, job: Job) -> None:
        if job.mapping_error is None and len(job.done_operations) >= len(job.operations) > 0:
            # Every operation delivered by a previous owner's batch jobs (the journal).
            self.counters.done_before += 1
            self._checkpoint.completed(job.tp, job.offset)
            return
        if not job.operations and job.mapping_error is None:
            self.counters.skipped += 1
            self._checkpoint.completed(job.tp, job.offset)
            return
        self._in_flight += 1
        self._in_flight_bytes += (job.fetched or job.record).size
        self._to_lanes(self._fence.submit(job))

    def _to_lanes(self, jobs: list[Job]) -> None:
        for job in jobs:
            self._lanes.submit(self._lane_key(job), job)

    def _held_floor(self) -> float:
        """The consumption number of the earliest record held for its schema."""
        return min(self._held_seqs.values(), default=math.inf)

    def _count_held(self, record: SourceRecord, change: int) -> None:
        # Held records are not in the in-flight figures that pause every partition: they count
        # against their own partition only (its records pending, `Pausing`'s fair share), so
        # that a registry outage pauses the partitions that need a new schema and no other.
        if change < 0:
            self._held_seqs.pop(((record.topic, record.partition), record.offset), None)
            if len(self._fence):
                self._to_lanes(self._fence.release())
            self._progress.set()

    def _lane_key(self, job: Job) -> Hashable:
        if self._by_customer and job.operations:
            return job.operations[0].customer_id
        # Dead letters (and everything in partition mode) keep their partition's order.
        return job.tp

    async def _process(self, job: Job) -> None:
        """A lane's turn with `coalesce_events`: the job, with the customer's events queued
        behind it when they may travel together."""
        if mergeable(job):
            gathered = Coalescing(job)
            self._lanes.take_following(self._lane_key(job), gathered.add)
            if len(gathered.jobs) > 1:
                await self._process_merged(gathered)
                return
        await self._process_one(job)

    async def _process_merged(self, gathered: Coalescing) -> None:
        jobs = gathered.jobs
        try:
            if not self._is_current(jobs[0]):
                raise Abandoned
            try:
                alone = await self._delivery.deliver_merged(jobs, gathered.operation())
            except (Abandoned, asyncio.CancelledError):
                raise
            except Exception:  # a bug: each record goes alone, with its own verdict
                log.exception("engine.unexpected_error", **jobs[0].log_context())
                alone = jobs
        except Abandoned:
            self.counters.abandoned += len(jobs)
            for job in jobs:
                self._ended(job)
            return
        except BaseException:
            for job in jobs:
                self._ended(job)
            raise
        if not alone:
            for job in jobs:
                self._done(job)
                self._ended(job)
            return
        for index, job in enumerate(alone):
            try:
                await self._process_one(job)
            except BaseException:
                for left in alone[index + 1 :]:
                    self._ended(left)
                raise

    async def _process_one(self, job: Job) -> None:
        try:
            if not self._is_current(job):
                raise Abandoned
            try:
                await self._delivery.deliver(job)
            except (Abandoned, Parked, asyncio.CancelledError):
                raise
            except Exception as exc:  # a bug must cost one record, not its lane
                log.exception("engine.unexpected_error", **job.log_context())
                message = f"{type(exc).__name__}: {exc}"
                await self._delivery.dead_letter(job, DeadLetterReason("internal_error", message))
            self._done(job)
        except Parked as parked:
            self._park(job, parked.delay)
            return
        except Abandoned:
            self.counters.abandoned += 1
        except BaseException:
            self._ended(job)
            raise
        self._ended(job)

    def _ended(self, job: Job) -> None:
        """A job the lanes had ended: no longer in flight, and what the fence deferred
        behind it may go."""
        self._uncount(job)
        self._to_lanes(self._fence.finished(job))

    def _uncount(self, job: Job) -> None:
        self._in_flight -= 1
        self._in_flight_bytes -= (job.fetched or job.record).size
        self._progress.set()

    def _aside(self) -> int:
        """Jobs in flight that wait aside rather than work: parked, or deferred by the fence.
        A drain does not wait for them (a refund may wait minutes for its order)."""
        return sum(len(jobs) for jobs in self._parked.values()) + len(self._fence)

    def _park(self, job: Job, delay: float) -> None:
        """Out of its lane until `delay` has passed (the customer's later records go on
        meanwhile), then back at the lane's end, after the lane's other parked jobs of
        before it: parked jobs of a lane come back together, in consumption order."""
        key = self._lane_key(job)
        parked = self._parked.get(key)
        if parked is not None:
            bisect.insort(parked, job, key=lambda other: other.seq)
            return
        self._parked[key] = [job]
        asyncio.get_running_loop().call_later(delay, self._unpark, key)

    def _unpark(self, key: Hashable) -> None:
        for job in self._parked.pop(key, ()):
            self._lanes.submit(key, job)

    def _done(self, job: Job) -> None:
        # The partition may have been revoked while the request was out: then the record
        # belongs to the next owner, who will send it again (a duplicate, never a loss).
        if self._is_current(job):
            self._checkpoint.completed(job.tp, job.offset)
        else:
            self.counters.abandoned += 1

    def _is_current(self, job: Job) -> bool:
        return self._rebalancing.generation.get(job.tp) == job.generation

    def _sendable(self, job: Job) -> bool:
        """Whether a job that has sent nothing yet may start: not while its partition is
        being revoked (it belongs to the next owner, who sends it)."""
        return job.tp not in self._rebalancing.revoking and self._is_current(job)

    # -- commits ------------------------------------------------------------------------------

    async def commit(self) -> None:
        await self._committer.commit()

    # -- rebalances (called by KafkaSource on the event loop; bridge/engine/rebalancing.py) --

    async def partitions_assigned(
        self, partitions: list[TopicPartition], committed: dict[TopicPartition, OffsetCommit]
    ) -> None:
        await self._rebalancing.partitions_assigned(partitions, committed)

    async def partitions_revoked(
        self, partitions: list[TopicPartition]
    ) -> dict[TopicPartition, OffsetCommit]:
        return await self._rebalancing.partitions_revoked(partitions)

    async def partitions_lost(self, partitions: list[TopicPartition]) -> None:
        await self._rebalancing.partitions_lost(partitions)

    def _drop_deferred(self, partitions: list[TopicPartition]) -> None:
        """Released partitions' jobs deferred by the fence and never sent: their next owner
        reads them again. (Parked jobs of these partitions find their generation gone when
        they come back.)"""
        for job in self._fence.drop(partitions):
            self.counters.abandoned += 1
            self._uncount(job)
        self._to_lanes(self._fence.release())

    # -- shutdown -----------------------------------------------------------------------------

    async def _shutdown(self, background: list[asyncio.Task[None]], force: asyncio.Event) -> None:
        log.info("shutdown.started", in_flight=self._in_flight)
        # The drain: in-flight records are delivered while the partitions are still ours;
        # the last part of drain_timeout is kept for what is then in the air, once the rest
        # is withdrawn (cancelled mid-request, a record could land and be sent again).
        air_time = min(MAX_SHUTDOWN_AIR_WAIT, self._config.drain_timeout / 4)
        deadline = time.monotonic() + self._config.drain_timeout - air_time
        while self._in_flight > self._aside() and not force.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self._progress.clear()
            waiter = asyncio.create_task(self._progress.wait())
            forcer = asyncio.create_task(force.wait())
            await asyncio.wait(
                {waiter, forcer}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
            )
            waiter.cancel()
            forcer.cancel()
        self._rebalancing.withdraw_all()
        if self._in_flight and not force.is_set():
            await self._rebalancing.wait_for_the_air(set(self._rebalancing.generation), air_time)
        self._holds.drop_all()  # not done: their partitions' next owner reads them again
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        # Parked and deferred jobs are not done either: their next owner sends them.
        aside = [job for jobs in self._parked.values() for job in jobs] + self._fence.drop_all()
        self._parked.clear()
        for job in aside:
            self._uncount(job)
        abandoned = await self._lanes.cancel()
        self.counters.abandoned += abandoned + len(aside)
        await self.commit()
        self._rebalancing.closing_source()
        await self._source.close()
        if self._journal is not None:
            await self._journal.close()
        unacked = await asyncio.to_thread(self._dead_letters.close)
        await self._sender.aclose()
        self._mapper.close()
        log.info(
            "shutdown.complete", dead_letters_unacknowledged=unacked, **self.counters.snapshot()
        )
