"""Batches inside the door (bridge/gameball/batching.py, through GameballSender): how items are
gathered into jobs, and how each item's outcome comes back to its own `send()`.

Gameball's batch endpoints are emulated by `FakeGameball`, an httpx.MockTransport handler:
POST .../integrations/batch/<resource> answers {"jobId"}, GET of the status path answers the
job's status in the spec's or the tutorial's shape."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import re
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import httpx
import orjson
import pytest
from structlog.testing import capture_logs

from bridge.backoff import Backoff
from bridge.errors import (
    DeliveryError,
    GameballAccessError,
    OutcomeUnknownError,
    PermanentDeliveryError,
    RateLimitedError,
    RetryableDeliveryError,
)
from bridge.gameball.batching import BatchCounters, ResourceBatches
from bridge.gameball.client import GameballClient
from bridge.gameball.retry_policy import DEFAULT_POLICY
from bridge.gameball.sender import GameballSender
from bridge.gameball.settings import BatchConfig, GameballConfig
from bridge.record import Operation, Resource

PREFIX = "/api/v4.0/integrations/"
FIRST_JOB = 101
Shape = Literal["spec", "tutorial"]


@dataclass(frozen=True, slots=True)
class Call:
    method: str
    path: str  # under /api/v4.0/integrations/
    body: Any
    at: float
    headers: httpx.Headers

    @property
    def items(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.body["body"]
        return items


class FakeGameball:
    """Gameball's batch endpoints (and a 200 for every single call).

    `failures`: customerId -> the item's failure ({"code", "httpStatus", "message"}, any of
    them). `pending`: status calls answered "pending" before a job finishes, per job id
    (`pending_default` for the others). `job_state`: how jobs finish ("completed", "failed",
    or "never"). `create_answers` / `status_answers`: scripted answers that come first."""

    def __init__(
        self,
        *,
        shape: Shape = "spec",
        status_path: str = "batches/{id}/status",
        failures: Mapping[str, Mapping[str, Any]] | None = None,
        pending: Mapping[int, int] | None = None,
        pending_default: int = 0,
        job_state: Literal["completed", "failed", "never"] = "completed",
        only_successes: bool = False,
        create_answers: Iterable[httpx.Response] = (),
        status_answers: Iterable[httpx.Response] = (),
    ) -> None:
        self.shape = shape
        self._status_path = re.compile(re.escape(status_path).replace(r"\{id\}", r"(\d+)"))
        self.failures = dict(failures or {})
        self.pending = dict(pending or {})
        self.pending_default = pending_default
        self.job_state = job_state
        self.only_successes = only_successes
        self.create_answers = list(create_answers)
        self.status_answers = list(status_answers)
        self.calls: list[Call] = []
        self.jobs: dict[int, list[dict[str, Any]]] = {}
        self.polls: Counter[int] = Counter()
        self.finished: set[int] = set()

    @property
    def creates(self) -> list[Call]:
        return [c for c in self.calls if c.method == "POST" and c.path.startswith("batch/")]

    @property
    def status_calls(self) -> list[Call]:
        return [c for c in self.calls if c.method == "GET"]

    @property
    def singles(self) -> list[Call]:
        return [c for c in self.calls if c.method == "POST" and not c.path.startswith("batch/")]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix(PREFIX)
        body: Any = orjson.loads(request.content) if request.content else None
        self.calls.append(Call(request.method, path, body, time.monotonic(), request.headers))
        if request.method == "POST" and path.startswith("batch/"):
            if self.create_answers:
                return self.create_answers.pop(0)
            job_id = FIRST_JOB + len(self.jobs)
            self.jobs[job_id] = body["body"]
            return httpx.Response(200, json={"jobId": job_id})
        if request.method == "POST":
            return httpx.Response(200, json={})
        match = self._status_path.fullmatch(path)
        if match is None:
            return httpx.Response(404, text="Not Found")  # no such endpoint
        if self.status_answers:
            return self.status_answers.pop(0)
        job_id = int(match.group(1))
        if job_id not in self.jobs:
            return httpx.Response(404, json={"code": 4004, "message": f"No batch job {job_id}"})
        self.polls[job_id] += 1
        if self.job_state == "never" or self.polls[job_id] <= self.pending.get(
            job_id, self.pending_default
        ):
            return self._answer(job_id, "pending")
        self.finished.add(job_id)
        return self._answer(job_id, self.job_state)

    def _answer(self, job_id: int, state: str) -> httpx.Response:
        items = self.jobs[job_id]
        failed = [
            (i, self.failures[it["customerId"]])
            for i, it in enumerate(items)
            if it["customerId"] in self.failures
        ]
        succeeded = [i for i, it in enumerate(items) if it["customerId"] not in self.failures]
        if self.shape == "spec":
            doc: dict[str, Any] = {"batchId": str(job_id), "status": state}
            if state == "failed":
                doc["message"] = "internal error"
            if state == "completed":
                doc["results"] = [{"index": i, "status": "success"} for i in succeeded]
                if not self.only_successes:
                    doc["errors"] = [{"index": i, **f} for i, f in failed]
            return httpx.Response(200, json=doc)
        words = {"pending": "InProgress", "completed": "Completed", "failed": "Failed"}
        doc = {"jobId": job_id, "jobStatus": words[state]}
        if state == "completed":
            doc["successfulItems"] = [{"itemIndex": i} for i in succeeded]
            if not self.only_successes:
                doc["failedItems"] = [_tutorial_failure(i, f) for i, f in failed]
        return httpx.Response(200, json=doc)


def _tutorial_failure(index: int, failure: Mapping[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "itemIndex": index,
        "error": {k: failure[k] for k in ("code", "message") if k in failure},
    }
    if "httpStatus" in failure:
        entry["statusCode"] = failure["httpStatus"]
    return entry


def event(n: int, **extra: Any) -> Operation:
    customer = f"c{n}"
    return Operation(
        Resource.EVENTS, customer, {"customerId": customer, "events": {"signup": {}}, **extra}
    )


def gameball_config(**extra: Any) -> GameballConfig:
    return GameballConfig.model_validate(
        {
            "base_url": "https://gb.test",
            "api_key": "k",
            "secret_key": "s",
            "max_connections": 4,
            "rate_limits": {"enabled": False},
            **extra,
        }
    )


FAST = {
    "first_poll": 0.01,
    "poll_interval": 0.01,
    "max_poll_interval": 0.02,
    "max_wait": 0.01,
    "job_timeout": 5.0,
}


def batch_config(**overrides: Any) -> BatchConfig:
    return BatchConfig.model_validate({"mode": "always", **FAST, **overrides})


@contextlib.asynccontextmanager
async def sending(
    server: FakeGameball, *, gameball: GameballConfig | None = None, **batch: Any
) -> AsyncIterator[GameballSender]:
    sender = GameballSender(
        gameball or gameball_config(),
        backoff=Backoff(0.001, 0.01),
        transport=httpx.MockTransport(server),
        batch=batch_config(**batch),
    )
    try:
        yield sender
    finally:
        await asyncio.wait_for(sender.aclose(), 2)


async def outcomes(sender: GameballSender, ops: Sequence[Operation]) -> list[BaseException | None]:
    """Every operation's outcome: None when accepted, else the error its send() raised."""
    results = await asyncio.gather(*(sender.send(op) for op in ops), return_exceptions=True)
    return [r if isinstance(r, BaseException) else None for r in results]


