"""The Gameball emulator, exercised over a real loopback socket."""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from bridge.sandbox.emulator import GameballEmulator, ReceivedRequest

KEY = "test-api-key"
SECRET = "test-secret-key"
ROOT = Path(__file__).resolve().parents[2]

EVENTS = "/api/v4.0/integrations/events"
ORDERS = "/api/v4.0/integrations/orders"
CUSTOMERS = "/api/v4.0/integrations/customers"
PAYMENTS = "/api/v4.0/integrations/payments"


# One TLS context for every client: httpx builds a new one per client otherwise, loading the
# CA bundle each time (slow on a busy machine), and these tests only speak plain HTTP.
TLS = ssl.create_default_context()


def http_client(url: str, api_key: str | None = KEY) -> httpx.Client:
    headers = {"apikey": api_key} if api_key is not None else {}
    return httpx.Client(base_url=url, headers=headers, verify=TLS, timeout=10.0)


def event(customer: str = "c1", **metadata: Any) -> dict[str, Any]:
    return {"customerId": customer, "events": {"write_review": metadata}}


def order(order_id: str = "o1", customer: str = "c1", **extra: Any) -> dict[str, Any]:
    return {
        "customerId": customer,
        "orderId": order_id,
        "orderDate": "2024-10-16T08:13:29.290Z",
        "totalPaid": 99.5,
        **extra,
    }


def payment(payment_id: str = "p1", customer: str = "c1", **extra: Any) -> dict[str, Any]:
    return {
        "customerId": customer,
        "paymentId": payment_id,
        "paymentDate": "2024-10-16T08:13:29Z",
        "totalPaid": 10,
        **extra,
    }


@pytest.fixture
def emu() -> Iterator[GameballEmulator]:
    with GameballEmulator(api_key=KEY) as emulator:
        yield emulator


@pytest.fixture
def client(emu: GameballEmulator) -> Iterator[httpx.Client]:
    with http_client(emu.url) as http:
        yield http


