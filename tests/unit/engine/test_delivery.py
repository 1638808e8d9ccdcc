"""Delivery of one job: retries, dead letters, the access gate, abandonment.

Gameball is scripted through httpx.MockTransport; the dead-letter topic is a fake that
records writes (the real producer is covered by the integration tests)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

import httpx
import pytest

from bridge.backoff import Backoff
from bridge.engine.delivery import Delivery
from bridge.engine.jobs import Abandoned, Job
from bridge.engine.settings import DeliveryConfig
from bridge.errors import MappingError, OutcomeUnknownError, RetryableDeliveryError
from bridge.gameball.retry_policy import RetryPolicy
from bridge.gameball.sender import GameballSender
from bridge.gameball.settings import GameballConfig
from bridge.kafka.dead_letter_reason import DeadLetterReason
from bridge.observability.stats import Counters
from bridge.record import Operation, Resource, SourceRecord
from tests.support import Answer, FakeDeadLetters, scripted

RECORD = SourceRecord("app", 2, 40, b'{"user": 1}', key=b"k", headers=(("trace", b"t1"),))


@contextlib.asynccontextmanager
async def delivering(
    transport: httpx.AsyncBaseTransport,
    *,
    retry: dict[str, Any] | None = None,
    dead_letters: FakeDeadLetters | None = None,
    counters: Counters | None = None,
    is_current: Callable[[Job], bool] = lambda _job: True,
    policy: RetryPolicy | None = None,
    max_connections: int = 4,
    rate_limits: dict[str, Any] | None = None,
) -> AsyncIterator[Delivery]:
    """A `Delivery` posting through a `GameballSender` on `transport` (fast backoffs unless
    `retry` says otherwise; no rate limits unless `rate_limits` sets them), its HTTP client
    closed afterwards."""
    config = DeliveryConfig.model_validate(
        {"retry": {"initial_backoff": 0.001, "max_backoff": 0.01, **(retry or {})}}
    )
    gameball = GameballConfig.model_validate(
        {
            "base_url": "https://gb.test",
            "api_key": "k",
            "max_connections": max_connections,
            "rate_limits": rate_limits or {"enabled": False},
        }
    )
    sender = GameballSender(
        gameball,
        policy=policy or RetryPolicy(),
        backoff=Backoff(config.retry.initial_backoff, config.retry.max_backoff),
        transport=transport,
    )
    try:
        yield Delivery(
            config,
            sender=sender,
            dead_letters=dead_letters or FakeDeadLetters(),
            counters=counters or Counters(),
            is_current=is_current,
        )
    finally:
        await sender.aclose()


def run_job(
    answers: Iterable[Answer],
    job: Job | None = None,
    *,
    dead_letters: FakeDeadLetters | None = None,
    current: bool = True,
    **retry: Any,
) -> tuple[Counters, FakeDeadLetters, list[httpx.Request]]:
    by_code = retry.pop("by_code", None)
    transport, seen = scripted(answers)
    dead = dead_letters or FakeDeadLetters()
    counters = Counters()

    async def go() -> None:
        async with delivering(
            transport,
            retry=retry,
            dead_letters=dead,
            counters=counters,
            is_current=lambda _job: current,
            policy=RetryPolicy(by_code=by_code),
        ) as delivery:
            await delivery.deliver(job or make_job())

    asyncio.run(go())
    return counters, dead, seen


def make_job(*operations: Operation, error: MappingError | None = None) -> Job:
    ops = list(operations) or [
        Operation(Resource.EVENTS, "c1", {"customerId": "c1", "events": {"e": {}}})
    ]
    return Job(RECORD, [] if error else ops, error, generation=1)


def test_delivered_first_time() -> None:
    counters, dead, seen = run_job([200])
    assert (counters.delivered, counters.retried, counters.requests) == (1, 0, 1)
    assert not dead.written
    assert len(seen) == 1


def test_transient_failures_are_retried_until_delivered() -> None:
    answers: list[Answer] = [
        503,
        (500, {"code": 5000}),
        (422, {"code": 2001}),
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("slow"),
        200,
    ]
    counters, dead, seen = run_job(answers)
    assert counters.delivered == 1
    assert counters.retried == 5
    assert not dead.written
    assert len(seen) == 6


def test_rate_limit_waits_retry_after() -> None:
    counters, dead, seen = run_job([(429, {}, {"Retry-After": "0.2"}), 200])
    assert counters.delivered == 1
    assert counters.retried == 1
    assert not dead.written
    assert len(seen) == 2


def test_rejection_dead_letters_with_the_reason() -> None:
    counters, dead, _ = run_job([(400, {"code": 3000, "message": "customerId is required"})])
    assert counters.delivered == 0
    assert counters.dead_lettered == 1
    [(record, reason)] = dead.written
    assert record is RECORD
    assert reason.kind == "rejected"
    assert (reason.http_status, reason.gameball_code, reason.attempts) == (400, 3000, 1)
    assert "customerId is required" in reason.message
    assert reason.message.startswith("events: ")


def test_duplicate_order_counts_as_delivered() -> None:
    op = Operation(Resource.ORDERS, "c1", {"customerId": "c1", "orderId": "o1"})
    counters, dead, _ = run_job([(422, {"code": 9004})], make_job(op))
    assert counters.delivered == 1
    assert not dead.written


def test_generic_failure_is_dead_lettered_after_bounded_attempts() -> None:
    _counters, dead, seen = run_job([(400, {"code": 4000})] * 10, by_code={4000: "retry:3"})
    assert len(seen) == 3
    [(_, reason)] = dead.written
    assert reason.kind == "retries_exhausted"
    assert reason.attempts == 3
    assert reason.gameball_code == 4000


def test_access_denied_holds_the_record_and_never_dead_letters() -> None:
    answers: list[Answer] = [
        (401, {"code": 1000}),
        (403, {"code": 1002}),
        (422, {"code": 6000}),
        200,
    ]
    counters, dead, seen = run_job(answers, access_retry_interval=0.01)
    assert counters.delivered == 1
    assert not dead.written
    assert len(seen) == 4


def test_operations_go_in_order_and_a_failure_stops_the_rest() -> None:
    ops = [
        Operation(Resource.CUSTOMERS, "c1", {"customerId": "c1"}),
        Operation(Resource.ORDERS, "c1", {"customerId": "c1", "orderId": "o"}),
        Operation(Resource.EVENTS, "c1", {"customerId": "c1", "events": {}}),
    ]
    counters, dead, seen = run_job([200, (400, {"code": 3000})], make_job(*ops))
    assert [r.url.path.rsplit("/", 1)[1] for r in seen] == ["customers", "orders"]
    assert counters.delivered == 0
    assert len(dead.written) == 1
    assert dead.written[0][1].message.startswith("orders: ")


def test_mapping_error_goes_straight_to_the_dead_letters() -> None:
    job = make_job(error=MappingError("invalid_json", "the value is not valid JSON"))
    _counters, dead, seen = run_job([], job)
    assert not seen
    [(_, reason)] = dead.written
    assert (reason.kind, reason.message, reason.attempts) == (
        "invalid_json",
        "the value is not valid JSON",
        0,
    )


def test_dead_letter_write_is_retried_until_acknowledged() -> None:
    dead = FakeDeadLetters(failures=3)
    counters, dead, _ = run_job([(404, {"code": 7000})], dead_letters=dead)
    assert len(dead.written) == 1
    assert counters.dead_lettered == 1


def test_job_of_a_revoked_partition_is_abandoned() -> None:
    with pytest.raises(Abandoned):
        run_job([200], current=False)


def test_dead_letter_headers_describe_the_failure() -> None:
    from datetime import UTC, datetime

    reason = DeadLetterReason("rejected", "events: HTTP 400", 2, 400, 3000)
    headers = dict(reason.headers(RECORD, datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)))
    assert headers == {
        "bridge.error.kind": b"rejected",
        "bridge.error.message": b"events: HTTP 400",
        "bridge.error.http_status": b"400",
        "bridge.error.gameball_code": b"3000",
        "bridge.error.attempts": b"2",
        "bridge.source.topic": b"app",
        "bridge.source.partition": b"2",
        "bridge.source.offset": b"40",
        "bridge.failed_at": b"2026-01-02T03:04:05.000Z",
    }


# --- the access gate's probe: it must end, whatever its answer ------------------------------


def deliver_all(
    answers: Iterable[Answer], jobs: int, *, retry_interval: float
) -> tuple[Counters, FakeDeadLetters, list[httpx.Request], list[float]]:
    """Deliver `jobs` jobs one after another (each within 5 s, or fail: a stalled gate must
    not hang the suite); the requests' send times too."""
    transport, seen = scripted(answers)
    sent_at: list[float] = []
    dead, counters = FakeDeadLetters(), Counters()

    async def timed(request: httpx.Request) -> httpx.Response:
        sent_at.append(asyncio.get_running_loop().time())
        return await transport.handle_async_request(request)

    async def go() -> None:
        async with delivering(
            httpx.MockTransport(timed),
            retry={"access_retry_interval": retry_interval},
            dead_letters=dead,
            counters=counters,
        ) as delivery:
            for _ in range(jobs):
                await asyncio.wait_for(delivery.deliver(make_job()), 5)

    asyncio.run(go())
    return counters, dead, seen, sent_at