def run(
    server: FakeGameball, ops: Sequence[Operation], **batch: Any
) -> tuple[list[BaseException | None], dict[str, Any]]:
    """The outcomes of `ops` sent concurrently, and the sender's status afterwards."""

    async def go() -> tuple[list[BaseException | None], dict[str, Any]]:
        async with sending(server, **batch) as sender:
            results = await outcomes(sender, ops)
            status = sender.status()
            return results, {
                "batches": status.batches,
                "reasons": status.batch_items_failed_by_reason,
                "modes": status.modes,
                "waiting": status.waiting,
            }

    return asyncio.run(go())


# -- gathering items into jobs --------------------------------------------------------------


def test_items_of_one_batch_travel_in_one_post_in_send_order() -> None:
    server = FakeGameball()
    ops = [event(n) for n in range(3)]
    results, _ = run(server, ops, max_items=3)
    assert results == [None, None, None]
    [create] = server.creates
    assert create.path == "batch/events"
    assert create.body == {"body": [op.body for op in ops]}
    assert create.headers["apikey"] == "k"
    assert create.headers["secretkey"] == "s"
    assert [c.path for c in server.status_calls] == [f"batches/{FIRST_JOB}/status"]


def test_a_batch_goes_as_soon_as_it_holds_max_items() -> None:
    server = FakeGameball()
    started = time.monotonic()
    # max_wait is long: only reaching max_items can send these two batches this quickly.
    results, _ = run(server, [event(n) for n in range(6)], max_items=3, max_wait=30)
    assert time.monotonic() - started < 5
    assert results == [None] * 6
    assert [[i["customerId"] for i in c.items] for c in server.creates] == [
        ["c0", "c1", "c2"],
        ["c3", "c4", "c5"],
    ]


