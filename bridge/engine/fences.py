"""Erasures in their customer's order, whichever lanes the customer's records take.

The lanes run the jobs of one key one after another, in the order they are handed to them:
with `ordering: customer` a record waits for the earlier records whose first operation names
the same customer. An erasure (`delete_customer`: its description `erases_customer`) needs
more: it may not reach Gameball before *every* earlier operation of its customer has
finished, in any lane (`ordering: partition`; a record whose second operation names the
customer; a refund parked while its order is on its way), nor before a record consumed
before it that is still held for its schema (its customer unknown until the registry
answers); and nothing of that customer consumed after it may reach Gameball before it.

So jobs are handed to the lanes through this fence, which defers some, in consumption order:

    submit(job) ──> erases X, and X has unfinished jobs (or an earlier record is held)? ─┐
                ──> names X, and an earlier erasure of X is unfinished? ──────────────────┤
                ──> behind a deferred job of its customer (of its partition, by partition)?┤
                └─> no: to the lanes now                                     yes: deferred ┘
    finished(job), a held record mapped or dropped ──> the deferred that need wait no longer

Nothing waits inside a lane: a lane's head never waits for a job queued behind it, so no
order of events deadlocks. The fence is plain bookkeeping (no I/O, no tasks); the pipeline
hands what it returns to the lanes.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Callable, Iterable

from bridge.engine.jobs import Job
from bridge.record import TopicPartition


class CustomerFence:
    def __init__(self, *, by_customer: bool, held_floor: Callable[[], float]) -> None:
        """`by_customer`: the lanes key on customers (else on partitions, whose order a
        deferred job then keeps too). `held_floor()`: the consumption number of the earliest
        record held for its schema (infinity: none)."""
        self._by_customer = by_customer
        self._held_floor = held_floor
        # Customer -> jobs handed to the lanes and not finished that name it.
        self._unfinished: Counter[str] = Counter()
        # Customer -> the consumption numbers of its unfinished erasures (deferred or not).
        self._erasing: dict[str, list[int]] = {}
        self._deferred: list[Job] = []  # in consumption order

    def __len__(self) -> int:
        """Jobs deferred."""
        return len(self._deferred)

    def submit(self, job: Job) -> list[Job]:
        """Note a job (mapped, with operations); return the jobs to hand to the lanes now, in
        order: it, or none (deferred), or, when it unblocks nothing, just it."""
        for customer in job.erased:
            bisect.insort(self._erasing.setdefault(customer, []), job.seq)
        if not self._deferred and self._ready(job, set(), set(), self._held_floor()):
            self._handed(job)
            return [job]
        bisect.insort(self._deferred, job, key=lambda deferred: deferred.seq)
        return self.release()

    def finished(self, job: Job) -> list[Job]:
        """A job handed to the lanes ended (delivered, dead-lettered, abandoned); return the
        deferred jobs that may go now."""
        for customer in job.customers:
            self._unfinished[customer] -= 1
            if self._unfinished[customer] <= 0:
                del self._unfinished[customer]
        for customer in job.erased:
            self._forget_erasure(customer, job.seq)
        return self.release() if self._deferred else []

    def release(self) -> list[Job]:
        """The deferred jobs that need wait no longer (a held record was mapped or dropped,
        a job finished), in consumption order; the others stay, and block what is behind
        them of their customers (and partition)."""
        floor = self._held_floor()
        blocked_customers: set[str] = set()
        blocked_partitions: set[TopicPartition] = set()
        ready, waiting = [], []
        for job in self._deferred:
            if self._ready(job, blocked_customers, blocked_partitions, floor):
                self._handed(job)
                ready.append(job)
            else:
                waiting.append(job)
                blocked_customers |= job.customers
                blocked_partitions.add(job.tp)
        self._deferred = waiting
        return ready

    def drop(self, partitions: Iterable[TopicPartition]) -> list[Job]:
        """Forget the deferred jobs of partitions given up (never sent: the next owner reads
        them again); return them."""
        gone = set(partitions)
        dropped = [job for job in self._deferred if job.tp in gone]
        if dropped:
            self._deferred = [job for job in self._deferred if job.tp not in gone]
            for job in dropped:
                for customer in job.erased:
                    self._forget_erasure(customer, job.seq)
        return dropped

    def drop_all(self) -> list[Job]:
        return self.drop({job.tp for job in self._deferred})

    def _ready(
        self,
        job: Job,
        blocked_customers: set[str],
        blocked_partitions: set[TopicPartition],
        floor: float,
    ) -> bool:
        customers = job.customers
        if not customers.isdisjoint(blocked_customers):
            return False
        if not self._by_customer and job.tp in blocked_partitions:
            return False
        for customer in customers:
            erasing = self._erasing.get(customer)
            if erasing and erasing[0] < job.seq:  # an earlier erasure of theirs is unfinished
                return False
        erased = job.erased
        if erased:
            if floor < job.seq:
                return False
            if any(self._unfinished[customer] for customer in erased):
                return False
        return True

    def _handed(self, job: Job) -> None:
        for customer in job.customers:
            self._unfinished[customer] += 1

    def _forget_erasure(self, customer: str, seq: int) -> None:
        seqs = self._erasing.get(customer)
        if seqs is None:
            return
        index = bisect.bisect_left(seqs, seq)
        if index < len(seqs) and seqs[index] == seq:
            del seqs[index]
        if not seqs:
            del self._erasing[customer]