@pytest.mark.parametrize(
    "inconclusive",
    [503, (429, {}, {"Retry-After": "0.01"}), httpx.ReadTimeout("slow")],
    ids=["5xx", "429", "timeout"],
)
def test_a_probe_without_a_verdict_hands_the_probe_on(inconclusive: Answer) -> None:
    # 401 closes the gate; the probe gets no verdict on the keys; the next probe, one
    # interval later, succeeds and opens the gate for good.
    counters, dead, seen, sent_at = deliver_all(
        [(401, {"code": 1000}), inconclusive, 200, 200], jobs=2, retry_interval=0.3
    )
    assert counters.delivered == 2
    assert not dead.written
    assert len(seen) == 4
    # After a probe that reached Gameball, the next one waits the interval again.
    assert sent_at[2] - sent_at[1] >= 0.3 * 0.9


def test_a_probe_whose_record_is_rejected_opens_the_gate() -> None:
    # Gameball checks the keys before the body: a 400 for the record means the keys work.
    counters, _dead, seen, _ = deliver_all(
        [(401, {"code": 1000}), (400, {"code": 3000}), 200], jobs=2, retry_interval=0.05
    )
    assert counters.dead_lettered == 1
    assert counters.delivered == 1
    assert len(seen) == 3


def test_a_probe_abandoned_before_sending_is_handed_on_at_once() -> None:
    # The first job's partition is revoked while it waits for the probe: it claims the
    # probe, is abandoned before sending, and the next job must be able to probe.
    revoked = {"first": False}

    async def scenario() -> tuple[list[httpx.Request], int]:
        transport, seen = scripted([(401, {"code": 1000}), 200])
        counters = Counters()
        async with delivering(
            transport,
            retry={"access_retry_interval": 0.05},
            counters=counters,
            is_current=lambda job: job.generation == 2 or not revoked["first"],
        ) as delivery:
            first = asyncio.create_task(delivery.deliver(make_job()))
            while not seen:  # the 401 has closed the gate
                await asyncio.sleep(0.001)
            revoked["first"] = True  # the first job's partition goes away
            with pytest.raises(Abandoned):
                await asyncio.wait_for(first, 5)
            second = Job(RECORD, make_job().operations, None, generation=2)
            await asyncio.wait_for(delivery.deliver(second), 5)
        return seen, counters.delivered

    seen, delivered = asyncio.run(scenario())
    assert delivered == 1
    assert len(seen) == 2