def assert_gameball_error(response: httpx.Response, status: int, code: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["code"] == code
    assert isinstance(body["type"], str)
    assert body["type"]
    assert isinstance(body["message"], str)
    assert body["message"]
    assert isinstance(body["requestId"], str)
    return body


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def post_concurrently(url: str, requests: list[tuple[str, dict[str, Any]]]) -> list[httpx.Response]:
    with (
        http_client(url) as http,
        ThreadPoolExecutor(len(requests)) as pool,
    ):
        futures = [pool.submit(http.post, path, json=body) for path, body in requests]
        return [future.result() for future in futures]


# accepted requests -----------------------------------------------------------------------


def test_valid_bodies_are_accepted_and_recorded_per_resource(
    emu: GameballEmulator, client: httpx.Client
) -> None:
    r = client.post(EVENTS, json=event("c1", rating=5))
    assert r.status_code == 200
    assert r.json() == {"success": True, "message": "Events processed"}
    r = client.post(ORDERS, json=order("o1", lineItems=[{"productId": "p", "price": 2}]))
    assert r.status_code == 200
    assert r.json()["customerId"] == "c1"
    first = client.post(CUSTOMERS, json={"customerId": "c2", "customerAttributes": {}})
    again = client.post(CUSTOMERS, json={"customerId": "c2", "email": "a@b.c"})
    other = client.post(CUSTOMERS, json={"customerId": "c3"})
    assert first.status_code == again.status_code == other.status_code == 200
    assert isinstance(first.json()["gameballId"], int)
    assert first.json() == again.json()  # an upsert: same customer, same id
    assert other.json() != first.json()
    assert client.post(PAYMENTS, json=payment()).status_code == 200
    assert client.post("/api/v4.1/integrations/events", json=event("c9")).status_code == 200

    events = emu.received("events")
    assert [(r.customer_id, r.api_version) for r in events] == [("c1", "v4.0"), ("c9", "v4.1")]
    assert events[0].body == event("c1", rating=5)
    assert isinstance(events[0], ReceivedRequest)
    assert [r.body["orderId"] for r in emu.received("orders")] == ["o1"]
    assert len(emu.received("customers")) == 3
    assert [r.path for r in emu.received("payments")] == [PAYMENTS]
    every = emu.received()
    assert [r.seq for r in every] == list(range(1, 8))
    assert [r.resource for r in every][:2] == ["events", "orders"]
    stats = emu.stats()
    assert stats["accepted"] == 7
    assert stats["by_resource"]["customers"] == {"requests": 3, "accepted": 3}
    assert stats["by_status"] == {200: 7}
    assert stats["events_tracked"] == 2


def test_wait_for_counts_accepted_requests(emu: GameballEmulator, client: httpx.Client) -> None:
    assert not emu.wait_for(1, timeout=0.05)
    client.post(EVENTS, json=event("a"))
    client.post(EVENTS, json={"customerId": "a"})  # rejected: not counted
    assert emu.wait_for(1, "events", timeout=1)
    assert not emu.wait_for(2, "events", timeout=0.05)
    assert not emu.wait_for(1, "orders", timeout=0.05)


def test_record_bodies_off_keeps_counts_only() -> None:
    with (
        GameballEmulator(api_key=KEY, record_bodies=False) as emu,
        http_client(emu.url) as http,
    ):
        for i in range(5):
            assert http.post(EVENTS, json=event(f"c{i}")).status_code == 200
        assert emu.received() == []
        assert emu.stats()["by_resource"]["events"]["accepted"] == 5
        assert emu.wait_for(5, timeout=1)


# authentication --------------------------------------------------------------------------


def test_missing_or_wrong_api_key_is_401_1000(emu: GameballEmulator) -> None:
    with http_client(emu.url, api_key=None) as http:
        assert_gameball_error(http.post(EVENTS, json=event()), 401, 1000)
        wrong = http.post(EVENTS, json=event(), headers={"apikey": "nope"})
        assert_gameball_error(wrong, 401, 1000)
        # Header names are case-insensitive.
        assert http.post(EVENTS, json=event(), headers={"APIKey": KEY}).status_code == 200
    assert len(emu.received()) == 1


def test_secret_key_is_required_for_orders_payments_and_all_of_v41() -> None:
    with (
        GameballEmulator(api_key=KEY, secret_key=SECRET) as emu,
        http_client(emu.url) as http,
    ):
        wrong = {"secretkey": "wrong"}
        assert_gameball_error(http.post(ORDERS, json=order(), headers=wrong), 401, 1001)
        assert_gameball_error(http.post(PAYMENTS, json=payment()), 401, 1001)
        v41 = "/api/v4.1/integrations/events"
        assert_gameball_error(http.post(v41, json=event()), 401, 1001)
        assert http.post(EVENTS, json=event()).status_code == 200  # v4.0 events: apikey only
        both = {"secretkey": SECRET}
        assert http.post(ORDERS, json=order(), headers=both).status_code == 200
        assert http.post(v41, json=event("c2"), headers=both).status_code == 200
        assert emu.stats()["by_status"] == {200: 3, 401: 3}


# validation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "missing"),
    [
        (EVENTS, {"customerId": "c1"}, "events"),
        (EVENTS, {"events": {"x": {}}}, "customerId"),
        (ORDERS, {k: v for k, v in order().items() if k != "totalPaid"}, "totalPaid"),
        (ORDERS, {k: v for k, v in order().items() if k != "orderDate"}, "orderDate"),
        (CUSTOMERS, {"email": "a@b.c"}, "customerId"),
        (PAYMENTS, {k: v for k, v in payment().items() if k != "paymentId"}, "paymentId"),
        # Gameball's spec requires a payment's branch uniqueId (tests/unit/mapping has the
        # cross-check of the emulator's tables against the spec).
        (PAYMENTS, payment(merchant={"branch": {"name": "b"}}), "merchant.branch.uniqueId"),
    ],
)
def test_missing_required_field_is_400_3000(
    emu: GameballEmulator, client: httpx.Client, path: str, body: dict[str, Any], missing: str
) -> None:
    error = assert_gameball_error(client.post(path, json=body), 400, 3000)
    assert missing in error["message"]
    assert emu.received() == []


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (EVENTS, {"customerId": 42, "events": {"x": {}}}),
        (EVENTS, {"customerId": "c1", "events": {"x": "not an object"}}),
        (EVENTS, {"customerId": "c1", "events": {}}),
        (EVENTS, {"customerId": "c1", "events": ["x"]}),
        (ORDERS, order(totalPaid="99.5")),
        (ORDERS, order(totalPaid=True)),
        (ORDERS, order(orderId=17)),
        (ORDERS, order(orderDate="yesterday")),
        (ORDERS, order(lineItems={"productId": "p"})),
        (ORDERS, order(lineItems=["p"])),
        (ORDERS, order(lineItems=[{"price": "cheap"}])),
        (ORDERS, order(channel="tv")),
        (ORDERS, order(guest="yes")),
        (ORDERS, order(extra={"k": {"nested": 1}})),
        (ORDERS, order(cashbackConfigurations={"returnWindow": 9000})),
        (CUSTOMERS, {"customerId": "c1", "customerAttributes": "vip"}),
        (CUSTOMERS, {"customerId": "c1", "customerAttributes": {"totalOrders": 1.5}}),
        (PAYMENTS, payment(totalPaid=None)),
        (PAYMENTS, payment(paymentDetails=[{"amount": "1"}])),
    ],
)
def test_wrong_type_or_value_is_422(
    emu: GameballEmulator, client: httpx.Client, path: str, body: dict[str, Any]
) -> None:
    response = client.post(path, json=body)
    assert response.status_code == 422, response.text
    assert response.json()["code"] in (3001, 3003)
    assert emu.received() == []