def test_the_last_batch_short_of_max_items_goes_after_max_wait() -> None:
    server = FakeGameball()
    results, _ = run(server, [event(n) for n in range(7)], max_items=3, max_wait=0.05)
    assert results == [None] * 7
    assert [len(c.items) for c in server.creates] == [3, 3, 1]


def test_a_part_batch_goes_once_no_more_arrive_and_no_job_of_its_resource_is_unread() -> None:
    # A few customers' operations come together: their batch goes at once, not max_wait
    # later. One that comes while a job is unread waits for it, and goes the moment it is
    # read, with the operations that job's outcome wakes (here: none), not after max_wait.
    server = FakeGameball(pending={FIRST_JOB: 3})

    async def go() -> float:
        async with sending(server, max_items=10, max_wait=5) as sender:
            started = time.monotonic()
            first = asyncio.gather(sender.send(event(0)), sender.send(event(1)))
            await asyncio.sleep(0.02)
            assert await sender.send(event(2)) == 0.0
            await first
            return started

    started = asyncio.run(go())
    first, second = server.creates
    assert ([i["customerId"] for i in first.items], len(second.items)) == (["c0", "c1"], 1)
    assert first.at - started < 0.1
    last_look = max(c.at for c in server.status_calls if c.path == f"batches/{FIRST_JOB}/status")
    assert last_look <= second.at < last_look + 0.5


def test_a_part_batch_waits_for_an_unread_job_no_longer_than_max_wait() -> None:
    server = FakeGameball(pending={FIRST_JOB: 10_000})  # the first job is never done

    async def go() -> float:
        async with sending(server, max_items=10, max_wait=0.1) as sender:
            hung = asyncio.create_task(sender.send(event(0)))
            await asyncio.sleep(0.02)
            started = time.monotonic()
            assert await sender.send(event(1)) == 0.0
            hung.cancel()
            return started

    started = asyncio.run(go())
    second = server.creates[1]
    # max_wait, or the batch cycle learnt so far if longer (none yet: max_wait + first_poll)
    assert 0.1 - 0.01 <= second.at - started < 0.1 + 0.01 + 0.2


def test_a_batch_never_grows_past_max_bytes() -> None:
    server = FakeGameball()
    # Each item is 315 bytes: three fit in 1,024 with the envelope and commas, four do not.
    ops = [event(n, padding="x" * 260) for n in range(7)]
    size = len(orjson.dumps(ops[0].body))
    assert len(b'{"body":[]}') + 4 * size + 3 > 1024 >= len(b'{"body":[]}') + 3 * size + 2
    results, _ = run(server, ops, max_bytes=1024, max_wait=0.05)
    assert results == [None] * 7
    assert [len(c.items) for c in server.creates] == [3, 3, 1]
    assert [i["customerId"] for i in server.creates[0].items] == ["c0", "c1", "c2"]
    assert all(len(orjson.dumps(c.body)) <= 1024 for c in server.creates)


def test_one_item_larger_than_max_bytes_still_goes_alone() -> None:
    server = FakeGameball()
    ops = [event(0, padding="x" * 2000), event(1)]
    results, _ = run(server, ops, max_bytes=1024)
    assert results == [None, None]
    assert [[i["customerId"] for i in c.items] for c in server.creates] == [["c0"], ["c1"]]


def test_each_resource_has_its_own_batches() -> None:
    server = FakeGameball()
    ops = [
        event(0),
        Operation(Resource.ORDERS, "c1", {"customerId": "c1", "orderId": "o1"}),
        Operation(Resource.CUSTOMERS, "c2", {"customerId": "c2"}),
        event(3),
    ]
    results, _ = run(server, ops)
    assert results == [None] * 4
    assert sorted((c.path, len(c.items)) for c in server.creates) == [
        ("batch/customers", 1),
        ("batch/events", 2),
        ("batch/orders", 1),
    ]


def test_a_caller_cancelled_before_its_batch_goes_is_left_out_of_it() -> None:
    server = FakeGameball()

    async def go() -> list[BaseException | None]:
        async with sending(server, max_items=10, max_wait=0.05) as sender:
            tasks = [asyncio.create_task(sender.send(event(n))) for n in range(3)]
            await asyncio.sleep(0)
            tasks[1].cancel()
            results = await asyncio.gather(*tasks, return_exceptions=True)
            return [r if isinstance(r, BaseException) else None for r in results]

    results = asyncio.run(go())
    assert results[0] is None
    assert isinstance(results[1], asyncio.CancelledError)
    assert results[2] is None
    [create] = server.creates
    assert [i["customerId"] for i in create.items] == ["c0", "c2"]


