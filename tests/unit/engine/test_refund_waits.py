"""A refund whose order Gameball does not know yet is retried for a time, never dead-lettered
at once; operations the batch API does not take travel as single calls whatever the mode."""

from __future__ import annotations

import asyncio
import time

from bridge.engine.delivery import Delivery
from bridge.engine.settings import DeliveryConfig
from bridge.gameball.sender import GameballSender
from bridge.gameball.settings import BatchConfig, GameballConfig
from bridge.observability.stats import Counters
from bridge.record import Operation
from tests.support import Answer, FakeDeadLetters, scripted
from tests.unit.engine.test_delivery import make_job, run_job

REFUND = Operation.of(
    "refund",
    "c1",
    {
        "customerId": "c1",
        "refundTransactionId": "R-1",
        "reverseTransactionId": "O-1",
        "transactionTime": "2024-06-10T06:13:20.000Z",
    },
)
NOT_YET: Answer = (404, {"code": 9005, "message": "Reversed transaction not found"})


def test_a_refund_before_its_order_is_retried_until_the_order_is_in() -> None:
    counters, dead, seen = run_job([NOT_YET] * 6 + [200], make_job(REFUND))
    assert counters.delivered == 1
    assert not dead.written
    assert len(seen) == 7
    assert all(r.url.path == "/api/v4.0/integrations/transactions/refund" for r in seen)


def test_a_refund_whose_order_never_comes_is_dead_lettered_after_its_time() -> None:
    started = time.monotonic()
    _counters, dead, seen = run_job(
        [NOT_YET] * 1000, make_job(REFUND), by_code={9005: "retry_for:1"}, max_backoff=0.05
    )
    took = time.monotonic() - started
    assert 1.0 <= took < 3.0
    assert len(seen) > 5  # many attempts, bounded by time, not by count
    [(_, reason)] = dead.written
    assert reason.kind == "retries_exhausted"
    assert reason.gameball_code == 9005
    assert reason.message.startswith("refund: HTTP 404, code 9005")


def test_a_reused_refund_id_counts_as_delivered() -> None:
    counters, dead, _ = run_job([(422, {"code": 9004})], make_job(REFUND))
    assert counters.delivered == 1
    assert not dead.written


def test_tags_and_erasures_go_as_single_calls_while_customers_are_batched() -> None:
    transport, seen = scripted([200, 200])
    tags = Operation.of("add_customer_tags", "c1", {"tags": "vip"}, (("customerId", "c1"),))
    erase = Operation.of("delete_customer", "c1", {}, (("customerId", "c1"),))

    async def go() -> None:
        gameball = GameballConfig.model_validate(
            {"base_url": "https://gb.test", "api_key": "k", "rate_limits": {"enabled": False}}
        )
        sender = GameballSender(
            gameball, transport=transport, batch=BatchConfig(mode="always", journal_topic=None)
        )
        delivery = Delivery(
            DeliveryConfig(),
            sender=sender,
            dead_letters=FakeDeadLetters(),
            counters=Counters(),
            is_current=lambda _job: True,
        )
        try:
            await asyncio.wait_for(delivery.deliver(make_job(tags, erase)), 5)
        finally:
            await sender.aclose()

    asyncio.run(go())
    assert [(r.method, r.url.path) for r in seen] == [
        ("POST", "/api/v4.0/integrations/customers/c1/tags"),
        ("DELETE", "/api/v4.0/integrations/customers/c1"),
    ]
