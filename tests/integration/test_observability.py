"""The observability port of a running bridge: /metrics agrees with what Gameball saw, and
/readyz follows a Gameball outage."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bridge.sandbox.emulator import GameballEmulator
from bridge.sandbox.local_kafka import LocalKafka

from .conftest import InProcessBridge, all_committed, make_config, produce_events, wait_until

pytestmark = pytest.mark.kafka


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(port: int, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read()
    except urllib.error.URLError:  # not listening yet
        return 0, b""


def metrics(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    status, body = get(port, "/metrics")
    assert status == 200
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    }


def requests_seen(values: dict[tuple[str, tuple[tuple[str, str], ...]], float]) -> dict[str, int]:
    """HTTP status -> events requests, from the latency histogram."""
    name = "gameball_bridge_gameball_request_seconds_count"
    return {
        dict(labels)["status"]: int(v)
        for (n, labels), v in values.items()
        if n == name and dict(labels)["resource"] == "events"
    }


def test_metrics_match_gameball_and_readiness_follows_an_outage(
    kafka: LocalKafka, emulator: GameballEmulator, topic: str
) -> None:
    bootstrap, group = kafka.bootstrap_servers, f"{topic}-group"
    port = free_port()
    config = make_config(kafka, emulator, topic, observability={"port": port, "host": "127.0.0.1"})
    produce_events(bootstrap, topic, range(50))
    with InProcessBridge(config) as bridge:
        assert wait_until(lambda: all_committed(bootstrap, group, topic), 60)
        assert wait_until(lambda: get(port, "/readyz")[0] == 200, 10)
        assert get(port, "/healthz")[0] == 200

        values = metrics(port)
        stats = emulator.stats()
        assert stats["by_resource"]["events"]["accepted"] == 50
        assert values[("gameball_bridge_records_delivered_total", ())] == 50
        assert values[("gameball_bridge_requests_total", ())] == 50
        assert values[("gameball_bridge_records_dead_lettered_total", ())] == 0
        assert requests_seen(values) == {str(k): v for k, v in stats["by_status"].items()}
        assert values[("gameball_bridge_ready", ())] == 1

        # Gameball answers 503 to everything: retried forever, and the bridge is unready.
        emulator.set_outage(503)
        produce_events(bootstrap, topic, range(50, 60))
        assert wait_until(lambda: get(port, "/readyz")[0] == 503, 20)
        reasons = orjson.loads(get(port, "/readyz")[1])["reasons"]
        assert any("Gameball unreachable" in r for r in reasons), reasons
        assert get(port, "/healthz")[0] == 200  # alive all the same

        emulator.set_outage(None)
        assert wait_until(lambda: all_committed(bootstrap, group, topic), 60)
        assert wait_until(lambda: get(port, "/readyz")[0] == 200, 10)
        values = metrics(port)
        stats = emulator.stats()
        counters = bridge.stop()

    assert stats["by_resource"]["events"]["accepted"] == 60
    assert values[("gameball_bridge_records_delivered_total", ())] == counters.delivered == 60
    assert values[("gameball_bridge_request_retries_total", ())] == counters.retried > 0
    seen = requests_seen(values)
    assert seen == {str(k): v for k, v in stats["by_status"].items()}
    assert seen["503"] > 0
    # Stopped with the bridge.
    assert get(port, "/healthz")[0] == 0