def test_a_retry_budget_counts_only_the_answers_it_bounds() -> None:
    # 4000 is retry:5: five 4000s dead-letter the record. Five 503s of an outage before the
    # first 4000 are not the record's fault and use up none of that budget.
    answers: list[Answer] = [503] * 5 + [(400, {"code": 4000})] * 4 + [200]
    counters, dead, seen = run_job(answers)
    assert counters.delivered == 1
    assert not dead.written
    assert len(seen) == 10
    # And five 4000s, whatever came before, still dead-letter it.
    _counters, dead, seen = run_job([503] * 3 + [(400, {"code": 4000})] * 5 + [200])
    [(_, reason)] = dead.written
    assert (reason.kind, reason.attempts) == ("retries_exhausted", 8)


def test_a_held_resource_does_not_take_the_connections_of_the_others() -> None:
    # Orders are held by a 429's Retry-After; with 2 connection slots and two more order
    # jobs waiting on that hold, an event must still go at once.
    first_order = [True]

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/orders") and first_order[0]:
            first_order[0] = False
            return httpx.Response(429, json={}, headers={"retry-after": "1.5"})
        return httpx.Response(200, json={})

    def job(resource: Resource, customer: str, offset: int) -> Job:
        body: dict[str, Any] = {"customerId": customer}
        body.update({"events": {"e": {}}} if resource is Resource.EVENTS else {"orderId": "o"})
        return Job(
            SourceRecord("t", 0, offset, b"{}"), [Operation(resource, customer, body)], None, 1
        )

    async def scenario() -> float:
        async with delivering(
            httpx.MockTransport(handler),
            retry={"initial_backoff": 0.2, "max_backoff": 30},  # the defaults
            max_connections=2,
            rate_limits={r.value: {"per_second": 100, "per_30s": 1000} for r in Resource},
        ) as delivery:
            orders = [asyncio.create_task(delivery.deliver(job(Resource.ORDERS, "a", 1)))]
            await asyncio.sleep(0.05)  # the 429 has come: orders are held for 1.5 s
            orders += [
                asyncio.create_task(delivery.deliver(job(Resource.ORDERS, c, i)))
                for i, c in enumerate("bc", start=2)
            ]
            await asyncio.sleep(0.05)
            started = asyncio.get_running_loop().time()
            await asyncio.wait_for(delivery.deliver(job(Resource.EVENTS, "d", 4)), 5)
            took = asyncio.get_running_loop().time() - started
            await asyncio.wait_for(asyncio.gather(*orders), 5)
        return took

    # Not a timing assertion on the machine's speed: without the fix the event waits out
    # the whole 1.5 s hold, with it no hold applies to it at all.
    assert asyncio.run(scenario()) < 1.0