# -- each item's own outcome ----------------------------------------------------------------


def test_each_send_returns_only_once_its_own_job_is_confirmed() -> None:
    # Two jobs: the first finishes at its first status call, the second after five.
    server = FakeGameball(pending={FIRST_JOB + 1: 5})
    finished_when_returned: dict[str, set[int]] = {}

    async def go() -> None:
        async with sending(server, max_items=2) as sender:

            async def one(op: Operation) -> None:
                await sender.send(op)
                finished_when_returned[op.customer_id] = set(server.finished)

            await asyncio.gather(*(one(event(n)) for n in range(4)))

    asyncio.run(go())
    assert finished_when_returned["c0"] == {FIRST_JOB}
    assert finished_when_returned["c1"] == {FIRST_JOB}
    assert finished_when_returned["c2"] == {FIRST_JOB, FIRST_JOB + 1}
    assert finished_when_returned["c3"] == {FIRST_JOB, FIRST_JOB + 1}
    assert server.polls[FIRST_JOB + 1] == 6


@pytest.mark.parametrize("shape", ["spec", "tutorial"])
def test_a_refused_item_is_dead_lettered_alone(shape: Shape) -> None:
    failure = {"code": 3000, "httpStatus": 400, "message": "customerId missing"}
    server = FakeGameball(shape=shape, failures={"c1": failure})
    results, status = run(server, [event(n) for n in range(3)], max_items=3)
    assert results[0] is None
    assert results[2] is None
    error = results[1]
    assert type(error) is PermanentDeliveryError
    assert (error.status, error.code) == (400, 3000)
    assert error.message == "HTTP 400, code 3000: customerId missing"
    assert status["batches"]["batch_items_failed"] == 1
    assert status["reasons"] == {"3000": 1}


@pytest.mark.parametrize(
    ("failure", "expected", "max_attempts"),
    [
        ({"code": 5000, "httpStatus": 500}, RetryableDeliveryError, None),
        ({"code": 5000}, RetryableDeliveryError, None),  # status derived from the code
        ({"code": 2001, "httpStatus": 422}, RetryableDeliveryError, None),
        ({"code": 4000, "httpStatus": 400}, RetryableDeliveryError, 5),
        ({"code": 7000, "httpStatus": 404}, PermanentDeliveryError, None),
        ({"code": 4004}, PermanentDeliveryError, None),
        ({"code": 6000, "httpStatus": 422}, GameballAccessError, None),
        ({"code": 1000}, GameballAccessError, None),
    ],
)
def test_an_items_failure_goes_through_the_retry_table(
    failure: dict[str, Any], expected: type[DeliveryError], max_attempts: int | None
) -> None:
    server = FakeGameball(failures={"c0": failure})
    results, _ = run(server, [event(0), event(1)], max_items=2)
    assert type(results[0]) is expected
    assert results[0].code == failure["code"]
    if isinstance(results[0], RetryableDeliveryError):
        assert results[0].max_attempts == max_attempts
    assert results[1] is None


@pytest.mark.parametrize("shape", ["spec", "tutorial"])
def test_an_item_refused_with_9004_counts_as_delivered(shape: Shape) -> None:
    server = FakeGameball(
        shape=shape, failures={"c0": {"code": 9004, "httpStatus": 422, "message": "exists"}}
    )
    results, status = run(server, [event(0), event(1)], max_items=2)
    assert results == [None, None]
    assert status["batches"]["batch_items_failed"] == 0
    assert status["reasons"] == {}


def test_a_failure_without_a_code_is_counted_by_its_status() -> None:
    server = FakeGameball(failures={"c0": {"httpStatus": 400, "message": "bad"}})
    results, status = run(server, [event(0)], max_items=1)
    assert type(results[0]) is PermanentDeliveryError
    assert status["reasons"] == {"http_400": 1}


@pytest.mark.parametrize("shape", ["spec", "tutorial"])
def test_items_the_answer_does_not_name_are_sent_again(shape: Shape) -> None:
    # Only successes listed: the refused item is in neither list, so its outcome is unknown.
    server = FakeGameball(shape=shape, failures={"c1": {"code": 3000}}, only_successes=True)
    results, status = run(server, [event(0), event(1)], max_items=2)
    assert results[0] is None
    assert type(results[1]) is OutcomeUnknownError
    assert "no certain outcome for item 1" in results[1].message
    assert results[1].single  # sent again as a single call, whose answer is certain
    assert status["reasons"] == {"no_outcome": 1}