def test_null_optional_fields_and_unknown_fields_are_tolerated(client: httpx.Client) -> None:
    body = order(channel=None, somethingNew={"a": 1}, lineItems=[{"productId": "p", "x": 1}])
    assert client.post(ORDERS, json=body).status_code == 200


@pytest.mark.parametrize("raw", [b"{not json", b"", b'["a list"]', b'"text"'])
def test_unparseable_payload_is_400_3016(client: httpx.Client, raw: bytes) -> None:
    response = client.post(EVENTS, content=raw, headers={"content-type": "application/json"})
    assert_gameball_error(response, 400, 3016)


def test_duplicate_order_and_payment_ids_are_422_9004(
    emu: GameballEmulator, client: httpx.Client
) -> None:
    assert client.post(ORDERS, json=order("o1")).status_code == 200
    assert_gameball_error(client.post(ORDERS, json=order("o1", customer="c2")), 422, 9004)
    assert client.post(ORDERS, json=order("O1")).status_code == 200  # case-sensitive
    assert client.post(PAYMENTS, json=payment("o1")).status_code == 200  # separate space
    assert_gameball_error(client.post(PAYMENTS, json=payment("o1")), 422, 9004)
    assert [r.body["orderId"] for r in emu.received("orders")] == ["o1", "O1"]
    assert emu.stats()["duplicates"] == 2


def test_unknown_path_and_wrong_method(client: httpx.Client) -> None:
    assert_gameball_error(client.post("/api/v4.0/integrations/nope", json={}), 404, 4004)
    response = client.get(EVENTS)
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"


# fault injection -------------------------------------------------------------------------


def test_script_is_consumed_in_order_then_normal_behaviour_resumes(
    emu: GameballEmulator, client: httpx.Client
) -> None:
    emu.script([503, {"status": 429, "retry_after": 2}, {"status": 422, "code": 2001}, 500])
    assert_gameball_error(client.post(EVENTS, json=event("a")), 503, 5003)
    limited = client.post(EVENTS, json=event("b"))
    assert_gameball_error(limited, 429, 429)
    assert limited.headers["retry-after"] == "2"
    assert_gameball_error(client.post(EVENTS, json=event("c")), 422, 2001)
    assert_gameball_error(client.post(EVENTS, json=event("d")), 500, 5000)
    assert client.post(EVENTS, json=event("e")).status_code == 200
    assert client.post(EVENTS, json=event("f")).status_code == 200
    assert [r.customer_id for r in emu.received()] == ["e", "f"]
    assert emu.stats()["by_status"] == {200: 2, 422: 1, 429: 1, 500: 1, 503: 1}


def test_script_scoped_to_a_resource_leaves_others_alone(
    emu: GameballEmulator, client: httpx.Client
) -> None:
    emu.script([503, {"status": 200}, 503], resource="orders")
    assert client.post(EVENTS, json=event()).status_code == 200
    assert client.post(ORDERS, json=order("o1")).status_code == 503
    assert client.post(ORDERS, json=order("o2")).status_code == 200  # a pass-through step
    assert client.post(ORDERS, json=order("o3")).status_code == 503
    assert client.post(ORDERS, json=order("o4")).status_code == 200


