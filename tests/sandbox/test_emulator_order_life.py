"""The emulator's refunds, cancellations, customer tags and erasures, over a real socket: the
spec's validation, the "transactions, others" rate-limit bucket, a reused refund id (9004),
a refund of an unknown order (9005), and the customer's balance."""

from __future__ import annotations

from typing import Any

import httpx

from bridge.sandbox.emulator import GameballEmulator
from tests.sandbox.test_emulator import (
    ORDERS,
    assert_gameball_error,
    client,
    emu,
    order,
)

__all__ = ["client", "emu"]  # fixtures

REFUND = "/api/v4.0/integrations/transactions/refund"


def refund(refund_id: str = "r1", order_id: str = "o1", **extra: Any) -> dict[str, Any]:
    return {
        "customerId": "c1",
        "refundTransactionId": refund_id,
        "reverseTransactionId": order_id,
        "transactionTime": "2024-10-17T08:13:29.290Z",
        **extra,
    }


def tags(customer: str = "c1") -> str:
    return f"/api/v4.0/integrations/customers/{customer}/tags"


def test_a_partial_refund_then_a_cancellation_take_the_reward_back(
    emu: GameballEmulator, client: httpx.Client
) -> None:
    assert client.post(ORDERS, json=order(totalPaid=120)).json()["rewardedPoints"] == 120
    assert emu.customer("c1") == {"balance": 120, "tags": []}
    answer = client.post(REFUND, json=refund("r1", refundAmount=20.5))
    assert answer.status_code == 200, answer.text
    assert answer.json()["refundEquivalentPoints"] == 20
    assert emu.customer("c1") == {"balance": 100, "tags": []}
    cancel = client.post(REFUND, json=refund("cancel-o1"))  # no amount: the rest
    assert cancel.json()["refundEquivalentPoints"] == 100
    assert emu.customer("c1") == {"balance": 0, "tags": []}
    # A further one: the order is cancelled already.
    assert_gameball_error(client.post(REFUND, json=refund("r2", refundAmount=1)), 422, 9001)
    assert [r.body["refundTransactionId"] for r in emu.received("refund")] == ["r1", "cancel-o1"]


def test_a_reused_refund_id_is_9004_and_changes_nothing(
    emu: GameballEmulator, client: httpx.Client
) -> None:
    client.post(ORDERS, json=order(totalPaid=50))
    assert client.post(REFUND, json=refund("r1", refundAmount=10)).status_code == 200
    assert_gameball_error(client.post(REFUND, json=refund("r1", refundAmount=10)), 422, 9004)
    # The retry of a cancellation that landed: 9004 too, not "already cancelled".
    assert client.post(REFUND, json=refund("c1")).status_code == 200
    assert_gameball_error(client.post(REFUND, json=refund("c1")), 422, 9004)
    assert emu.customer("c1") == {"balance": 0, "tags": []}
    assert emu.stats()["duplicates"] == 2


def test_a_refund_of_an_unknown_order_is_9005_until_the_order_is_in(
    emu: GameballEmulator, client: httpx.Client
) -> None:
    assert_gameball_error(client.post(REFUND, json=refund("r1", "o9")), 404, 9005)
    client.post(ORDERS, json=order("o9", totalPaid=30))
    # The same refund id again: not claimed by the refusal.
    assert client.post(REFUND, json=refund("r1", "o9")).status_code == 200
    assert emu.customer("c1") == {"balance": 0, "tags": []}


def test_refunds_are_validated_as_the_spec_says(client: httpx.Client) -> None:
    body = refund()
    del body["reverseTransactionId"]
    assert_gameball_error(client.post(REFUND, json=body), 400, 3000)
    bad = refund(transactionTime="yesterday")
    assert_gameball_error(client.post(REFUND, json=bad), 422, 3003)
    branch = refund(merchant={"branch": {"name": "no id"}})
    assert_gameball_error(client.post(REFUND, json=branch), 400, 3000)


def test_tags_are_added_and_removed(emu: GameballEmulator, client: httpx.Client) -> None:
    assert client.post(tags(), json={"tags": "vip, gamer"}).status_code == 200
    assert emu.customer("c1") == {"balance": 0, "tags": ["gamer", "vip"]}
    assert client.request("DELETE", tags(), json={"tags": "gamer"}).status_code == 200
    assert emu.customer("c1") == {"balance": 0, "tags": ["vip"]}
    assert_gameball_error(client.post(tags(), json={"tags": ["vip"]}), 422, 3003)
    assert_gameball_error(client.post(tags(), json={}), 400, 3000)
    assert [r.resource for r in emu.received()] == ["add_customer_tags", "remove_customer_tags"]
    assert emu.received()[0].customer_id == "c1"


def test_an_escaped_customer_id_is_one_path_segment(
    emu: GameballEmulator, client: httpx.Client
) -> None:
    client.post(ORDERS, json=order(customer="a/b"))
    assert emu.customer("a/b") is not None
    assert client.delete("/api/v4.0/integrations/customers/a%2Fb").status_code == 200
    assert emu.customer("a/b") is None


def test_an_erasure_forgets_the_customer_and_a_second_one_is_7000(
    emu: GameballEmulator, client: httpx.Client
) -> None:
    client.post(ORDERS, json=order(totalPaid=10))
    customer = "/api/v4.0/integrations/customers/c1"
    assert client.delete(customer).status_code == 200
    assert emu.customer("c1") is None
    assert_gameball_error(client.delete(customer), 404, 7000)
    # Its orders went with it: a refund of one finds none.
    assert_gameball_error(client.post(REFUND, json=refund("r1")), 404, 9005)
    assert client.get("/_emulator/customers/c1").status_code == 404
    assert emu.stats()["customers_erased"] == 1


def test_methods_and_secret_keys_per_endpoint(emu: GameballEmulator, client: httpx.Client) -> None:
    answer = client.put("/api/v4.0/integrations/customers/c1", json={})
    assert answer.status_code == 405
    assert answer.headers["allow"] == "DELETE"
    assert client.get(REFUND).status_code == 405
    with (
        GameballEmulator(api_key="k", secret_key="s") as strict,
        httpx.Client(base_url=strict.url, headers={"apikey": "k"}) as http,
    ):
        assert_gameball_error(http.post(REFUND, json=refund()), 401, 1001)
        assert_gameball_error(http.delete("/api/v4.0/integrations/customers/c1"), 401, 1001)


def test_refunds_count_in_the_others_bucket_with_payments(emu: GameballEmulator) -> None:
    emu.set_rate_limits(True, {"others": (2, 100)})
    with httpx.Client(base_url=emu.url, headers={"apikey": "test-api-key"}) as http:
        http.post(ORDERS, json=order(totalPaid=10))
        statuses = [
            http.post(REFUND, json=refund(f"r{i}", refundAmount=1)).status_code for i in range(3)
        ]
    assert statuses == [200, 200, 429]
