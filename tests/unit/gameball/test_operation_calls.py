"""Each operation's call as its description gives it: method, path with escaped parameters,
body or none; and what Gameball's answers mean for it (a refund's order not there yet, a
reused refund id, a customer erased before), through httpx.MockTransport."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import orjson
import pytest

from bridge.errors import PermanentDeliveryError, RetryableDeliveryError
from bridge.gameball.client import GameballClient
from bridge.gameball.outcomes import classify
from bridge.gameball.retry_policy import RetryPolicy, parse_rule
from bridge.gameball.settings import GameballConfig
from bridge.operations import OPERATIONS
from bridge.record import Operation


def client(handler: Callable[[httpx.Request], httpx.Response]) -> GameballClient:
    config = GameballConfig.model_validate({"base_url": "https://gb.test", "api_key": "k" * 8})
    return GameballClient(config, transport=httpx.MockTransport(handler))


def sent(op: Operation, answer: httpx.Response | None = None) -> httpx.Request:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answer or httpx.Response(200, json={"success": True})

    async def go() -> None:
        c = client(handler)
        try:
            await c.send(op)
        finally:
            await c.aclose()

    asyncio.run(go())
    [request] = seen
    return request


def test_a_refund_posts_its_body_to_transactions_refund() -> None:
    body = {
        "customerId": "c1",
        "refundTransactionId": "R-1",
        "reverseTransactionId": "O-1",
        "transactionTime": "2024-06-10T06:13:20.000Z",
    }
    request = sent(Operation.of("refund", "c1", body))
    assert request.method == "POST"
    assert str(request.url) == "https://gb.test/api/v4.0/integrations/transactions/refund"
    assert orjson.loads(request.content) == body


@pytest.mark.parametrize(
    ("customer", "segment"),
    [
        ("c-1", "c-1"),
        ("a/b", "a%2Fb"),
        ("..", "%2E%2E"),
        (".", "%2E"),
        ("x?y#z", "x%3Fy%23z"),
        ("über 1", "%C3%BCber%201"),
        ("100%", "100%25"),
    ],
)
def test_path_parameters_are_escaped_whole(customer: str, segment: str) -> None:
    op = Operation.of("delete_customer", customer, {}, (("customerId", customer),))
    request = sent(op)
    assert request.method == "DELETE"
    assert request.url.raw_path.decode() == f"/api/v4.0/integrations/customers/{segment}"
    assert request.content == b""  # no body


def test_tags_are_added_with_post_and_removed_with_delete_and_a_body() -> None:
    params = (("customerId", "c/1"),)
    add = sent(Operation.of("add_customer_tags", "c/1", {"tags": "vip,gamer"}, params))
    remove = sent(Operation.of("remove_customer_tags", "c/1", {"tags": "new"}, params))
    assert (add.method, remove.method) == ("POST", "DELETE")
    for request in (add, remove):
        assert request.url.raw_path.decode() == "/api/v4.0/integrations/customers/c%2F1/tags"
    assert orjson.loads(add.content) == {"tags": "vip,gamer"}
    assert orjson.loads(remove.content) == {"tags": "new"}


def error(code: int) -> bytes:
    return orjson.dumps({"code": code, "message": "m"})


@pytest.mark.parametrize("code", [9005, 9002, 4004])
def test_a_refunds_order_not_there_yet_is_retried_for_ten_minutes(code: int) -> None:
    for name in ("refund", "cancel_order"):
        found = classify(404, {}, error(code), description=OPERATIONS[name])
        assert isinstance(found, RetryableDeliveryError)
        assert found.retry_for == 600
        assert found.max_attempts is None
    # For an order, a 4004 is what it always was.
    assert type(classify(404, {}, error(4004), description=OPERATIONS["order"])) is (
        PermanentDeliveryError
    )


def test_the_wait_for_a_refunds_order_is_the_9005_row() -> None:
    policy = RetryPolicy(by_code={9005: "retry_for:3600"})
    found = classify(404, {}, error(4004), policy, OPERATIONS["refund"])
    assert isinstance(found, RetryableDeliveryError)
    assert found.retry_for == 3600
    give_up = RetryPolicy(by_code={9005: "dead_letter"})
    assert type(classify(404, {}, error(9005), give_up, OPERATIONS["refund"])) is (
        PermanentDeliveryError
    )


def test_a_reused_refund_id_and_an_erased_customer_count_as_delivered() -> None:
    assert classify(422, {}, error(9004), description=OPERATIONS["refund"]) is None
    assert classify(404, {}, error(7000), description=OPERATIONS["delete_customer"]) is None
    assert classify(422, {}, error(9001), description=OPERATIONS["cancel_order"]) is None
    # Not for another operation: a customer unknown to an order is the record's problem.
    assert type(classify(404, {}, error(7000), description=OPERATIONS["order"])) is (
        PermanentDeliveryError
    )
    assert type(classify(422, {}, error(9001), description=OPERATIONS["refund"])) is (
        PermanentDeliveryError
    )


def test_an_erasure_answered_7000_is_delivered_through_the_client() -> None:
    op = Operation.of("delete_customer", "c", {}, (("customerId", "c"),))
    request = sent(op, httpx.Response(404, content=error(7000)))
    assert request.method == "DELETE"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("retry_for:600", 600.0), ("retry_for:1", 1.0), (" retry_for:86400 ", 86400.0)],
)
def test_retry_for_rules(text: str, seconds: float) -> None:
    rule = parse_rule(text)
    assert rule.max_seconds == seconds
    assert str(rule) == text.strip()


@pytest.mark.parametrize("text", ["retry_for", "retry_for:0", "retry_for:86401", "dead_letter:5"])
def test_bad_retry_for_rules(text: str) -> None:
    with pytest.raises(ValueError, match="bad retry rule"):
        parse_rule(text)