def test_drop_closes_the_connection_without_an_answer(
    emu: GameballEmulator, client: httpx.Client
) -> None:
    emu.script([{"drop": True}])
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        client.post(EVENTS, json=event("a"))
    assert client.post(EVENTS, json=event("b")).status_code == 200
    assert [r.customer_id for r in emu.received()] == ["b"]
    assert emu.stats()["dropped"] == 1


def test_outage_answers_every_request_until_cleared(
    emu: GameballEmulator, client: httpx.Client
) -> None:
    emu.set_outage(503)
    for customer in ("a", "b", "c"):
        assert_gameball_error(client.post(EVENTS, json=event(customer)), 503, 5003)
    emu.set_outage("drop")
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        client.post(EVENTS, json=event("d"))
    emu.set_outage(None)
    assert client.post(EVENTS, json=event("e")).status_code == 200
    assert [r.customer_id for r in emu.received()] == ["e"]


def test_latency_delays_the_answer_without_blocking_other_connections(
    emu: GameballEmulator, client: httpx.Client
) -> None:
    emu.set_latency(300)
    started = time.monotonic()
    assert client.post(EVENTS, json=event("solo")).status_code == 200
    assert time.monotonic() - started >= 0.25
    started = time.monotonic()
    batch = [(EVENTS, event(f"c{i}")) for i in range(8)]
    responses = post_concurrently(emu.url, batch)
    elapsed = time.monotonic() - started
    assert [r.status_code for r in responses] == [200] * 8
    # Eight requests served one after another would take 2.4 s.
    assert 0.25 <= elapsed < 1.5


def test_overlapping_requests_for_one_customer_get_2001(
    emu: GameballEmulator, client: httpx.Client
) -> None:
    emu.set_latency(400)
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(client.post, EVENTS, json=event("same"))
        # Start the second request only once the first one is being processed.
        assert wait_until(lambda: emu.stats()["in_flight"] == 1)
        assert_gameball_error(client.post(EVENTS, json=event("same")), 422, 2001)
        # Another customer is not held up by it, on any resource.
        assert client.post(ORDERS, json=order("o", "other")).status_code == 200
        assert first.result().status_code == 200
    assert emu.stats()["overlap_violations"] == 1
    # Once the first answer is out, the customer is free again.
    assert client.post(EVENTS, json=event("same")).status_code == 200
    assert [r.customer_id for r in emu.received()] == ["same", "other", "same"]
    assert emu.stats()["overlap_violations"] == 1


def test_rate_limits_give_429_with_retry_after() -> None:
    limits = {"events": (3, 5)}
    with (
        GameballEmulator(api_key=KEY, rate_limits=True, limits=limits) as emu,
        http_client(emu.url) as http,
    ):
        statuses = [http.post(EVENTS, json=event(f"c{i}")).status_code for i in range(4)]
        assert statuses == [200, 200, 200, 429]
        limited = http.post(EVENTS, json=event("x"))
        assert_gameball_error(limited, 429, 429)
        assert 1 <= int(limited.headers["retry-after"]) <= 1
        # Limits are per resource.
        assert http.post(ORDERS, json=order()).status_code == 200
        time.sleep(1.05)
        # The per-second window has room again, the 30 s window (5) has two more.
        statuses = [http.post(EVENTS, json=event(f"d{i}")).status_code for i in range(3)]
        assert statuses == [200, 200, 429]
        thirty = http.post(EVENTS, json=event("y"))
        assert 25 <= int(thirty.headers["retry-after"]) <= 30
        emu.set_retry_after(False)
        assert "retry-after" not in http.post(EVENTS, json=event("z")).headers
        assert emu.stats()["rate_limited"] == 5
        assert len(emu.received("events")) == 5


def test_rate_limits_are_off_by_default() -> None:
    with (
        GameballEmulator(api_key=KEY, limits={"events": (1, 1)}) as emu,
        http_client(emu.url) as http,
    ):
        statuses = {http.post(EVENTS, json=event(f"c{i}")).status_code for i in range(10)}
        assert statuses == {200}
        emu.set_rate_limits(True)
        # Requests made while the limits were off do not count against them.
        late = [http.post(EVENTS, json=event(f"late{i}")).status_code for i in range(2)]
        assert late == [200, 429]


