"""The status page over a real socket on 127.0.0.1 (plain HTTP, always run): it shows the
process's own figures, the same as /metrics, and nothing of a record."""

from __future__ import annotations

import asyncio
from html.parser import HTMLParser

import orjson

from bridge.gameball.status import SenderStatus
from bridge.kafka.dead_letter_reason import DeadLetterReason
from bridge.observability.dead_letters import RecentDeadLetters
from bridge.observability.health import EngineStatus, PartitionStatus, Snapshot, Verdict
from bridge.observability.monitor import Monitor
from bridge.observability.settings import ObservabilityConfig
from bridge.observability.stats import Counters
from bridge.observability.status_page import figures, render

from .test_http import get, samples

SECRET_CUSTOMER = "cust_jane_doe_42"


class Figures(HTMLParser):
    """The page's `data-figure` cells by their row (partition, resource, kind) and name,
    its title, and its section ids."""

    def __init__(self, page: bytes) -> None:
        super().__init__()
        self.values: dict[tuple[str, str], str] = {}
        self.sections: list[str] = []
        self.title = ""
        self._row = ""
        self._figure: str | None = None
        self._in_title = False
        self.feed(page.decode())

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "tr":
            self._row = (
                a.get("data-partition") or a.get("data-resource") or a.get("data-kind") or ""
            )
        if tag == "section" and a.get("id"):
            self.sections.append(str(a["id"]))
        if "data-figure" in a:
            self._figure = a["data-figure"]
            self.values[self._row, str(self._figure)] = ""  # an empty cell has no data
        self._in_title = tag == "title"

    def handle_endtag(self, tag: str) -> None:
        if tag == "tr":
            self._row = ""

    def handle_data(self, data: str) -> None:
        if self._figure is not None:
            self.values[self._row, self._figure] = data.strip()
            self._figure = None
        if self._in_title:
            self.title += data
            self._in_title = False


class FakeBridge:
    def __init__(self) -> None:
        self.counters = Counters(received=20, delivered=15, dead_lettered=3, retried=2)
        self.statuses = 0

    async def status(self) -> EngineStatus:
        self.statuses += 1
        now = asyncio.get_running_loop().time()
        return EngineStatus(
            at=now,
            loop_turned_at=now,
            assignments=1,
            partitions={
                ("orders", 0): PartitionStatus(pending=2, committed=1200, lag=35),
                ("orders", 1): PartitionStatus(pending=0, committed=None, lag=None),
            },
            in_flight=2,
            in_flight_bytes=512,
            held_for_schema=1,
            lanes=2,
            gameball_open=True,
            sender=SenderStatus(
                modes={"events": "batch", "orders": "single"},
                waiting={"events": 240, "orders": 0},
                batches={"jobs_pending": 3},
                share=0.5,
            ),
        )


def refused(code: int) -> DeadLetterReason:
    # Gameball's message may name the customer: it must not reach the page.
    return DeadLetterReason(
        "rejected", f"events: customer {SECRET_CUSTOMER} not found", 1, 404, code
    )


