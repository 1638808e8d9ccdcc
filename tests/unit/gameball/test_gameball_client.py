"""Outcome classification (API.md's error table) and the client, through httpx.MockTransport."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import orjson
import pytest

from bridge.errors import (
    DeliveryError,
    GameballAccessError,
    OutcomeUnknownError,
    PermanentDeliveryError,
    RateLimitedError,
    RetryableDeliveryError,
)
from bridge.gameball.client import GameballClient
from bridge.gameball.outcomes import classify, parse_error_body, parse_retry_after
from bridge.gameball.retry_policy import RetryPolicy, parse_rule
from bridge.gameball.settings import GameballConfig
from bridge.record import Operation, Resource


def body(code: int | None = None, **extra: object) -> bytes:
    doc: dict[str, object] = {"message": "boom", **extra}
    if code is not None:
        doc["code"] = code
    return orjson.dumps(doc)


@pytest.mark.parametrize(
    ("status", "raw", "expected"),
    [
        (200, b"", None),
        (201, body(), None),
        (204, b"", None),
        (422, body(9004), None),  # order id exists: an earlier attempt landed
        (429, body(), RateLimitedError),
        (401, body(1000), GameballAccessError),
        (401, body(1001), GameballAccessError),
        (403, body(1002), GameballAccessError),
        (422, body(6000), GameballAccessError),
        (422, body(2001), RetryableDeliveryError),
        (500, body(5000), RetryableDeliveryError),
        (503, body(5003), RetryableDeliveryError),
        (502, b"<html>bad gateway</html>", RetryableDeliveryError),
        (408, b"", RetryableDeliveryError),
        (400, body(4000), RetryableDeliveryError),  # bounded: retry:5
        (400, body(4500), RetryableDeliveryError),
        (412, body(2000), PermanentDeliveryError),
        (400, body(3000), PermanentDeliveryError),
        (400, body(3016), PermanentDeliveryError),
        (422, body(3003), PermanentDeliveryError),
        (415, body(3013), PermanentDeliveryError),
        (404, body(4004), PermanentDeliveryError),
        (404, body(7000), PermanentDeliveryError),
        (302, b"", GameballAccessError),
    ],
)
def test_classify_follows_the_api_table(
    status: int, raw: bytes, expected: type[DeliveryError] | None
) -> None:
    error = classify(status, {}, raw)
    if expected is None:
        assert error is None
    else:
        assert type(error) is expected
        assert error is not None
        assert error.status == status


def test_retryable_subclasses_are_still_retryable() -> None:
    assert issubclass(RateLimitedError, RetryableDeliveryError)
    assert not issubclass(GameballAccessError, RetryableDeliveryError)


@pytest.mark.parametrize(
    ("status", "code", "max_attempts"),
    [(400, 4000, 5), (400, 4500, 5), (503, 5003, None), (422, 2001, None), (429, None, None)],
)
def test_default_retry_bounds(status: int, code: int | None, max_attempts: int | None) -> None:
    error = classify(status, {}, body(code))
    assert isinstance(error, RetryableDeliveryError)
    assert error.max_attempts == max_attempts


def test_overrides_change_single_rows_of_the_table() -> None:
    policy = RetryPolicy(by_code={7000: "retry:3", 4000: "dead_letter"}, by_status={404: "retry"})
    not_found = classify(404, {}, body(7000), policy)
    assert isinstance(not_found, RetryableDeliveryError)
    assert not_found.max_attempts == 3
    assert type(classify(400, {}, body(4000), policy)) is PermanentDeliveryError
    assert type(classify(404, {}, body(), policy)) is RetryableDeliveryError  # no code: status
    # An operator's status row beats the default code table (retry_policy's docstring).
    assert type(classify(404, {}, body(4004), policy)) is RetryableDeliveryError
    assert type(classify(404, {}, body(4004))) is PermanentDeliveryError
    assert classify(422, {}, body(9004), policy) is None  # untouched rows keep their default
    stop = RetryPolicy(by_status={409: "stop"})
    assert type(classify(409, {}, body(), stop)) is GameballAccessError
    delivered = RetryPolicy(by_code={3000: "delivered"})
    assert classify(400, {}, body(3000), delivered) is None


@pytest.mark.parametrize("text", ["retry:0", "dead_letter:3", "again", "retry:x", ""])
def test_bad_rules_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="bad retry rule"):
        parse_rule(text)


@pytest.mark.parametrize(
    ("raw", "code", "message"),
    [
        (
            b'{"code": 3000, "type": "x", "message": "customerId missing"}',
            3000,
            "customerId missing",
        ),
        (b'{"error": 4004, "message": "nope"}', 4004, "nope"),
        (b'{"code": "2001", "message": "busy"}', 2001, "busy"),
        (b'{"code": true}', None, ""),
        (b"plain text", None, "plain text"),
        (b"", None, ""),
        (b"[1]", None, "[1]"),
    ],
)
def test_error_bodies_of_every_documented_shape(raw: bytes, code: int | None, message: str) -> None:
    assert parse_error_body(raw) == (code, message)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("3", 3.0), ("0.5", 0.5), ("soon", None), (None, None), ("99999", 3600.0), ("-1", None)],
)
def test_retry_after(header: str | None, seconds: float | None) -> None:
    headers = {"retry-after": header} if header is not None else {}
    error = classify(429, headers, b"")
    assert isinstance(error, RateLimitedError)
    assert error.retry_after == seconds


# 2026-10-21T07:28:00Z
NOW = 1792567680.0


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("Wed, 21 Oct 2026 07:28:30 GMT", 30.0),  # the HTTP-date form, 30 s from now
        ("Wed, 21 Oct 2026 07:28:00 GMT", 0.0),
        ("Wed, 21 Oct 2026 09:28:00 GMT", 3600.0),  # two hours: clamped to the hour
        ("Wed, 21 Oct 2026 07:27:00 GMT", None),  # already past
        ("Wed, 99 Oct 2026 07:28:00 GMT", None),
        ("7200", 3600.0),  # clamped, not ignored
        ("3600", 3600.0),
        (" 7 ", 7.0),
        ("nan", None),
        ("inf", None),
        ("-0.5", None),
        ("", None),
        ("garbage", None),
    ],
)
def test_retry_after_forms(header: str, seconds: float | None) -> None:
    assert parse_retry_after(header, now=NOW) == seconds


def test_error_message_carries_status_code_and_gameball_message() -> None:
    error = classify(400, {}, body(3000, message="customerId is required"))
    assert error is not None
    assert error.message == "HTTP 400, code 3000: customerId is required"
    assert error.code == 3000


def test_access_errors_say_what_to_fix() -> None:
    assert "api_key" in str(classify(401, {}, body(1000)))
    assert "disabled" in str(classify(422, {}, body(6000)))


# -- the client over MockTransport --------------------------------------------------------

API_KEY, SECRET_KEY = "api-key-123", "secret-key-456"
OP = Operation(Resource.EVENTS, "c1", {"customerId": "c1", "events": {"signup": {}}})


def client(handler: Callable[[httpx.Request], httpx.Response], **cfg: object) -> GameballClient:
    config = GameballConfig.model_validate(
        {"base_url": "https://gb.test", "api_key": API_KEY, **cfg}
    )
    return GameballClient(config, transport=httpx.MockTransport(handler))


def send(c: GameballClient, op: Operation = OP) -> float:
    async def go() -> float:
        try:
            return await c.send(op)
        finally:
            await c.aclose()

    return asyncio.run(go())


def test_posts_the_body_with_auth_headers_to_the_versioned_path() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"success": True})

    send(client(handler, secret_key=SECRET_KEY, api_version="v4.1"), OP)
    [request] = seen
    assert request.method == "POST"
    assert str(request.url) == "https://gb.test/api/v4.1/integrations/events"
    assert request.headers["apikey"] == API_KEY
    assert request.headers["secretkey"] == SECRET_KEY
    assert request.headers["content-type"] == "application/json"
    assert orjson.loads(request.content) == OP.body
    assert API_KEY not in str(request.url)


def test_no_secret_key_header_when_none_is_configured() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200)

    send(client(handler), Operation(Resource.ORDERS, "c1", {"customerId": "c1"}))
    assert "secretkey" not in seen[0].headers
    assert seen[0].url.path == "/api/v4.0/integrations/orders"


@pytest.mark.parametrize(
    ("exc", "says", "unknown"),
    [
        (httpx.ConnectError("refused"), "connection failed", False),
        # Sent with no answer: Gameball may have applied it (a possible duplicate if resent).
        (httpx.ReadTimeout("slow"), "timed out", True),
        (httpx.WriteTimeout("slow"), "timed out", True),
        # Never connected: nothing reached Gameball.
        (httpx.ConnectTimeout("slow"), "timed out", False),
        (httpx.PoolTimeout("busy"), "timed out", False),
        (httpx.RemoteProtocolError("dropped"), "connection failed", False),
    ],
)
def test_network_failures_are_retryable(exc: Exception, says: str, unknown: bool) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    with pytest.raises(RetryableDeliveryError, match=says) as info:
        send(client(handler))
    assert not isinstance(info.value, RateLimitedError)
    assert isinstance(info.value, OutcomeUnknownError) is unknown


def test_429_with_retry_after_raises_rate_limited() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, headers={"Retry-After": "2"}, json={"message": "slow down"})

    with pytest.raises(RateLimitedError) as info:
        send(client(handler))
    assert info.value.retry_after == 2.0


def test_rejection_raises_permanent_with_code() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"code": 3000, "message": "customerId missing"})

    with pytest.raises(PermanentDeliveryError) as info:
        send(client(handler))
    assert (info.value.status, info.value.code) == (400, 3000)


def test_keys_never_appear_in_error_messages() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(RetryableDeliveryError) as info:
        send(client(handler, secret_key=SECRET_KEY))
    assert API_KEY not in str(info.value)
    assert SECRET_KEY not in str(info.value)