def test_out_of_order_values_are_counted_per_customer() -> None:
    with (
        GameballEmulator(api_key=KEY, order_key="seq") as emu,
        http_client(emu.url) as http,
    ):
        for seq in (1, 2, 5, 3, 6):
            assert http.post(EVENTS, json=event("a", seq=seq)).status_code == 200
        for seq in (1, 2, 2, 3):  # a repeat is not a step backwards
            http.post(EVENTS, json=event("b", seq=seq))
        http.post(EVENTS, json=event("c"))  # no key: ignored
        # A top-level value counts too (e.g. on orders).
        http.post(ORDERS, json=order("o1", customer="d", seq=10))
        http.post(ORDERS, json=order("o2", customer="d", seq=9))
        stats = emu.stats()
        assert stats["out_of_order_violations"] == 2
        assert stats["out_of_order_customers"] == 2


# control endpoints -----------------------------------------------------------------------


def test_http_control_endpoints(emu: GameballEmulator) -> None:
    with http_client(emu.url, api_key=None) as http:
        assert http.get("/_emulator/health").json() == {"ok": True}
        faults = {"script": [503], "latency_ms": 0, "rate_limits": False, "retry_after": True}
        assert http.post("/_emulator/faults", json=faults).status_code == 200
        auth = {"apikey": KEY}
        assert http.post(EVENTS, json=event("a"), headers=auth).status_code == 503
        assert http.post(EVENTS, json=event("b"), headers=auth).status_code == 200
        assert http.post(ORDERS, json=order(), headers=auth).status_code == 200

        stats = http.get("/_emulator/stats").json()
        assert stats["by_status"] == {"200": 2, "503": 1}
        assert stats["by_resource"]["events"] == {"requests": 2, "accepted": 1}
        received = http.get("/_emulator/received", params={"resource": "events"}).json()
        assert [(r["customerId"], r["body"]) for r in received] == [("b", event("b"))]
        assert len(http.get("/_emulator/received").json()) == 2
        assert len(http.get("/_emulator/received", params={"since": 1}).json()) == 1

        bad = http.post("/_emulator/faults", json={"outage": "sometimes"})
        assert bad.status_code == 400
        assert http.post("/_emulator/faults", json={"nope": 1}).status_code == 400
        assert http.post("/_emulator/faults", json={"outage": 503}).status_code == 200
        assert http.post(EVENTS, json=event("c"), headers=auth).status_code == 503
        assert http.post("/_emulator/faults", json={"outage": None}).status_code == 200
        assert http.post(EVENTS, json=event("d"), headers=auth).status_code == 200

        limits = {"rate_limits": True, "limits": {"events": [1, 1]}}
        assert http.post("/_emulator/faults", json=limits).json()["limits"]["events"] == [1, 1]
        assert http.post(EVENTS, json=event("e"), headers=auth).status_code == 200
        assert http.post(EVENTS, json=event("f"), headers=auth).status_code == 429

        assert http.post("/_emulator/reset").json() == {"reset": True}
        assert http.get("/_emulator/faults").json()["rate_limits"] is False
        assert http.get("/_emulator/stats").json()["total_requests"] == 0
        assert http.get("/_emulator/received").json() == []
        assert http.get("/_emulator/nothing").status_code == 404


def test_reset_clears_records_faults_and_duplicate_memory(
    emu: GameballEmulator, client: httpx.Client
) -> None:
    client.post(ORDERS, json=order("o1"))
    emu.script([503])
    emu.set_latency(5000)
    emu.reset()
    assert emu.received() == []
    assert client.post(ORDERS, json=order("o1")).status_code == 200  # fast, not 503/9004


# the HTTP layer --------------------------------------------------------------------------


def raw_request(body: dict[str, Any], connection: str = "keep-alive") -> bytes:
    payload = json.dumps(body).encode()
    head = (
        f"POST {EVENTS} HTTP/1.1\r\nHost: x\r\napikey: {KEY}\r\n"
        f"Content-Type: application/json\r\nConnection: {connection}\r\n"
        f"Content-Length: {len(payload)}\r\n\r\n"
    )
    return head.encode() + payload


def read_responses(sock: socket.socket, count: int) -> list[tuple[int, bytes]]:
    """Read `count` Content-Length-framed responses from a socket."""
    buf = b""
    responses: list[tuple[int, bytes]] = []
    sock.settimeout(5)
    while len(responses) < count:
        end = buf.find(b"\r\n\r\n")
        if end >= 0:
            head = buf[:end].decode("latin-1").split("\r\n")
            headers = dict(line.lower().split(": ", 1) for line in head[1:])
            length = int(headers["content-length"])
            if len(buf) >= end + 4 + length:
                status = int(head[0].split(" ")[1])
                responses.append((status, buf[end + 4 : end + 4 + length]))
                buf = buf[end + 4 + length :]
                continue
        chunk = sock.recv(65536)
        if not chunk:
            break
        buf += chunk
    return responses


