"""`bridge check`'s Gameball probe (through httpx.MockTransport) and its topic report."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import orjson
import pytest

from bridge.check import StepResult, interpret_topics, probe_gameball
from bridge.config import BridgeConfig, parse_config
from bridge.gameball.client import GameballClient

API_KEY, SECRET_KEY = "unit-api-key-123", "unit-secret-key-456"
BASE_URL = "http://gameball.test"


def config() -> BridgeConfig:
    return parse_config(
        {
            "kafka": {"bootstrap_servers": "127.0.0.1:1"},
            "gameball": {"base_url": BASE_URL, "api_key": API_KEY, "secret_key": SECRET_KEY},
            "dead_letter": {"topic": "dlq"},
            "mappings": [
                {"name": "app", "topics": ["app"], "event": {"customer_id": "u", "name": "t"}}
            ],
        },
        env={},
    )


def probe(handler: Callable[[httpx.Request], httpx.Response]) -> tuple[StepResult, list[bytes]]:
    bodies: list[bytes] = []

    def recording(request: httpx.Request) -> httpx.Response:
        bodies.append(request.content)
        return handler(request)

    cfg = config()
    client = GameballClient(cfg.gameball, transport=httpx.MockTransport(recording))
    return asyncio.run(probe_gameball(cfg, client)), bodies


def answer(status: int, code: int | None = None) -> Callable[[httpx.Request], httpx.Response]:
    doc = {"message": "nope"} | ({"code": code} if code is not None else {})
    return lambda _request: httpx.Response(status, content=orjson.dumps(doc))


@pytest.mark.parametrize(
    ("status", "code"),
    [(400, 3000), (422, 3001), (400, 3016), (200, None), (204, None)],
)
def test_keys_accepted(status: int, code: int | None) -> None:
    result, bodies = probe(answer(status, code))
    assert result.ok, result
    assert result.line() == f"gameball: ok (keys accepted by {BASE_URL})"
    # An empty object: no customer id, no event, nothing Gameball would record.
    assert bodies == [b"{}"]


def test_probe_posts_to_events_with_the_keys() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(400, json={"code": 3000, "message": "Missing customerId"})

    probe(handler)
    [request] = seen
    assert request.method == "POST"
    assert str(request.url) == f"{BASE_URL}/api/v4.0/integrations/events"
    assert request.headers["apikey"] == API_KEY
    assert request.headers["secretkey"] == SECRET_KEY


@pytest.mark.parametrize(
    ("status", "code", "says"),
    [
        (401, 1000, "GAMEBALL_API_KEY"),
        (401, 1001, "GAMEBALL_SECRET_KEY"),
        (403, 1002, "GAMEBALL_API_KEY"),
        (401, None, "GAMEBALL_API_KEY"),
        (422, 6000, "disabled for this account"),
    ],
)
def test_keys_refused(status: int, code: int | None, says: str) -> None:
    result, _ = probe(answer(status, code))
    assert not result.ok
    assert result.detail.startswith(f"refused: HTTP {status}")
    assert says in result.detail
    assert API_KEY not in result.line()
    assert SECRET_KEY not in result.line()


@pytest.mark.parametrize(
    "error",
    [httpx.ConnectError("connection refused"), httpx.ConnectTimeout("timed out")],
)
def test_unreachable(error: httpx.TransportError) -> None:
    def handler(_request: httpx.Request) -> httpx.Response:
        raise error

    result, _ = probe(handler)
    assert not result.ok
    assert result.detail.startswith(f"unreachable: {BASE_URL}: ")


@pytest.mark.parametrize(
    ("status", "code"), [(500, 5000), (503, None), (404, 4004), (302, None), (429, None)]
)
def test_anything_else_is_unexpected(status: int, code: int | None) -> None:
    result, _ = probe(answer(status, code))
    assert not result.ok
    assert result.detail.startswith(f"unexpected answer from {BASE_URL}: HTTP {status}")


def test_topic_report() -> None:
    ok = interpret_topics({"app": {"app": 3}, "^shop\\..*": {"shop.a": 1, "shop.b": 2}})
    assert ok.line() == "kafka topics: ok (app: 3 partition(s); ^shop\\..* -> shop.a: 1, shop.b: 2)"
    missing = interpret_topics({"app": {"app": 3}, "gone": {}, "^x.*": {}})
    assert missing.line() == (
        "kafka topics: FAILED: gone does not exist, no topic matches ^x.*; "
        "found app: 3 partition(s)"
    )
