"""The observability port: /healthz, /readyz and /metrics over a real socket on 127.0.0.1."""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bridge.observability.health import EngineStatus, PartitionStatus, Verdict
from bridge.observability.http import HttpServer
from bridge.observability.monitor import Monitor
from bridge.observability.settings import ObservabilityConfig
from bridge.observability.stats import Counters
from bridge.record import Resource


def get(port: int, path: str) -> tuple[int, str, bytes]:
    """Status, content type and body of a GET (error statuses included)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.headers["Content-Type"], exc.read()


def samples(text: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text.decode())
        for s in family.samples
    }


class FakeProbes:
    def __init__(self) -> None:
        self.healthy = Verdict(True)
        self.ready = Verdict(False, ("Gameball unreachable",))

    def health(self) -> Verdict:
        return self.healthy

    def readiness(self) -> Verdict:
        return self.ready

    def metrics(self) -> tuple[bytes, str]:
        return b"# fake\nx_total 1.0\n", "text/plain; version=0.0.4; charset=utf-8"

    def status(self) -> dict[str, Any]:
        return {"fake": True}


@pytest.fixture
def probes() -> FakeProbes:
    return FakeProbes()


@pytest.fixture
def port(probes: FakeProbes) -> Iterator[int]:
    server = HttpServer(probes, "127.0.0.1", 0)
    server.start()
    try:
        yield server.port
    finally:
        server.stop()


def test_healthz_and_readyz_answer_200_or_503_with_the_reasons(
    probes: FakeProbes, port: int
) -> None:
    assert get(port, "/healthz") == (200, "application/json", b'{"status":"ok","reasons":[]}\n')
    status, content_type, body = get(port, "/readyz")
    assert (status, content_type) == (503, "application/json")
    assert orjson.loads(body) == {"status": "unavailable", "reasons": ["Gameball unreachable"]}

    probes.ready = Verdict(True)
    assert get(port, "/readyz")[0] == 200
    probes.healthy = Verdict(False, ("the engine loop has not turned for 61s",))
    assert get(port, "/healthz")[0] == 503


def test_metrics_and_unknown_paths(port: int) -> None:
    status, content_type, body = get(port, "/metrics")
    assert status == 200
    assert content_type.startswith("text/plain; version=0.0.4")
    assert b"x_total 1.0" in body
    assert get(port, "/nope")[0] == 404


def test_the_server_binds_only_the_given_host(probes: FakeProbes) -> None:
    server = HttpServer(probes, "127.0.0.1", 0)
    try:
        assert server.address[0] == "127.0.0.1"
        assert server.port > 0
    finally:
        server.stop()


class FakeBridge:
    def __init__(self) -> None:
        self.counters = Counters(received=9, delivered=7, retried=2, requests=7, skipped=1)
        self.statuses = 0

    async def status(self) -> EngineStatus:
        self.statuses += 1
        now = asyncio.get_running_loop().time()
        return EngineStatus(
            at=now,
            loop_turned_at=now,
            assignments=1,
            partitions={
                ("orders", 0): PartitionStatus(pending=1, committed=10, lag=4),
                ("orders", 1): PartitionStatus(pending=0, committed=None, lag=None),
            },
            in_flight=1,
            gameball_open=True,
        )


def test_the_monitor_serves_the_engines_counters_gauges_and_request_latency() -> None:
    async def scenario() -> tuple[list[tuple[int, str, bytes]], int]:
        loop = asyncio.get_running_loop()
        config = ObservabilityConfig(port=0, host="127.0.0.1")
        monitor = Monitor(config, sample_interval=0.05, clock=loop.time)
        bridge, stop = FakeBridge(), asyncio.Event()
        monitor.observe_request(Resource.EVENTS, 200, 0.02)
        monitor.observe_request(Resource.EVENTS, 200, 0.3)
        monitor.observe_request(Resource.ORDERS, "error", 5.0)
        async with monitor.serving(bridge, stop):
            while bridge.statuses < 2:
                await asyncio.sleep(0.01)
            assert monitor.port is not None
            port = monitor.port
            replies = [
                await asyncio.to_thread(get, port, path)
                for path in ("/healthz", "/readyz", "/metrics")
            ]
            stop.set()
            await asyncio.sleep(0.1)
            replies.append(await asyncio.to_thread(get, port, "/readyz"))
        return replies, port

    replies, port = asyncio.run(scenario())
    (health, _, _), (ready, _, _), (_, _, metrics), (stopping, _, body) = replies
    assert (health, ready, stopping) == (200, 200, 503)
    assert orjson.loads(body)["reasons"] == ["shutting down"]

    values = samples(metrics)
    assert values[("gameball_bridge_records_delivered_total", ())] == 7
    assert values[("gameball_bridge_request_retries_total", ())] == 2
    assert values[("gameball_bridge_requests_total", ())] == 7
    assert values[("gameball_bridge_records_skipped_total", ())] == 1
    assert values[("gameball_bridge_in_flight", ())] == 1
    assert values[("gameball_bridge_held_for_schema", ())] == 0  # no registry format here
    assert values[("gameball_bridge_ready", ())] == 1
    orders0 = (("partition", "0"), ("topic", "orders"))
    assert values[("gameball_bridge_partition_lag", orders0)] == 4
    assert values[("gameball_bridge_partition_pending", orders0)] == 1
    events_200 = (("resource", "events"), ("status", "200"))
    assert values[("gameball_bridge_gameball_request_seconds_count", events_200)] == 2
    assert values[("gameball_bridge_gameball_request_seconds_sum", events_200)] == pytest.approx(
        0.32
    )
    orders_error = (("resource", "orders"), ("status", "error"))
    assert values[("gameball_bridge_gameball_request_seconds_count", orders_error)] == 1

    # Stopped with the bridge: the port is closed.
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)


def test_each_monitor_has_its_own_registry() -> None:
    config = ObservabilityConfig()
    first, second = Monitor(config), Monitor(config)
    first.observe_request(Resource.EVENTS, 200, 0.1)
    key = (
        "gameball_bridge_gameball_request_seconds_count",
        (("resource", "events"), ("status", "200")),
    )
    assert samples(first.metrics_text()[0])[key] == 1
    assert key not in samples(second.metrics_text()[0])