def test_many_requests_over_one_keep_alive_connection(
    emu: GameballEmulator, client: httpx.Client
) -> None:
    ports = set()
    for i in range(200):
        response = client.post(EVENTS, json=event(f"c{i}"))
        assert response.status_code == 200
        ports.add(response.extensions["network_stream"].get_extra_info("client_addr")[1])
    assert len(ports) == 1
    assert emu.stats()["accepted"] == 200


def test_pipelined_and_partial_requests_are_parsed_in_order(emu: GameballEmulator) -> None:
    port = int(emu.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port)) as sock:
        # Three requests in one write, plus a fourth's first bytes.
        fourth = raw_request(event("p4", note="split"))
        sock.sendall(b"".join(raw_request(event(f"p{i}")) for i in (1, 2, 3)) + fourth[:7])
        # The rest of the fourth in awkward pieces: inside the head, across the blank
        # line, inside the body.
        rest = fourth[7:]
        blank = rest.index(b"\r\n\r\n")
        for piece in (rest[:20], rest[20 : blank + 2], rest[blank + 2 : blank + 5]):
            sock.sendall(piece)
            time.sleep(0.02)
        sock.sendall(rest[blank + 5 :] + b"\r\n" + raw_request(event("p5"), connection="close"))
        responses = read_responses(sock, 5)
        assert [status for status, _ in responses] == [200] * 5
        assert sock.recv(1) == b""  # "Connection: close" honoured
    assert [r.customer_id for r in emu.received()] == ["p1", "p2", "p3", "p4", "p5"]
    assert emu.received()[3].body == event("p4", note="split")


def test_pipelined_requests_behind_a_delayed_answer_keep_their_order(
    emu: GameballEmulator,
) -> None:
    emu.script([{"status": 200, "delay_ms": 200}])
    port = int(emu.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(raw_request(event("slow")) + raw_request(event("fast")))
        responses = read_responses(sock, 2)
    assert [status for status, _ in responses] == [200, 200]
    assert [r.customer_id for r in emu.received()] == ["slow", "fast"]


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (f"POST {EVENTS} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 411),
        (f"POST {EVENTS} HTTP/1.1\r\nHost: x\r\n\r\n", 411),
        ("NONSENSE\r\n\r\n", 400),
        (f"POST {EVENTS} HTTP/1.1\r\nContent-Length: ten\r\n\r\n", 400),
        (f"POST {EVENTS} HTTP/1.1\r\nbad header\r\n\r\n", 400),
        (f"POST {EVENTS} HTTP/2.0\r\nContent-Length: 0\r\n\r\n", 505),
    ],
)
def test_unframeable_requests_are_rejected_and_closed(
    emu: GameballEmulator, raw: str, status: int
) -> None:
    port = int(emu.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(raw.encode())
        responses = read_responses(sock, 1)
        assert [s for s, _ in responses] == [status]
        assert sock.recv(1) == b""
    assert emu.received() == []


def test_expect_100_continue_is_answered(emu: GameballEmulator) -> None:
    port = int(emu.url.rsplit(":", 1)[1])
    payload = json.dumps(event("e")).encode()
    head = (
        f"POST {EVENTS} HTTP/1.1\r\nHost: x\r\napikey: {KEY}\r\nExpect: 100-continue\r\n"
        f"Content-Length: {len(payload)}\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.settimeout(5)
        sock.sendall(head.encode())
        assert sock.recv(100).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        sock.sendall(payload)
        assert [s for s, _ in read_responses(sock, 1)] == [200]


# CLI -------------------------------------------------------------------------------------


def test_cli_serves_in_the_foreground_and_stops_on_sigterm() -> None:
    argv = [sys.executable, "-m", "bridge.sandbox.emulator", "--port", "0", "--api-key", KEY]
    with subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None
            announced = json.loads(proc.stdout.readline())
            with http_client(announced["url"]) as http:
                assert http.post(EVENTS, json=event()).status_code == 200
                assert http.get("/_emulator/stats").json()["accepted"] == 1
            proc.terminate()
            assert proc.wait(10) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
