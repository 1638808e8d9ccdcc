"""An erasure after every earlier operation of its customer, and nothing of that customer
consumed before it after it: what the lanes give already (one customer's records in one lane,
in order), and what the fence adds (other lanes: `ordering: partition`, a record's second
operation; records held for their schema)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import orjson

from bridge.backoff import Backoff
from bridge.config import parse_config
from bridge.engine.pipeline import Pipeline
from bridge.gameball.sender import GameballSender
from bridge.mapping.mapper import Mapper
from bridge.record import SourceRecord
from tests.support import FakeDeadLetters, FakeSource
from tests.unit.engine.harness import running, until
from tests.unit.engine.test_schema_holds import V1, FlakyRegistry, encode

RULES = [
    {
        "match": {"when": {"path": "type", "equals": "order"}},
        "outputs": [
            {
                "order": {
                    "customer_id": "user",
                    "order_id": "id",
                    "order_date": {"const": "2024-06-10T06:13:20Z"},
                    "total_paid": {"const": 10},
                }
            }
        ],
    },
    {
        "match": {"when": {"path": "type", "equals": "gift"}},  # for another customer too
        "outputs": [
            {"event": {"customer_id": "user", "name": {"const": "gift_sent"}}},
            {"event": {"customer_id": "to", "name": {"const": "gift_received"}}},
        ],
    },
    {
        "match": {"when": {"path": "type", "equals": "erase"}},
        "outputs": [{"delete_customer": {"customer_id": "user"}}],
    },
    {
        "match": {"when": {"path": "type", "equals": "event"}},
        "outputs": [{"event": {"customer_id": "user", "name": {"const": "e"}}}],
    },
]


class Gameball:
    """Answers every call, the slow ones late; notes when each started and ended."""

    def __init__(self, slow: dict[str, float]) -> None:
        self.slow = slow  # a request whose body or path holds this text -> seconds
        self.calls: list[tuple[str, float, float]] = []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        started = time.monotonic()
        what = f"{request.method} {request.url.path} {request.content.decode()}"
        delay = next((s for text, s in self.slow.items() if text in what), 0.0)
        await asyncio.sleep(delay)
        self.calls.append((what, started, time.monotonic()))
        return httpx.Response(200, json={})

    def call(self, text: str) -> tuple[float, float]:
        (found,) = [(s, e) for what, s, e in self.calls if text in what]
        return found


def build(
    source: FakeSource,
    gameball: Gameball,
    *,
    registry: FlakyRegistry | None = None,
    **delivery: Any,
) -> Pipeline:
    mappings: list[dict[str, Any]] = [{"name": "json", "topics": ["t"], "rules": RULES}]
    raw: dict[str, Any] = {
        "kafka": {"bootstrap_servers": "unused:9092"},
        "gameball": {"base_url": "https://gb.test", "api_key": "k"},
        "dead_letter": {"topic": "dlq"},
        "delivery": {"commit_interval": 0.01, "drain_timeout": 5, **delivery},
        "mappings": mappings,
    }
    if registry is not None:
        raw["schema_registry"] = {"url": "http://unused.test"}
        mappings.insert(
            0,
            {
                "name": "avro",
                "topics": ["a"],
                "format": "avro",
                "event": {"customer_id": "customer", "name": {"const": "buy"}},
            },
        )
    config = parse_config(raw, env={})
    return Pipeline(
        config.delivery,
        source=source,
        sender=GameballSender(
            config.gameball,
            policy=config.delivery.retry.policy(),
            transport=httpx.MockTransport(gameball),
        ),
        dead_letters=FakeDeadLetters(),
        mapper=Mapper(config.mappings, max_record_bytes=10_000, registry=registry),
        schema_backoff=Backoff(0.01, 0.02),
    )


def rec(partition: int, offset: int, **value: Any) -> SourceRecord:
    return SourceRecord("t", partition, offset, orjson.dumps(value))


def test_in_customer_order_the_lane_already_puts_the_erasure_last() -> None:
    gameball = Gameball({"O-1": 0.2})
    source = FakeSource(
        [
            rec(0, 0, type="order", user="x", id="O-1"),
            rec(1, 0, type="erase", user="x"),
            rec(1, 1, type="event", user="x"),
        ]
    )
    bridge = build(source, gameball)

    async def scenario() -> None:
        async with running(bridge):
            await until(lambda: len(gameball.calls) == 3)

    asyncio.run(scenario())
    order, erase, later = (gameball.call(t) for t in ("O-1", "DELETE", '"e"'))
    assert order[1] <= erase[0]
    assert erase[1] <= later[0]


def test_in_partition_order_the_erasure_waits_for_its_customer_on_other_partitions() -> None:
    gameball = Gameball({"O-1": 0.3})
    source = FakeSource(
        [
            rec(0, 0, type="order", user="x", id="O-1"),
            rec(1, 0, type="erase", user="x"),
            rec(1, 1, type="event", user="y"),  # behind the erasure in its partition
            rec(0, 1, type="event", user="x"),  # consumed after it: sent after it
        ]
    )
    bridge = build(source, gameball, ordering="partition")

    async def scenario() -> None:
        async with running(bridge):
            await until(lambda: len(gameball.calls) == 4)

    asyncio.run(scenario())
    order, erase = gameball.call("O-1"), gameball.call("DELETE")
    assert order[1] <= erase[0]  # not before the order finished
    later = [s for what, s, _ in gameball.calls if '"e"' in what and '"x"' in what]
    assert all(erase[1] <= started for started in later)


def test_a_record_naming_the_customer_in_its_second_operation_goes_first() -> None:
    gameball = Gameball({"gift_received": 0.3})
    source = FakeSource(
        [rec(0, 0, type="gift", user="y", to="x"), rec(1, 0, type="erase", user="x")]
    )
    bridge = build(source, gameball)  # by customer: the gift is in y's lane, the erasure in x's

    async def scenario() -> None:
        async with running(bridge):
            await until(lambda: len(gameball.calls) == 3)

    asyncio.run(scenario())
    assert gameball.call("gift_received")[1] <= gameball.call("DELETE")[0]


def test_an_erasure_waits_for_the_records_consumed_before_it_held_for_their_schema() -> None:
    registry = FlakyRegistry()
    registry.down = True  # the Avro record's schema cannot be fetched yet
    held = SourceRecord("a", 0, 0, encode(registry, V1, {"customer": "x", "n": 1}))
    gameball = Gameball({})
    source = FakeSource(
        [
            held,
            rec(0, 0, type="erase", user="x"),
            rec(0, 1, type="event", user="x"),  # behind the erasure: waits with it
            rec(1, 0, type="event", user="z"),  # another customer: goes on
        ]
    )
    source.assigned = [("a", 0), ("t", 0), ("t", 1)]
    bridge = build(source, gameball, registry=registry)

    async def scenario() -> None:
        async with running(bridge):
            await until(lambda: len(gameball.calls) == 1)
            await asyncio.sleep(0.2)
            assert [what for what, _, _ in gameball.calls] == [
                'POST /api/v4.0/integrations/events {"customerId":"z","events":{"e":{}}}'
            ]
            assert bridge.in_flight == 3
            registry.down = False
            await until(lambda: len(gameball.calls) == 4)

    asyncio.run(scenario())
    bought, erase, later = (gameball.call(t) for t in ("buy", "DELETE", '"x","events":{"e"'))
    assert bought[1] <= erase[0] <= erase[1] <= later[0]
    assert bridge.in_flight == 0


REFUND_RULE = {
    "match": {"when": {"path": "type", "equals": "refund"}},
    "outputs": [
        {
            "refund": {
                "customer_id": "user",
                "refund_transaction_id": "rid",
                "reverse_transaction_id": "id",
                "transaction_time": {"const": "2024-06-11T06:13:20Z"},
            }
        }
    ],
}
RULES.insert(0, REFUND_RULE)


class Orders(Gameball):
    """A refund of an order Gameball has not been told of is 9005, as Gameball answers it."""

    def __init__(self, slow: dict[str, float] | None = None) -> None:
        super().__init__(slow or {})
        self.orders: set[str] = set()
        self.refused = 0

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/transactions/refund"):
            body = orjson.loads(request.content)
            if body["reverseTransactionId"] not in self.orders:
                self.refused += 1
                return httpx.Response(404, json={"code": 9005, "message": "not found"})
        answer = await super().__call__(request)
        if request.url.path.endswith("/orders"):
            self.orders.add(orjson.loads(request.content)["orderId"])
        return answer


def test_a_refund_consumed_before_its_order_steps_aside_and_lands_after_it() -> None:
    gameball = Orders()
    source = FakeSource(
        [
            rec(0, 0, type="refund", user="x", id="O-1", rid="R-1"),
            rec(0, 1, type="order", user="x", id="O-1"),  # behind it in x's lane
            rec(0, 2, type="event", user="x"),
        ]
    )
    bridge = build(source, gameball)

    async def scenario() -> None:
        async with running(bridge):
            await until(lambda: len(gameball.calls) == 3, timeout=10)
            await until(lambda: source.last_commit(("t", 0)) == 3)

    asyncio.run(scenario())
    assert gameball.refused >= 1
    assert gameball.call("/orders ")[1] <= gameball.call("R-1")[0]  # the order, then the refund
    assert bridge.counters.delivered == 3
    assert bridge.in_flight == 0


def test_an_erasure_waits_for_a_parked_refund_of_its_customer() -> None:
    gameball = Orders()
    source = FakeSource(
        [
            rec(0, 0, type="refund", user="x", id="O-404", rid="R-1"),  # its order never comes
            rec(1, 0, type="erase", user="x"),
            rec(1, 1, type="event", user="y"),
        ]
    )
    bridge = build(source, gameball, retry={"by_code": {9005: "retry_for:1"}})

    async def scenario() -> None:
        async with running(bridge):
            await until(lambda: '"y"' in str(gameball.calls))  # others go on meanwhile
            assert not any("DELETE" in what for what, _, _ in gameball.calls)
            await until(lambda: any("DELETE" in what for what, _, _ in gameball.calls), 5)

    started = time.monotonic()
    asyncio.run(scenario())
    assert time.monotonic() - started >= 1.0  # the refund's wait, then the erasure
    assert bridge.counters.dead_lettered == 1
    assert bridge.in_flight == 0


def test_a_stop_does_not_wait_for_a_parked_refund() -> None:
    gameball = Orders()
    source = FakeSource([rec(0, 0, type="refund", user="x", id="O-404", rid="R-1")])
    bridge = build(source, gameball)

    async def scenario() -> None:
        async with running(bridge):
            await until(lambda: gameball.refused >= 1)

    started = time.monotonic()
    asyncio.run(scenario())
    assert time.monotonic() - started < 3  # drain_timeout is 5
    assert bridge.counters.abandoned == 1
    assert source.last_commit(("t", 0)) is None
