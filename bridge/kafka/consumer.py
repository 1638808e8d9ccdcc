"""The consumer door: a confluent-kafka consumer driven from asyncio.

librdkafka's consumer is not thread-safe, so every call into it runs on one dedicated thread,
and the engine awaits them. Rebalance callbacks fire inside `consume()` on that thread; they
are forwarded to the engine's async `RebalanceListener` on the event loop and waited for,
which is what lets the engine finish work and commit before a partition is released.

    ConsumerDoor   the thread, polling, commits, pause/resume, the callbacks, fatal errors
    ├── KafkaSource   the live source: subscribes, joins the group's rebalances, reads the
    │                 group's commits at an assignment, leaves the group at close
    └── RangeSource   a replay's source (range_source.py): fixed offset ranges, assigned by
                      hand, read through their ends
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import re
import time
from collections.abc import Sequence
from typing import Any, cast

import structlog
from confluent_kafka import Consumer, KafkaError, KafkaException, Message
from confluent_kafka import TopicPartition as KafkaTopicPartition

from bridge.errors import KafkaClientError
from bridge.kafka.properties import INSTANCE_ID, consumer_properties
from bridge.kafka.rebalance import RebalanceListener
from bridge.kafka.settings import KafkaConfig
from bridge.record import OffsetCommit, SourceRecord, TopicPartition

log = structlog.get_logger("bridge.kafka")

# How long a leaving static member waits for its revoke and LeaveGroup (then closes anyway,
# and its partitions wait out the session timeout).
LEAVE_TIMEOUT = 10.0
MAX_DROPPED = 500
# A revoke's commit refused for the group's generation is tried again for this long.
REVOKE_COMMIT_RETRY = 3.0
COMMIT_RETRY_INTERVAL = 0.2
GENERATION_ERRORS = frozenset(
    {
        KafkaError.ILLEGAL_GENERATION,
        KafkaError.REBALANCE_IN_PROGRESS,
        # KIP-848's name for the same: the member's epoch moved on.
        KafkaError.STALE_MEMBER_EPOCH,
    }
)


def leaves_group_on_close(config: KafkaConfig) -> bool:
    """Whether close() must leave the group explicitly: a dynamic member leaves on close by
    itself; a static one only when `leave_group_on_shutdown` says so."""
    return bool(config.instance_id) and config.leave_group_on_shutdown


def to_record(msg: Message) -> SourceRecord:
    # A message without error always has topic, partition and offset; the stubs allow None.
    headers = cast(list[tuple[str, bytes | None]] | None, msg.headers())
    ts_type, ts = msg.timestamp()
    return SourceRecord(
        topic=cast(str, msg.topic()),
        partition=cast(int, msg.partition()),
        offset=cast(int, msg.offset()),
        value=msg.value(),
        key=msg.key(),
        headers=tuple(headers) if headers else (),
        timestamp_ms=ts if ts_type else None,
    )


class ConsumerDoor:
    """A consumer on its own thread, handing out records as `SourceRecord`s to the engine and
    committing what it plans: what the live source and a replay's source share. A subclass
    says how the consumer gets its partitions (`_begin`), what it does before closing, which
    records it hands out, and how many partitions the group spans."""

    def __init__(self, props: dict[str, Any]) -> None:
        self._props = props
        self._props["error_cb"] = self._on_error
        self._instance_id = self._props.get(INSTANCE_ID, "")
        self._thread = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="kafka")
        self._consumer: Any = None
        self._listener: RebalanceListener | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # Set by the first fatal error (a fenced instance id): from then on this consumer
        # commits nothing, and the next poll ends the run.
        self._fatal: KafkaError | None = None

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self, listener: RebalanceListener) -> None:
        self._listener = listener
        self._loop = asyncio.get_running_loop()
        await self._run(self._start)

    def _start(self) -> None:
        try:
            self._consumer = Consumer(self._props)
            self._begin()
        except KafkaException as exc:
            raise KafkaClientError(f"cannot start the Kafka consumer: {exc}") from exc

    def _begin(self) -> None:
        """Get the consumer its partitions (on the Kafka thread)."""
        raise NotImplementedError

    async def close(self) -> None:
        """Give up the partitions (revoking, and so committing, what is done) and close."""
        if self._consumer is not None:
            await self._run(self._before_close)
            await self._run(self._consumer.close)
        self._thread.shutdown(wait=True)

    def _before_close(self) -> None:
        """What comes before closing the consumer (on the Kafka thread)."""

    async def partition_count(self) -> int:
        """The partitions the group spans now (for its members' share of the rate limits)."""
        raise NotImplementedError

    def _take(self, record: SourceRecord) -> bool:
        """Whether a fetched record is handed out."""
        return True

    def _polled(self) -> None:
        """After each poll (on the Kafka thread)."""

    def _committed(
        self, partitions: list[KafkaTopicPartition]
    ) -> dict[TopicPartition, OffsetCommit]:
        """What an assignment starts from: none by default."""
        return {}

    async def _run(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn, *args)

    # -- records ------------------------------------------------------------------------------

    async def poll(self, max_records: int, timeout: float) -> list[SourceRecord]:
        result: list[SourceRecord] = await self._run(self._poll, max_records, timeout)
        return result

    def _poll(self, max_records: int, timeout: float) -> list[SourceRecord]:
        records = []
        for msg in self._consumer.consume(num_messages=max_records, timeout=timeout):
            err = msg.error()
            if err is None:
                record = to_record(msg)
                if self._take(record):
                    records.append(record)
            elif self._is_fatal(err):
                break
            else:
                log.warning("kafka.consume_error", error=err.str(), code=err.name())
        if self._fatal is not None:
            raise KafkaClientError(self._fatal_message())
        self._polled()
        return records

    async def commit(
        self, offsets: dict[TopicPartition, OffsetCommit]
    ) -> dict[TopicPartition, OffsetCommit]:
        """Commit synchronously; return the part of `offsets` the broker accepted."""
        accepted: dict[TopicPartition, OffsetCommit] = await self._run(self._commit, offsets)
        return accepted

    def _commit(
        self, offsets: dict[TopicPartition, OffsetCommit], *, retry_for: float = 0.0
    ) -> dict[TopicPartition, OffsetCommit]:
        """Commit; return the part of `offsets` the broker accepted. `retry_for`: seconds
        during which a commit refused for the group's generation is tried again (a revoke's
        commit: a second join bumps the generation while the first rebalance's revoke runs,
        librdkafka #4059, and a revoked partition's done records would then be sent again by
        its next owner)."""
        accepted: dict[TopicPartition, OffsetCommit] = {}
        deadline = time.monotonic() + retry_for
        pending = dict(offsets)
        while True:
            done, refused = self._commit_once(pending)
            accepted.update(done)
            pending = {tp: offsets[tp] for tp in refused}
            if not pending or time.monotonic() >= deadline:
                break
            time.sleep(COMMIT_RETRY_INTERVAL)
        for tp, error in refused.items():
            if retry_for > 0:
                log.warning(
                    "kafka.commit_failed", topic=tp[0], partition=tp[1], error=error, retried=True
                )
            else:
                # A periodic commit met a rebalance under way: the next interval commits the
                # same offsets (or the revoke does, if the partition moves).
                log.info("kafka.commit_deferred", topic=tp[0], partition=tp[1], error=error)
        return accepted

    def _commit_once(
        self, offsets: dict[TopicPartition, OffsetCommit]
    ) -> tuple[dict[TopicPartition, OffsetCommit], dict[TopicPartition, str]]:
        """One commit: what the broker accepted, and what it refused for the generation
        (worth trying again, with the one the member has by then) with the reason."""
        if not offsets or self._fatal is not None:
            # Fenced: another member owns these partitions now; librdkafka refuses the commit
            # too, but it must not even be tried.
            return {}, {}
        # A commit for a partition that has moved to another member would overwrite the new
        # owner's position; the plan may predate the rebalance, so check ownership here.
        owned = {(tp.topic, tp.partition) for tp in self._consumer.assignment()}
        request = [
            KafkaTopicPartition(t, p, c.offset, c.metadata)
            for (t, p), c in offsets.items()
            if (t, p) in owned
        ]
        if not request:
            return {}, {}
        try:
            result = self._consumer.commit(offsets=request, asynchronous=False)
        except KafkaException as exc:
            error = exc.args[0]
            if isinstance(error, KafkaError) and error.code() in GENERATION_ERRORS:
                return {}, {(tp.topic, tp.partition): error.name() for tp in request}
            log.warning("kafka.commit_failed", error=str(error), partitions=len(offsets))
            return {}, {}
        accepted = {}
        refused = {}
        for tp in result or []:
            key = (tp.topic, tp.partition)
            if tp.error is None:
                accepted[key] = offsets[key]
            elif tp.error.code() in GENERATION_ERRORS:
                refused[key] = tp.error.name()
            else:
                log.warning(
                    "kafka.commit_failed",
                    topic=tp.topic,
                    partition=tp.partition,
                    error=str(tp.error),
                )
        return accepted, refused

    async def pause(self, partitions: list[TopicPartition]) -> None:
        await self._run(self._pause_resume, partitions, True)

    async def resume(self, partitions: list[TopicPartition]) -> None:
        await self._run(self._pause_resume, partitions, False)

    def _pause_resume(self, partitions: list[TopicPartition], pause: bool) -> None:
        tps = [KafkaTopicPartition(t, p) for t, p in partitions]
        try:
            (self._consumer.pause if pause else self._consumer.resume)(tps)
        except KafkaException as exc:
            # A partition revoked a moment ago: nothing to pause or resume any more.
            log.debug("kafka.pause_resume_failed", error=str(exc.args[0]), pause=pause)

    async def end_offsets(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        """Each partition's high watermark as last seen by the fetcher (no broker round-trip);
        partitions not fetched from yet are left out."""
        result: dict[TopicPartition, int] = await self._run(self._end_offsets, partitions)
        return result

    def _end_offsets(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        ends: dict[TopicPartition, int] = {}
        for topic, partition in partitions:
            try:
                _low, high = self._consumer.get_watermark_offsets(
                    KafkaTopicPartition(topic, partition), cached=True
                )
            except KafkaException:
                continue
            if high >= 0:
                ends[(topic, partition)] = high
        return ends

    # -- rebalance callbacks (run on the Kafka thread, inside consume()) ----------------------

    def _call_listener(self, coro: Any) -> Any:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def _on_assign(self, _consumer: Any, partitions: list[KafkaTopicPartition]) -> None:
        assert self._listener is not None
        tps = [(tp.topic, tp.partition) for tp in partitions]
        self._call_listener(self._listener.partitions_assigned(tps, self._committed(partitions)))

    def _on_revoke(self, _consumer: Any, partitions: list[KafkaTopicPartition]) -> None:
        # Revoked (an orderly rebalance, or our own close): the partitions are still ours for
        # the length of this callback, so what is done is committed now, or the next owner
        # would deliver it again.
        if self._fatal is not None:
            # A fenced member's close revokes what another member holds already: lost.
            self._on_lost(_consumer, partitions)
            return
        assert self._listener is not None
        tps = [(tp.topic, tp.partition) for tp in partitions]
        offsets = self._call_listener(self._listener.partitions_revoked(tps))
        if offsets:
            self._commit(offsets, retry_for=REVOKE_COMMIT_RETRY)

    def _on_lost(self, _consumer: Any, partitions: list[KafkaTopicPartition]) -> None:
        # Lost (session timed out, fenced): another member may own them already, and a commit
        # from us could move its position backwards or forwards. Commit nothing.
        assert self._listener is not None
        tps = [(tp.topic, tp.partition) for tp in partitions]
        self._call_listener(self._listener.partitions_lost(tps))

    def _on_error(self, err: KafkaError) -> None:
        # librdkafka reports transient trouble (broker down, DNS) here and retries by itself;
        # a fatal error (runs inside consume(), like the callbacks) ends the run at this poll.
        if self._is_fatal(err):
            return
        log.warning("kafka.client_error", error=err.str(), code=err.name(), fatal=False)

    def _is_fatal(self, err: KafkaError) -> bool:
        """Whether `err` is fatal; the first one is remembered and logged. consume() hands
        a fatal error out as a message error coded _FATAL (its flag unset) whose text names
        the cause; the error callback would have the cause's code and the flag."""
        if not (err.fatal() or err.code() == KafkaError._FATAL):
            return False
        if self._fatal is None:
            self._fatal = err
            if self._fenced():
                log.error(
                    "kafka.instance_fenced",
                    instance_id=self._instance_id,
                    error=err.str(),
                    hint="another process runs with this kafka.instance_id: give each its own",
                )
            else:
                log.error("kafka.fatal_error", error=err.str(), code=err.name())
        return True

    def _fenced(self) -> bool:
        # A static member's only fatal error in librdkafka's consumer (KIP-345).
        return self._fatal is not None and (
            self._fatal.code() == KafkaError.FENCED_INSTANCE_ID
            or "fenced" in self._fatal.str().lower()
        )

    def _fatal_message(self) -> str:
        assert self._fatal is not None
        if self._fenced():
            return (
                f"kafka.instance_id {self._instance_id!r} was taken over by another consumer"
                " of the group (each instance needs its own id); this one stopped"
            )
        return f"fatal Kafka consumer error: {self._fatal.str()}"


class KafkaSource(ConsumerDoor):
    """Subscribes to the configured topics and hands out their records, in the group's
    rebalances (the live source, `bridge run`)."""

    def __init__(self, config: KafkaConfig, topics: Sequence[str] = ()) -> None:
        super().__init__(consumer_properties(config))
        self._leave_on_close = leaves_group_on_close(config)
        self._topics = list(topics)

    def _begin(self) -> None:
        self._consumer.subscribe(
            self._topics,
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
        )

    def _before_close(self) -> None:
        """A static member (an instance id) does not leave on close (KIP-345): its
        partitions wait for it until the session times out. With `leave_group_on_shutdown`
        it leaves first, by unsubscribing; the revoke, and its commit, then happen there, and
        close() has nothing left to revoke."""
        if self._leave_on_close and self._fatal is None:
            self._leave_group()

    def _leave_group(self) -> None:
        # unsubscribe() only queues the revoke: it is served by consume(), and LeaveGroup goes
        # out once it is done. close() must not come first, for a closing static member skips
        # LeaveGroup; the member id, cleared as the member leaves, says when it has gone.
        try:
            self._consumer.unsubscribe()
        except KafkaException as exc:
            log.warning("kafka.leave_group_failed", error=str(exc.args[0]))
            return
        deadline = time.monotonic() + LEAVE_TIMEOUT
        while self._consumer.memberid() and time.monotonic() < deadline:
            # Records fetched meanwhile are dropped: never handed out, they stay uncommitted
            # for the next owner.
            for msg in self._consumer.consume(num_messages=MAX_DROPPED, timeout=0.1):
                err = msg.error()
                if err is not None and self._is_fatal(err):
                    return
        if self._consumer.memberid():
            log.warning("kafka.leave_group_failed", error="no answer", timeout=LEAVE_TIMEOUT)
        else:
            log.info("kafka.left_group", instance_id=self._instance_id)

    async def partition_count(self) -> int:
        """The partitions the subscription spans now, over the whole group: its names and
        `^` patterns matched against the cluster's topics."""
        count: int = await self._run(self._partition_count)
        return count

    def _partition_count(self) -> int:
        metadata = self._consumer.list_topics(timeout=10)
        patterns = [re.compile(spec) for spec in self._topics if spec.startswith("^")]
        names = {spec for spec in self._topics if not spec.startswith("^")}
        return sum(
            len(topic.partitions)
            for name, topic in metadata.topics.items()
            # librdkafka searches a "^" pattern unanchored at the end, as here.
            if name in names
            or (not name.startswith("__") and any(p.search(name) for p in patterns))
        )

    def _committed(
        self, partitions: list[KafkaTopicPartition]
    ) -> dict[TopicPartition, OffsetCommit]:
        """The group's commit of each partition that has one: offset and metadata, as
        written (the engine reads the metadata)."""
        if not partitions:
            return {}
        try:
            committed = self._consumer.committed(partitions, timeout=10)
        except KafkaException as exc:
            # Without it we only send more duplicates, so carry on.
            log.warning("kafka.committed_metadata_unavailable", error=str(exc.args[0]))
            return {}
        return {
            (tp.topic, tp.partition): OffsetCommit(tp.offset, tp.metadata or "")
            for tp in committed
            if tp.offset >= 0
        }
