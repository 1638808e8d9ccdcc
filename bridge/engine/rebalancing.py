"""The engine's side of the group's changes: what is done when the consumer group assigns,
revokes or loses partitions, and the bookkeeping that tells the rest of the engine a record
whose partition is still ours from one whose partition has moved on.

- an assignment numbers each partition anew (its generation: a job carries the number its
  partition had when the record was admitted, and a job whose partition now has another
  number, or none, is sent no more and not committed: its record is the next owner's),
  asks the job journal what a previous owner's unfinished batch jobs delivered, and hands
  the checkpoint the group's commit;
- a revoke withdraws the partitions' records that have not reached the wire, waits a little
  for those in the air, and returns the commit to make before the partitions go;
- a loss (the group went on without us) lets go at once and commits nothing: another member
  may own the partitions already;
- after each change the sender is told what part of the group's partitions this instance
  holds: its share of Gameball's rate limits (bridge/gameball/rate_limits.py).

The `Source` calls these on the event loop, through the `Pipeline` (the `RebalanceListener`
it was started with), while the consumer's own thread waits for each call to return.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import structlog

from bridge.engine.checkpoint import Checkpoint
from bridge.engine.committing import Committer
from bridge.engine.delivery import Delivery
from bridge.engine.holding import SchemaHolds
from bridge.engine.journal import JobJournal, Recovered
from bridge.engine.pausing import Pausing
from bridge.engine.protocols import Sender, Source
from bridge.engine.settings import DeliveryConfig
from bridge.observability.stats import Counters, partition_names
from bridge.record import OffsetCommit, TopicPartition

log = structlog.get_logger("bridge.engine")

# How long a revoke waits at most for the revoked partitions' records that are in the air (a
# request sent, a batch job created): the group's rebalance waits for us meanwhile, so this is
# kept short. Records not yet sent are withdrawn at once and do not count.
MAX_REVOKE_WAIT = 10.0


class Rebalancing:
    """The partitions assigned (`generation`) and being revoked (`revoking`), kept by the
    group's calls. `progress` is set by the engine whenever a record stops being in flight;
    `drop_deferred(partitions)` gives up the records of released partitions that the engine
    holds back without sending them."""

    def __init__(
        self,
        config: DeliveryConfig,
        *,
        source: Source,
        sender: Sender,
        journal: JobJournal | None,
        counters: Counters,
        checkpoint: Checkpoint,
        committer: Committer,
        pausing: Pausing,
        holds: SchemaHolds,
        delivery: Delivery,
        progress: asyncio.Event,
        drop_deferred: Callable[[list[TopicPartition]], None],
    ) -> None:
        self._config = config
        self._source = source
        self._sender = sender
        self._journal = journal
        self._counters = counters
        self._checkpoint = checkpoint
        self._committer = committer
        self._pausing = pausing
        self._holds = holds
        self._delivery = delivery
        self._progress = progress
        self._drop_deferred = drop_deferred
        self.generation: dict[TopicPartition, int] = {}
        self._next_generation = 0
        # Partitions being revoked (or all, while shutting down): their records that have
        # not reached the wire are withdrawn; those in the air finish and are committed.
        self.revoking: set[TopicPartition] = set()
        # How many assignments the group has made, for `Pipeline.status()` (an empty one
        # too: more instances than partitions leaves some idle).
        self.assignments = 0
        # The subscription's partition count, for the sender's share of the rate limits;
        # looked up again after each rebalance (`share_rate_limits`).
        self._partition_count = 0
        self.assignment_changed = False
        self._closing = False

    def withdraw_all(self) -> None:
        """Shutting down: every partition's records that have not reached the wire are
        withdrawn, as at a revoke."""
        self.revoking |= self.generation.keys()

    def closing_source(self) -> None:
        """The source is about to close, which revokes every partition: the stop has
        already waited for what was in the air (unless forced not to) and ended the lanes,
        so those revokes wait for nothing."""
        self._closing = True

    async def share_rate_limits(self) -> None:
        """Tell the sender what part of the group's partitions this instance holds. Outside
        the rebalance callbacks: the partition count asks the cluster, on the consumer's own
        thread, which the callbacks occupy."""
        self.assignment_changed = False
        try:
            self._partition_count = await self._source.partition_count()
        except Exception:  # the count is asked again at the next rebalance
            log.exception("engine.partition_count_failed")
            return
        self._sender.partitions_owned(len(self.generation), self._partition_count)

    def _assignment_moved(self) -> None:
        # A smaller share applies at once, with the count known so far (none yet at a first
        # assignment: the sender then sends nothing until it is); the main loop asks for the
        # current count and tells the sender again.
        self.assignment_changed = True
        self._sender.partitions_owned(len(self.generation), self._partition_count or None)

    async def partitions_assigned(
        self, partitions: list[TopicPartition], committed: dict[TopicPartition, OffsetCommit]
    ) -> None:
        self.assignments += 1
        if self._partition_count and partitions:
            # The larger share at once (the previous owners let go before this assignment):
            # the journal's status calls below need it, and a member whose first assignment
            # was empty would otherwise ask them with none.
            self._sender.partitions_owned(
                len(self.generation.keys() | set(partitions)), self._partition_count
            )
        recovered = Recovered()
        if self._journal is not None and partitions:
            # Before any record of these partitions is handed out: what did the jobs a
            # previous owner left unfinished deliver? (The consumer's thread waits for this.)
            offsets = {tp: commit.offset for tp, commit in committed.items()}
            recovered = await self._journal.recover(partitions, offsets, self._sender.job_outcome)
            self._counters.resent_unknown += recovered.unknown
        done_before = {}
        for tp in partitions:
            self._next_generation += 1
            self.generation[tp] = self._next_generation
            done_before[tp] = self._checkpoint.assign(tp, committed.get(tp), recovered.done.get(tp))
            self._pausing.assigned(tp)
        self._assignment_moved()
        log.info(
            "partition.assigned",
            partitions=_names(partitions),
            done_before={f"{t}[{p}]": len(o) for (t, p), o in done_before.items() if o},
        )

    async def partitions_revoked(
        self, partitions: list[TopicPartition]
    ) -> dict[TopicPartition, OffsetCommit]:
        revoked = set(partitions) & self.generation.keys()
        self.revoking |= revoked
        # The share drops when the partitions are released, after the wait: what is in the
        # air may still need it (a batch job's status calls), and the next owner can take it
        # only at its assignment, which comes after this revoke returns (rate_limits.py).
        if not self._closing:
            await self.wait_for_the_air(revoked, min(self._config.drain_timeout, MAX_REVOKE_WAIT))
        plan = self._committer.plan_for_revoke(revoked)
        in_the_air = {tp: n for tp in revoked if (n := self._delivery.busy(tp))}
        self._release(partitions)
        committing = {tp: c.offset for tp, c in plan.items()}
        log.info(
            "partition.revoked",
            partitions=_names(partitions),
            committing=partition_names(committing),
            # Given up while still in the air: the next owner sends them again.
            abandoned_in_the_air=partition_names(in_the_air),
        )
        return plan

    async def wait_for_the_air(self, partitions: set[TopicPartition], timeout: float) -> None:
        """Wait (at most `timeout`) until no record of `partitions` is in the air. Records
        not sent yet are withdrawn meanwhile (`revoking`), so this waits only for requests
        already out and batch jobs already created."""
        deadline = time.monotonic() + timeout
        while any(self._delivery.busy(tp) for tp in partitions):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._progress.clear()
            try:
                await asyncio.wait_for(self._progress.wait(), remaining)
            except TimeoutError:
                return

    async def partitions_lost(self, partitions: list[TopicPartition]) -> None:
        self._release(partitions)
        log.warning("partition.lost", partitions=_names(partitions))

    def _release(self, partitions: list[TopicPartition]) -> None:
        # Jobs of these partitions still queued find their generation gone and are dropped.
        if self._journal is not None:
            self._journal.released(partitions)
        for tp in partitions:
            self.generation.pop(tp, None)
            self.revoking.discard(tp)
            self._checkpoint.forget(tp)
            self._pausing.released(tp)
            self._holds.drop(tp)
        self._drop_deferred(partitions)
        self._assignment_moved()


def _names(partitions: list[TopicPartition]) -> list[str]:
    return [f"{t}[{p}]" for t, p in partitions]