# -- the create call ------------------------------------------------------------------------


def test_keys_refused_on_the_create_call_stop_every_item() -> None:
    server = FakeGameball(
        create_answers=[httpx.Response(401, json={"code": 1000, "message": "Unauthorized"})]
    )
    results, status = run(server, [event(n) for n in range(3)], max_items=3)
    for error in results:
        assert type(error) is GameballAccessError
        assert (error.status, error.code) == (401, 1000)
    assert not server.status_calls
    assert status["batches"]["batches_sent"] == 0
    assert status["batches"]["batch_items"] == 0


def test_a_429_on_the_create_call_holds_the_next_batch() -> None:
    server = FakeGameball(
        create_answers=[httpx.Response(429, headers={"retry-after": "0.3"}, json={})]
    )

    async def go() -> tuple[list[BaseException | None], list[BaseException | None]]:
        async with sending(server, max_items=2) as sender:
            first = await outcomes(sender, [event(0), event(1)])
            second = await outcomes(sender, [event(2), event(3)])
            return first, second

    first, second = asyncio.run(go())
    for error in first:
        assert type(error) is RateLimitedError
        assert error.retry_after is not None
        assert error.retry_after >= 0.3
    assert second == [None, None]
    held, accepted = server.creates
    assert accepted.at - held.at >= 0.28


def test_a_429_on_a_batch_call_holds_payments_too() -> None:
    # Batches count in the "others" rate limit, payments' row in API.md's table.
    server = FakeGameball(
        create_answers=[httpx.Response(429, headers={"retry-after": "0.3"}, json={})]
    )
    payment = Operation(Resource.PAYMENTS, "c9", {"customerId": "c9", "payment": {}})

    async def go() -> float:
        async with sending(server, max_items=1) as sender:
            [error] = await outcomes(sender, [event(0)])
            assert isinstance(error, RateLimitedError)
            return await sender.send(payment)

    waited = asyncio.run(go())
    assert waited >= 0.25


def test_an_answer_without_a_job_id_is_retried() -> None:
    server = FakeGameball(create_answers=[httpx.Response(200, json={"ok": True})])
    results, status = run(server, [event(0)], max_items=1)
    assert type(results[0]) is RetryableDeliveryError
    assert "no jobId" in results[0].message
    assert status["batches"]["batches_sent"] == 0


def test_batch_calls_go_under_the_payments_rate_limit() -> None:
    # One payments call a second: the status call waits for the create's window to pass,
    # although events have room to spare.
    server = FakeGameball()
    gameball = gameball_config(
        rate_limits={
            "events": {"per_second": 100, "per_30s": 1200},
            "payments": {"per_second": 1, "per_30s": 360},
        }
    )

    async def go() -> None:
        async with sending(server, gameball=gameball, max_items=1) as sender:
            assert await outcomes(sender, [event(0)]) == [None]

    asyncio.run(go())
    [create] = server.creates
    [status] = server.status_calls
    assert status.at - create.at >= 0.95


# -- the job as a whole ---------------------------------------------------------------------


@pytest.mark.parametrize("shape", ["spec", "tutorial"])
def test_a_failed_job_sends_every_item_again(shape: Shape) -> None:
    server = FakeGameball(shape=shape, job_state="failed")
    results, status = run(server, [event(n) for n in range(3)], max_items=3)
    for error in results:
        assert type(error) is OutcomeUnknownError
        assert error.message.startswith(f"batch job {FIRST_JOB} failed")
    assert status["batches"]["jobs_failed"] == 1
    assert status["batches"]["batch_items_failed"] == 3
    assert status["reasons"] == {"job_failed": 3}


def test_a_failed_jobs_message_reaches_the_items() -> None:
    server = FakeGameball(job_state="failed")
    results, _ = run(server, [event(0)], max_items=1)
    assert isinstance(results[0], RetryableDeliveryError)
    assert results[0].message == f"batch job {FIRST_JOB} failed: internal error"


