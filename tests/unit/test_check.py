"""`bridge check`'s Gameball probe (through httpx.MockTransport) and its topic report."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import orjson
import pytest

from bridge.check import StepResult, interpret_instance, interpret_topics, probe_gameball
from bridge.config import BridgeConfig, parse_config
from bridge.gameball.client import GameballClient
from bridge.kafka.admin import InstanceHolder

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


def _with_instance(**keys: object) -> BridgeConfig:
    return config().model_copy(
        update={"kafka": config().kafka.model_copy(update={"instance_id": "web-0", **keys})}
    )


def test_instance_id_free() -> None:
    step = interpret_instance(_with_instance(), None)
    assert step.line() == (
        "kafka instance id: ok (web-0: leaves on SIGTERM; no member of gameball-bridge holds it)"
    )


def test_instance_id_held_is_a_warning() -> None:
    holder = InstanceHolder(member_id="web-0-1f2e", client_id="web-0", host="/10.0.0.7")
    step = interpret_instance(_with_instance(leave_group_on_shutdown=False), holder)
    assert step.ok
    assert step.detail.startswith("web-0: keeps its partitions on SIGTERM; WARNING: held by ")
    assert "member web-0-1f2e (client web-0, host /10.0.0.7)" in step.detail


def test_no_instance_step_without_an_id(monkeypatch: pytest.MonkeyPatch) -> None:
    import bridge.check as check

    unreachable = [
        StepResult("kafka topics", False, "unreachable"),
        StepResult("dead-letter topic", False, "not checked: Kafka is unreachable"),
    ]
    monkeypatch.setattr(check, "check_kafka", lambda *_a, **_k: list(unreachable))
    monkeypatch.setattr(check, "check_instance_id", lambda *_a, **_k: StepResult("id", True))
    monkeypatch.setattr(check, "probe_gameball", _probe_ok)
    assert [s.name for s in check.run_checks(config())] == [
        "mappings",
        "kafka topics",
        "dead-letter topic",
        "gameball",
    ]
    # With an id but Kafka unreachable: said once, by the topics step.
    assert len(check.run_checks(_with_instance())) == 4
    monkeypatch.setattr(
        check, "check_kafka", lambda *_a, **_k: [StepResult("kafka topics", True)] * 2
    )
    assert [s.name for s in check.run_checks(_with_instance())][3] == "id"


async def _probe_ok(_config: BridgeConfig) -> StepResult:
    return StepResult("gameball", True)
