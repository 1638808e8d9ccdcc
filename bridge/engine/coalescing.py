"""One customer's consecutive events as one operation (`delivery.batch.coalesce_events`).

A backlog of few customers batches poorly: the engine hands Gameball at most one operation
per customer at a time (one customer's records in Kafka order, and never two concurrent
requests for one customer: 2001), so a job carries one item per customer with records
waiting, and a backlog drains at about customers / job cycle. Gameball's track-events body
is a map of event name to metadata, and its docs allow several distinct names in one call:
so the events waiting in a customer's lane can travel as one operation (one batch item, or
one single call), up to MAX_EVENTS of them.

What is merged, and what that costs (docs/production.md says it to the user):

- only consecutive records of one lane (one customer), of one partition and assignment, each
  mapped to exactly one track-events operation, with distinct event names and otherwise the
  same body (the contacts that go with the events); the first record that differs ends it;
- Gameball's docs say nothing of the order it applies the names of one call in: records
  merged into one operation are applied in an order of Gameball's choosing among themselves
  (reward rules that depend on one event coming before another may see them either way).
  Hence off by default;
- the merged operation succeeds or fails as one: accepted, every record is done; refused
  for good (or its retries exhausted), its records are sent again one by one, so each gets
  its own verdict and only the bad one is dead-lettered; an unknown outcome resends the
  merged operation (a possible duplicate of all its events, counted as one).
"""

from __future__ import annotations

from typing import Any

from bridge.engine.jobs import Job
from bridge.operations import TRACKING
from bridge.record import Operation, Resource

# Events of one customer in one operation at most: bounds what one refused record costs the
# others (sent again one by one) and the item's size.
MAX_EVENTS = 50


def mergeable(job: Job) -> bool:
    """A record whose one operation is a track-events call, none of it sent yet."""
    if job.mapping_error is not None or len(job.operations) != 1:
        return False
    if job.done_operations or job.sent:
        return False
    operation = job.operations[0]
    return operation.name == TRACKING[Resource.EVENTS].name


class Coalescing:
    """The events gathered so far from one lane, starting with its head job."""

    __slots__ = ("_contacts", "_names", "jobs")

    def __init__(self, head: Job) -> None:
        self.jobs = [head]
        body = head.operations[0].body
        self._names: set[str] = set(body["events"])
        self._contacts = _contacts(body)

    def add(self, job: Job) -> bool:
        """Take `job` in if it may travel with the others; False ends the gathering."""
        head = self.jobs[0]
        if len(self.jobs) >= MAX_EVENTS or not mergeable(job):
            return False
        if job.tp != head.tp or job.generation != head.generation:
            return False
        body = job.operations[0].body
        names = body["events"].keys()
        if job.customer_id != head.customer_id or not self._names.isdisjoint(names):
            return False
        if _contacts(body) != self._contacts:
            return False
        self.jobs.append(job)
        self._names.update(names)
        return True

    def operation(self) -> Operation:
        """The gathered events as one operation, in the records' order (a map keeps it)."""
        first = self.jobs[0].operations[0]
        events: dict[str, Any] = {}
        for job in self.jobs:
            events.update(job.operations[0].body["events"])
        return Operation(first.resource, first.customer_id, {**first.body, "events": events})


def _contacts(body: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in body.items() if key != "events"}