def test_a_job_that_never_finishes_is_given_up_after_job_timeout() -> None:
    server = FakeGameball(job_state="never")
    started = time.monotonic()
    results, status = run(server, [event(0), event(1)], max_items=2, job_timeout=0.2)
    elapsed = time.monotonic() - started
    for error in results:
        assert type(error) is OutcomeUnknownError
        assert "did not finish within 0.2 s" in error.message
    assert 0.2 <= elapsed < 3
    assert status["batches"]["jobs_timed_out"] == 1
    assert status["batches"]["jobs_failed"] == 0
    assert status["batches"]["jobs_pending"] == 0
    assert status["reasons"] == {"job_timeout": 2}
    assert len(server.status_calls) >= 2


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(503, json={"code": 5003, "message": "unavailable"}),
        httpx.Response(500, text="<html>oops</html>"),
        httpx.Response(429, json={}),
        httpx.Response(200, text="<html>maintenance</html>"),  # unreadable: asked again
        httpx.Response(200, json={"jobId": 101}),  # no state: asked again
    ],
    ids=["503", "500", "429", "html", "no-state"],
)
def test_a_failed_status_call_is_asked_again(answer: httpx.Response) -> None:
    server = FakeGameball(status_answers=[answer, answer])
    results, status = run(server, [event(0), event(1)], max_items=2)
    assert results == [None, None]
    assert len(server.status_calls) == 3
    assert status["batches"]["status_calls"] == 3
    assert status["batches"]["jobs_failed"] == 0


def test_a_status_call_answered_404_fails_the_job() -> None:
    # Gameball's "no such batch job": nothing tells what landed, so the items go again.
    server = FakeGameball(
        status_answers=[httpx.Response(404, json={"code": 4004, "message": "No batch job"})]
    )
    results, status = run(server, [event(0), event(1)], max_items=2)
    for error in results:
        assert type(error) is OutcomeUnknownError
        assert "status call refused" in error.message
    assert status["batches"]["jobs_failed"] == 1
    assert status["reasons"] == {"job_failed": 2}
    assert len(server.status_calls) == 1


def test_keys_refused_on_a_status_call_stop_every_item() -> None:
    server = FakeGameball(status_answers=[httpx.Response(401, json={"code": 1000})])
    results, status = run(server, [event(0), event(1)], max_items=2)
    assert [type(r) for r in results] == [GameballAccessError, GameballAccessError]
    assert status["batches"]["jobs_pending"] == 0
    assert len(server.status_calls) == 1


def test_a_status_path_that_does_not_exist_falls_back_to_the_other_design() -> None:
    # The docs give two paths for the status call: a 404 without Gameball's code on the
    # configured one (a web server's answer about the path, not about the job) tries the
    # other, and keeps it.
    server = FakeGameball(status_path="batch/{id}")
    with capture_logs() as logs:
        results, _ = run(server, [event(0), event(1)], max_items=1)
    assert results == [None, None]
    assert [c.path for c in server.status_calls] == [
        f"batches/{FIRST_JOB}/status",
        f"batch/{FIRST_JOB}",
        f"batch/{FIRST_JOB + 1}",
    ]
    [changed] = [line for line in logs if line["event"] == "batch.status_path_changed"]
    assert (changed["configured"], changed["using"]) == ("batches/{id}/status", "batch/{id}")


def test_a_status_call_no_path_answers_stops_sending() -> None:
    # Neither documented path exists: not the job's fault, and failing the job would create
    # new jobs forever, so it is a stop like a wrong base_url.
    server = FakeGameball(status_path="jobs/{id}")
    results, _ = run(server, [event(0)], max_items=1)
    assert type(results[0]) is GameballAccessError
    assert "no such endpoint" in results[0].message
    assert [c.path for c in server.status_calls] == [
        f"batches/{FIRST_JOB}/status",
        f"batch/{FIRST_JOB}",
    ]


def test_a_refused_status_call_leaves_no_task_exception_unretrieved() -> None:
    server = FakeGameball(status_answers=[httpx.Response(401, json={"code": 1000})])
    reported: list[dict[str, Any]] = []

    async def go() -> list[BaseException | None]:
        asyncio.get_running_loop().set_exception_handler(lambda _loop, ctx: reported.append(ctx))
        async with sending(server, max_items=1) as sender:
            results = await outcomes(sender, [event(0)])
        gc.collect()
        return results

    [error] = asyncio.run(go())
    assert type(error) is GameballAccessError
    assert [ctx["message"] for ctx in reported] == []


@pytest.mark.parametrize(
    ("status_path", "shape", "asked"),
    [
        ("batches/{id}/status", "spec", f"batches/{FIRST_JOB}/status"),
        ("batch/{id}", "tutorial", f"batch/{FIRST_JOB}"),
        ("batch/{id}", "spec", f"batch/{FIRST_JOB}"),
        ("batches/{id}/status", "tutorial", f"batches/{FIRST_JOB}/status"),
    ],
)
def test_both_status_paths_and_shapes_end_to_end(
    status_path: str, shape: Shape, asked: str
) -> None:
    server = FakeGameball(
        shape=shape,
        status_path=status_path,
        pending_default=1,
        failures={"c1": {"code": 3000, "httpStatus": 400, "message": "missing"}},
    )
    results, status = run(
        server, [event(n) for n in range(3)], max_items=3, status_path=status_path
    )
    assert results[0] is None
    assert type(results[1]) is PermanentDeliveryError
    assert results[2] is None
    assert [c.path for c in server.status_calls] == [asked, asked]
    assert status["batches"]["status_calls"] == 2