# -- outcomes unknown: sent again and counted as possible duplicates --------------------------


class _UnsureSender:
    """A sender whose first answer leaves the outcome unknown, then accepts; it records the
    `single` flag of every attempt."""

    def __init__(self, first: Exception) -> None:
        self.first: Exception | None = first
        self.attempts: list[bool] = []

    async def send(
        self,
        operation: Operation,
        *,
        single: bool = False,
        wanted: Callable[[], bool] | None = None,
        origin: object = None,
    ) -> float:
        assert wanted is None or wanted()
        assert origin == ("app", 2, 40, 0)
        self.attempts.append(single)
        if self.first is not None:
            error, self.first = self.first, None
            raise error
        return 0.0

    def status(self) -> Any:
        raise NotImplementedError

    def partitions_owned(self, owned: int, total: int | None) -> None:
        return None

    async def aclose(self) -> None:
        return None


@pytest.mark.parametrize(
    ("first", "attempts", "resent"),
    [
        # A batch item the job's status named no outcome for: again, as a single call.
        (OutcomeUnknownError("no certain outcome", single=True), [False, True], 1),
        # A failed or timed-out job: again, in whatever mode the resource is in.
        (OutcomeUnknownError("job timed out"), [False, False], 1),
        # A 503 or a refused connection: Gameball did not take it; no duplicate risk.
        (RetryableDeliveryError("unavailable", status=503), [False, False], 0),
    ],
)
def test_an_attempt_whose_outcome_is_unknown_is_sent_again_and_counted(
    first: Exception, attempts: list[bool], resent: int
) -> None:
    sender = _UnsureSender(first)
    counters = Counters()
    config = DeliveryConfig.model_validate(
        {"retry": {"initial_backoff": 0.001, "max_backoff": 0.01}}
    )
    delivery = Delivery(
        config,
        sender=sender,
        dead_letters=FakeDeadLetters(),
        counters=counters,
        is_current=lambda _job: True,
    )
    job = Job(RECORD, [Operation(Resource.EVENTS, "c1", {"customerId": "c1"})], None, 1)
    asyncio.run(delivery.deliver(job))
    assert sender.attempts == attempts
    assert counters.resent_unknown == resent
    assert counters.delivered == 1