def test_the_page_shows_the_processs_own_figures_the_same_as_metrics() -> None:
    async def scenario() -> dict[str, tuple[int, str, bytes]]:
        loop = asyncio.get_running_loop()
        monitor = Monitor(
            ObservabilityConfig(port=0, host="127.0.0.1"), sample_interval=0.05, clock=loop.time
        )
        monitor.observe_dead_letter("orders", refused(7000))
        monitor.observe_dead_letter("orders", refused(7000))
        monitor.observe_dead_letter(
            "orders", DeadLetterReason("invalid_json", f"{SECRET_CUSTOMER}")
        )
        bridge, stop = FakeBridge(), asyncio.Event()
        async with monitor.serving(bridge, stop):
            while bridge.statuses < 2:
                await asyncio.sleep(0.01)
            assert monitor.port is not None
            replies = {
                path: await asyncio.to_thread(get, monitor.port, path)
                for path in ("/", "/status", "/status.json", "/metrics")
            }
            stop.set()
        return replies

    replies = asyncio.run(scenario())
    status, content_type, page = replies["/"]
    assert (status, content_type) == (200, "text/html; charset=utf-8")
    assert replies["/status"][:2] == (200, "text/html; charset=utf-8")
    doc = orjson.loads(replies["/status.json"][2])
    metrics = samples(replies["/metrics"][2])
    shown = Figures(page)

    assert shown.title == "gameball-kafka-bridge status"
    assert shown.sections == ["figures", "partitions", "modes", "dead-letters", "counters"]
    engine = doc["engine"]
    assert engine["in_flight"] == metrics["gameball_bridge_in_flight", ()] == 2
    assert shown.values["", "in_flight"] == "2"
    assert engine["held_for_schema"] == metrics["gameball_bridge_held_for_schema", ()] == 1
    assert shown.values["", "held_for_schema"] == "1"
    assert engine["rate_limit_share"] == metrics["gameball_bridge_rate_limit_share", ()] == 0.5
    assert shown.values["", "rate_limit_share"] == "0.5"
    assert engine["batch_jobs_pending"] == metrics["gameball_bridge_batch_jobs_pending", ()] == 3
    orders0 = (("partition", "0"), ("topic", "orders"))
    assert metrics["gameball_bridge_partition_lag", orders0] == 35
    assert metrics["gameball_bridge_partition_committed_offset", orders0] == 1200
    assert engine["partitions"][0] == {
        "topic": "orders",
        "partition": 0,
        "committed": 1200,
        "lag": 35,
        "pending": 2,
        "stalled_s": 0,
    }
    assert shown.values["orders[0]", "committed"] == "1200"
    assert shown.values["orders[0]", "lag"] == "35"
    assert shown.values["orders[1]", "committed"] == ""  # nothing committed yet
    assert metrics["gameball_bridge_delivery_batch_mode", (("resource", "events"),)] == 1
    assert shown.values["events", "mode"] == "batch"
    assert shown.values["events", "waiting"] == "240"
    assert metrics["gameball_bridge_delivery_waiting", (("resource", "events"),)] == 240

    rows = {(r["kind"], r["gameball_code"]): r["count"] for r in doc["dead_letters"]["rows"]}
    assert rows == {("rejected", 7000): 2, ("invalid_json", None): 1}
    by_reason = "gameball_bridge_dead_letters_by_reason_total"
    assert (
        metrics[
            by_reason,
            (
                ("gameball_code", "7000"),
                ("http_status", "404"),
                ("kind", "rejected"),
                ("topic", "orders"),
            ),
        ]
        == 2
    )
    assert (
        metrics[
            by_reason,
            (
                ("gameball_code", ""),
                ("http_status", ""),
                ("kind", "invalid_json"),
                ("topic", "orders"),
            ),
        ]
        == 1
    )
    assert shown.values["rejected", "count"] == "2"
    assert shown.values["", "dead_letters_total"] == "3"
    assert shown.values["", "delivered"] == "15"
    assert doc["counters"]["delivered"] == metrics["gameball_bridge_records_delivered_total", ()]

    # Nothing of a record: not the message that names a customer, no value, no key.
    for body in (page, replies["/status.json"][2], replies["/metrics"][2]):
        assert SECRET_CUSTOMER.encode() not in body
        assert b"not found" not in body


def test_the_page_before_the_first_sample_and_when_not_ready() -> None:
    doc = figures(
        snapshot=None,
        counters={},
        dead_letters=[],
        health=Verdict(False, ("starting: no status yet",)),
        readiness=Verdict(False, ("starting: no status yet",)),
        now=0.0,
        wall=1_800_000_000.0,
    )
    page = render(doc).decode()
    assert doc["engine"] is None
    assert "not ready" in page
    assert "starting: no status yet" in page
    assert page.count("starting: no status yet") == 1  # health and readiness say it once


def test_names_are_escaped() -> None:
    engine = EngineStatus(
        at=0.0,
        loop_turned_at=0.0,
        assignments=1,
        partitions={("<script>x", 0): PartitionStatus(pending=0, committed=1, lag=0)},
        in_flight=0,
        gameball_open=False,
    )
    doc = figures(
        snapshot=Snapshot(engine),
        counters={},
        dead_letters=[],
        health=Verdict(True),
        readiness=Verdict(False, ('Gameball refuses the keys <b>"now"</b>',)),
        now=1.0,
    )
    page = render(doc).decode()
    assert "<script>x" not in page
    assert "&lt;script&gt;x" in page
    assert "<b>" not in page
    assert 'data-figure="gameball_open">denied' in page


def test_the_dead_letter_tally_keeps_the_last_hour_and_totals_since_start() -> None:
    now = [1_000_000.0]
    tally = RecentDeadLetters(clock=lambda: now[0])
    tally.add("orders", "rejected", 400, 3000)
    now[0] += 1800
    tally.add("orders", "rejected", 400, 3000)
    tally.add("app", "invalid_json", None, None)
    assert [(r.kind, r.count) for r in tally.last_hour()] == [("rejected", 2), ("invalid_json", 1)]
    now[0] += 1900  # the first is over an hour old now
    assert {r.kind: r.count for r in tally.last_hour()} == {"rejected": 1, "invalid_json": 1}
    now[0] += 3600
    assert tally.last_hour() == []
    assert tally.totals() == {
        ("rejected", 400, 3000, "orders"): 2,
        ("invalid_json", None, None, "app"): 1,
    }
    for _minute in range(500):  # a long run keeps at most an hour of buckets
        now[0] += 60
        tally.add("orders", "rejected", 400, 3000)
    assert len(tally._buckets) <= 61
    assert sum(r.count for r in tally.last_hour()) <= 61