def test_status_counts_what_the_batches_did() -> None:
    server = FakeGameball(
        failures={"c1": {"code": 3000, "httpStatus": 400}, "c4": {"code": 9004}},
        pending={FIRST_JOB: 1},
    )
    results, status = run(server, [event(n) for n in range(5)], max_items=3, max_wait=0.05)
    assert [type(r) for r in results] == [
        type(None),
        PermanentDeliveryError,
        type(None),
        type(None),
        type(None),
    ]
    assert status["batches"] == {
        "batches_sent": 2,
        "batch_items": 5,
        "batch_items_failed": 1,
        "jobs_failed": 0,
        "jobs_timed_out": 0,
        "status_calls": 3,
        "jobs_pending": 0,
    }
    assert status["reasons"] == {"3000": 1}
    assert status["modes"] == {
        "events": "batch",
        "orders": "batch",
        "customers": "batch",
        "payments": "single",
    }
    assert set(status["waiting"].values()) == {0}


# -- single calls ---------------------------------------------------------------------------


def test_mode_never_sends_single_calls() -> None:
    server = FakeGameball()
    results, status = run(server, [event(0), event(1)], mode="never")
    assert results == [None, None]
    assert [c.path for c in server.calls] == ["events", "events"]
    assert [c.body for c in server.calls] == [event(0).body, event(1).body]
    assert status["batches"]["batches_sent"] == 0
    assert set(status["modes"].values()) == {"single"}


def test_without_batch_settings_the_sender_sends_single_calls() -> None:
    server = FakeGameball()

    async def go() -> None:
        sender = GameballSender(gameball_config(), transport=httpx.MockTransport(server))
        try:
            await sender.send(event(0))
        finally:
            await sender.aclose()

    asyncio.run(go())
    assert [(c.method, c.path) for c in server.calls] == [("POST", "events")]


def test_payments_go_single_even_when_batches_are_always_used() -> None:
    server = FakeGameball()
    payments = [
        Operation(Resource.PAYMENTS, f"c{n}", {"customerId": f"c{n}", "payment": {}})
        for n in range(2)
    ]
    results, status = run(server, [*payments, event(2)], max_items=1)
    assert results == [None, None, None]
    assert sorted(c.path for c in server.calls if c.method == "POST") == [
        "batch/events",
        "payments",
        "payments",
    ]
    assert status["modes"]["payments"] == "single"
    assert status["batches"]["batch_items"] == 1


# -- closing --------------------------------------------------------------------------------


def test_aclose_cancels_unfinished_jobs_without_hanging() -> None:
    server = FakeGameball(job_state="never")

    async def go() -> list[asyncio.Task[float]]:
        sender = GameballSender(
            gameball_config(),
            transport=httpx.MockTransport(server),
            batch=batch_config(max_items=2, job_timeout=60),
        )
        tasks = [asyncio.create_task(sender.send(event(n))) for n in range(2)]
        while not server.status_calls:
            await asyncio.sleep(0.005)
        await asyncio.wait_for(sender.aclose(), 1)
        await asyncio.wait(tasks, timeout=1)
        assert sender.status().batches["jobs_pending"] == 0
        return tasks

    tasks = asyncio.run(go())
    assert all(task.done() for task in tasks)
    assert all(task.cancelled() for task in tasks)


def test_aclose_ends_the_sends_of_a_batch_not_yet_sent() -> None:
    server = FakeGameball()

    async def go() -> list[asyncio.Task[float]]:
        sender = GameballSender(
            gameball_config(),
            transport=httpx.MockTransport(server),
            batch=batch_config(max_items=10, max_wait=30),
        )
        first = asyncio.create_task(sender.send(event(9)))  # its job is never done
        await asyncio.sleep(0.01)
        tasks = [asyncio.create_task(sender.send(event(n))) for n in range(2)]
        await asyncio.sleep(0.01)  # both are waiting in the open batch
        await asyncio.wait_for(sender.aclose(), 1)
        _, pending = await asyncio.wait([first, *tasks], timeout=0.5)
        for task in pending:
            task.cancel()
        assert not pending
        return tasks

    server.pending[FIRST_JOB] = 10_000
    tasks = asyncio.run(go())
    assert all(task.cancelled() for task in tasks)
    assert len(server.creates) == 1  # the batch still filling is never sent


