"""deploy/grafana's dashboard and deploy/prometheus's alerts ask only for metrics a running
bridge exports: every `gameball_bridge_*` name in their PromQL is a sample of a real run's
/metrics (batches, a dead letter), or a name metrics.py declares that only rarer events
fill, listed below with why."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from bridge.observability import metrics as metrics_module
from bridge.sandbox import kafka_tools
from bridge.sandbox.emulator import GameballEmulator
from bridge.sandbox.local_kafka import LocalKafka

from .conftest import InProcessBridge, all_committed, make_config, produce_events, wait_until
from .test_observability import free_port, get

pytestmark = pytest.mark.kafka

REPO = Path(__file__).resolve().parents[2]
DASHBOARD = REPO / "deploy" / "grafana" / "gameball-bridge.json"
ALERTS = REPO / "deploy" / "prometheus" / "alerts.yaml"
NAME = re.compile(r"gameball_bridge_[a-z_]+")

# Names the run below cannot fill, and why; each must still be declared by metrics.py and
# announced (# TYPE) on /metrics. None today: batches `always` and one rejected item fill
# every name the dashboard and the alerts use (a failed or timed-out job, a 429, an outage
# change label values and values, not names). A panel on a rarer name adds it here.
RARE: dict[str, str] = {}

FAST_BATCHES = {
    "mode": "always",
    "first_poll": 0.05,
    "poll_interval": 0.05,
    "max_poll_interval": 0.2,
    "max_wait": 0.05,
}


def _exprs(value: Any) -> Iterator[str]:
    """The PromQL of a dashboard or rule file: every `expr`, and templating `query`/`definition`
    (descriptions and annotations are prose, not queries)."""
    if isinstance(value, dict):
        for key, v in value.items():
            if key in ("expr", "definition") and isinstance(v, str):
                yield v
            elif key == "query" and isinstance(v, (str, dict)):
                yield from ([v] if isinstance(v, str) else _exprs({"expr": v.get("query", "")}))
            else:
                yield from _exprs(v)
    elif isinstance(value, list):
        for v in value:
            yield from _exprs(v)


def _names_used() -> dict[str, set[str]]:
    dashboard = json.loads(DASHBOARD.read_text())
    rules = yaml.safe_load(ALERTS.read_text())
    used = {
        "dashboard": {n for e in _exprs(dashboard) for n in NAME.findall(e)},
        "alerts": {n for e in _exprs(rules) for n in NAME.findall(e)},
    }
    assert all(used.values()), used  # the regex still finds something in both
    return used


def _sample_name_of(family: str, kind: str) -> set[str]:
    """The sample names a family of this type is scraped as."""
    if kind == "histogram":
        return {f"{family}_bucket", f"{family}_count", f"{family}_sum"}
    if kind == "counter":
        return {f"{family}_total"}
    return {family}


def test_the_dashboard_and_the_alerts_ask_for_metrics_the_bridge_exports(
    kafka: LocalKafka, emulator: GameballEmulator, topic: str
) -> None:
    used = _names_used()
    bootstrap, group = kafka.bootstrap_servers, f"{topic}-group"
    port = free_port()
    config = make_config(
        kafka,
        emulator,
        topic,
        observability={"port": port, "host": "127.0.0.1"},
        delivery={"batch": FAST_BATCHES},
    )
    # One customer Gameball refuses in batch items: dead-lettered with its reason.
    emulator.set_batch_item_faults(
        [{"customers": ["cust_bad"], "status": 400, "code": 3000, "message": "no such tier"}]
    )
    produce_events(bootstrap, topic, range(30))
    bad = {"type": "tick", "seq": 30, "user": {"id": "cust_bad"}}
    kafka_tools.produce(bootstrap, topic, [orjson.dumps(bad)], keys=[b"cust_bad"])
    with InProcessBridge(config) as bridge:
        assert wait_until(lambda: all_committed(bootstrap, group, topic), 60)
        # Gauges are sampled once a second: wait for a snapshot taken after the commits.
        assert wait_until(lambda: _lag_is_zero(_scrape(port)), 10)
        families = _scrape(port)
        counters = bridge.stop()
    assert (counters.delivered, counters.dead_lettered) == (30, 1)

    exported = {s.name for f in families for s in f.samples}
    for where, names in used.items():
        missing = sorted(names - exported - RARE.keys())
        assert not missing, f"{where} uses names this run did not export: {missing}"

    announced = {n for f in families for n in _sample_name_of(f.name, f.type)}
    source = Path(metrics_module.__file__).read_text()
    for name, why in RARE.items():
        assert why
        assert name in announced, f"{name}: not announced on /metrics"
        base = re.sub(r"_(bucket|count|sum|total)$", "", name).removeprefix("gameball_bridge_")
        assert re.search(rf"[\"_]{base}\"", source), f"{name}: not declared in metrics.py"


def _scrape(port: int) -> list[Any]:
    status, body = get(port, "/metrics")
    assert status == 200
    return list(text_string_to_metric_families(body.decode()))


def _lag_is_zero(families: list[Any]) -> bool:
    lag = [
        s.value for f in families if f.name == "gameball_bridge_partition_lag" for s in f.samples
    ]
    return bool(lag) and not any(lag)
