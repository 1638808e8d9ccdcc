"""What may travel together under `coalesce_events` (bridge/engine/coalescing.py): one
customer's consecutive track-events records of one partition, distinct names, the same
contacts; the first that differs ends the gathering."""

from __future__ import annotations

from typing import Any

from bridge.engine.coalescing import MAX_EVENTS, Coalescing, mergeable
from bridge.engine.jobs import Job
from bridge.errors import MappingError
from bridge.record import Operation, Resource, SourceRecord


def job(
    offset: int,
    name: str = "e",
    customer: str = "c1",
    *,
    partition: int = 0,
    generation: int = 1,
    **contacts: Any,
) -> Job:
    body = {"customerId": customer, "events": {name: {"n": offset}}, **contacts}
    operation = Operation(Resource.EVENTS, customer, body)
    return Job(SourceRecord("t", partition, offset, b"{}"), [operation], None, generation)


def test_consecutive_events_of_distinct_names_merge_in_their_order() -> None:
    gathered = Coalescing(job(0, "signup", email="a@x"))
    assert gathered.add(job(1, "login", email="a@x"))
    assert gathered.add(job(2, "review", email="a@x"))
    operation = gathered.operation()
    assert operation.body == {
        "customerId": "c1",
        "email": "a@x",
        "events": {"signup": {"n": 0}, "login": {"n": 1}, "review": {"n": 2}},
    }
    assert list(operation.body["events"]) == ["signup", "login", "review"]
    assert operation.customer_id == "c1"
    assert operation.batchable


def test_a_name_already_gathered_ends_it() -> None:
    # The same name twice cannot go in one call (a map key): the second waits its turn.
    gathered = Coalescing(job(0, "tick"))
    assert not gathered.add(job(1, "tick"))
    assert len(gathered.jobs) == 1


def test_other_contacts_another_partition_or_assignment_end_it() -> None:
    assert not Coalescing(job(0, "a", email="a@x")).add(job(1, "b", email="b@x"))
    assert not Coalescing(job(0, "a")).add(job(1, "b", email="b@x"))
    assert not Coalescing(job(0, "a")).add(job(1, "b", partition=1))
    assert not Coalescing(job(0, "a")).add(job(1, "b", generation=2))
    assert not Coalescing(job(0, "a")).add(job(1, "b", customer="c2"))


def test_only_plain_event_records_merge() -> None:
    order = Operation(Resource.ORDERS, "c1", {"customerId": "c1", "orderId": "o"})
    event = job(1).operations[0]
    record = SourceRecord("t", 0, 1, b"{}")
    assert not mergeable(Job(record, [order], None, 1))
    assert not mergeable(Job(record, [event, event], None, 1))  # two operations
    assert not mergeable(Job(record, [], MappingError("bad", "no"), 1))
    assert not mergeable(Job(record, [event], None, 1, done_operations=frozenset({0})))
    assert mergeable(Job(record, [event], None, 1))


def test_at_most_max_events_travel_together() -> None:
    gathered = Coalescing(job(0, "e0"))
    taken = sum(gathered.add(job(n, f"e{n}")) for n in range(1, MAX_EVENTS + 10))
    assert taken == MAX_EVENTS - 1
    assert len(gathered.operation().body["events"]) == MAX_EVENTS