# -- ResourceBatches on its own -------------------------------------------------------------

Observed = list[tuple[Resource, str, int, float]]


async def shaped(call: Callable[[], Awaitable[object]]) -> object:
    return await call()


def run_batches(
    server: FakeGameball, ops: Sequence[Operation], **batch: Any
) -> tuple[list[BaseException | None], BatchCounters, Observed]:
    counters = BatchCounters()
    observed: Observed = []

    def observe_job(resource: Resource, state: str, items: int, seconds: float) -> None:
        observed.append((resource, state, items, seconds))

    async def go() -> list[BaseException | None]:
        config = batch_config(**batch)
        client = GameballClient(
            gameball_config(),
            transport=httpx.MockTransport(server),
            status_path=config.status_path,
        )
        batches = ResourceBatches(
            Resource.EVENTS,
            config,
            client=client,
            policy=DEFAULT_POLICY,
            shaped=shaped,
            counters=counters,
            observe_job=observe_job,
        )
        try:
            results = await asyncio.gather(
                *(batches.send(op) for op in ops), return_exceptions=True
            )
        finally:
            await batches.aclose()
            await client.aclose()
        return [r if isinstance(r, BaseException) else None for r in results]

    return asyncio.run(go()), counters, observed


def test_resource_batches_tell_the_observer_of_a_completed_job() -> None:
    server = FakeGameball(pending_default=1)
    results, counters, observed = run_batches(server, [event(0), event(1)], max_items=2)
    assert results == [None, None]
    [(resource, state, items, seconds)] = observed
    assert (resource, state, items) == (Resource.EVENTS, "completed", 2)
    assert 0 < seconds < 2
    assert (counters.batches_sent, counters.batch_items, counters.status_calls) == (1, 2, 2)


def test_resource_batches_tell_the_observer_of_a_failed_job() -> None:
    server = FakeGameball(job_state="failed")
    results, counters, observed = run_batches(server, [event(0)], max_items=1)
    assert type(results[0]) is OutcomeUnknownError
    assert [state for _, state, _, _ in observed] == ["failed"]
    assert counters.jobs_failed == 1


def test_resource_batches_tell_the_observer_of_a_timed_out_job() -> None:
    server = FakeGameball(job_state="never")
    results, counters, observed = run_batches(server, [event(0)], max_items=1, job_timeout=0.1)
    assert type(results[0]) is OutcomeUnknownError
    assert counters.jobs_timed_out == 1
    assert [state for _, state, _, _ in observed] == ["timed_out"]


def test_resource_batches_tell_the_observer_of_a_job_whose_status_refused_the_keys() -> None:
    server = FakeGameball(status_answers=[httpx.Response(403, json={"code": 1002})])
    results, counters, observed = run_batches(server, [event(0), event(1)], max_items=2)
    assert [type(r) for r in results] == [GameballAccessError, GameballAccessError]
    assert [(state, items) for _, state, items, _ in observed] == [("failed", 2)]
    assert counters.jobs_pending == 0


def test_a_job_cancelled_at_close_is_not_observed_as_timed_out() -> None:
    server = FakeGameball(job_state="never")
    observed: Observed = []

    async def go() -> None:
        config = batch_config(max_items=1, job_timeout=60)
        client = GameballClient(gameball_config(), transport=httpx.MockTransport(server))
        batches = ResourceBatches(
            Resource.EVENTS,
            config,
            client=client,
            policy=DEFAULT_POLICY,
            shaped=shaped,
            counters=BatchCounters(),
            observe_job=lambda *job: observed.append(job),
        )
        task = asyncio.create_task(batches.send(event(0)))
        while not server.status_calls:
            await asyncio.sleep(0.005)
        await asyncio.wait_for(batches.aclose(), 1)
        await client.aclose()
        await asyncio.wait([task], timeout=1)
        assert task.cancelled()

    asyncio.run(go())
    assert len(observed) == 1
    assert observed[0][1] != "timed_out"


def test_resource_batches_report_no_job_when_the_create_call_fails() -> None:
    server = FakeGameball(create_answers=[httpx.Response(503, json={"code": 5003})])
    results, counters, observed = run_batches(server, [event(0)], max_items=1)
    assert type(results[0]) is RetryableDeliveryError
    assert results[0].status == 503
    assert observed == []
    assert counters.batches_sent == 0
