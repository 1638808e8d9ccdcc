"""The status page of a running bridge, on the real broker: over plain HTTP its figures agree
with /metrics (always run), and in a real headless browser (Chromium from the system's
packages; skipped when it is absent) it renders them, refreshes itself, and a screenshot
shows its main elements."""

from __future__ import annotations

import shutil
import struct
import subprocess
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import orjson
import pytest

from bridge.config import parse_config
from bridge.kafka.admin import ensure_topics
from bridge.sandbox import kafka_tools
from bridge.sandbox.emulator import GameballEmulator
from bridge.sandbox.local_kafka import LocalKafka

from .conftest import (
    API_KEY,
    SECRET_KEY,
    InProcessBridge,
    all_committed,
    config_data,
    dead_letter_topic,
    produce_events,
    wait_until,
)
from .test_observability import free_port, get, metrics

pytestmark = pytest.mark.kafka

CUSTOMER = "cust_mapping_victim"
WIDTH, HEIGHT = 1200, 900


@dataclass
class Running:
    port: int
    topic: str


@pytest.fixture(scope="module")
def running(kafka: LocalKafka) -> Iterator[Running]:
    """A bridge that delivered 30 records and dead-lettered 4 (2 not JSON, 1 the mapping
    cannot read, 1 Gameball refused), then idles with its port open."""
    bootstrap = kafka.bootstrap_servers
    topic = f"status-{uuid.uuid4().hex[:6]}"
    ensure_topics(
        {"bootstrap.servers": bootstrap, "log_level": kafka_tools.QUIET},
        {topic: 3, dead_letter_topic(topic): 1},
    )
    port = free_port()
    with GameballEmulator(api_key=API_KEY, secret_key=SECRET_KEY) as emu:
        data = config_data(
            kafka,
            emu,
            topic,
            observability={"port": port, "host": "127.0.0.1"},
            delivery={"batch": {"mode": "never"}},
        )
        emu.script([{"status": 400, "code": 3000, "message": "missing arguments"}], "events")
        produce_events(bootstrap, topic, range(31))
        kafka_tools.produce(
            bootstrap,
            topic,
            [b"{not json", b"{still not", orjson.dumps({"user": {"uid": CUSTOMER}})],
            keys=[b"k1", b"k2", CUSTOMER.encode()],
        )
        with InProcessBridge(parse_config(data, env={})) as bridge:
            assert wait_until(lambda: all_committed(bootstrap, f"{topic}-group", topic), 60)
            # Gauges are sampled once a second: wait for a sample taken after the commits.
            assert wait_until(lambda: settled(port), 15)
            yield Running(port, topic)
            counters = bridge.stop()
        assert (counters.delivered, counters.dead_lettered) == (30, 4)


def settled(port: int) -> bool:
    status, body = get(port, "/status.json")
    if status != 200:
        return False
    engine = orjson.loads(body)["engine"]
    return (
        engine is not None
        and engine["in_flight"] == 0
        and all(p["lag"] == 0 for p in engine["partitions"])
        and len(engine["partitions"]) == 3
    )


class PageFigures(HTMLParser):
    """`data-figure` cells by (row, name), the title, section ids and <body> attributes."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.values: dict[tuple[str, str], str] = {}
        self.sections: list[str] = []
        self.body: dict[str, str | None] = {}
        self.title = ""
        self._row = ""
        self._figure: str | None = None
        self._in_title = False
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "body":
            self.body = a
        if tag == "tr":
            self._row = (
                a.get("data-partition") or a.get("data-resource") or a.get("data-kind") or ""
            )
        if tag == "section" and a.get("id"):
            self.sections.append(str(a["id"]))
        if "data-figure" in a:
            self._figure = str(a["data-figure"])
            self.values[self._row, self._figure] = ""
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


def number(text: str) -> float:
    return float(text.replace(",", ""))


def assert_page_agrees_with_metrics(page: PageFigures, doc: dict[str, Any], port: int) -> None:
    values = metrics(port)
    engine = doc["engine"]
    assert (
        number(page.values["", "in_flight"])
        == engine["in_flight"]
        == values["gameball_bridge_in_flight", ()]
    )
    assert (
        number(page.values["", "held_for_schema"]) == values["gameball_bridge_held_for_schema", ()]
    )
    assert (
        number(page.values["", "rate_limit_share"])
        == values["gameball_bridge_rate_limit_share", ()]
    )
    assert (
        number(page.values["", "batch_jobs_pending"])
        == values["gameball_bridge_batch_jobs_pending", ()]
    )
    for part in engine["partitions"]:
        row = f"{part['topic']}[{part['partition']}]"
        labels = (("partition", str(part["partition"])), ("topic", part["topic"]))
        assert (
            number(page.values[row, "lag"]) == values["gameball_bridge_partition_lag", labels] == 0
        )
        assert (
            number(page.values[row, "committed"])
            == values["gameball_bridge_partition_committed_offset", labels]
        )
        assert (
            number(page.values[row, "pending"])
            == values["gameball_bridge_partition_pending", labels]
        )
    for resource, mode in engine["modes"].items():
        batch = values["gameball_bridge_delivery_batch_mode", (("resource", resource),)]
        assert page.values[resource, "mode"] == (mode["mode"] or "single")
        assert batch == (mode["mode"] == "batch")
    by_reason = {
        dict(labels)["kind"]: value
        for (name, labels), value in values.items()
        if name == "gameball_bridge_dead_letters_by_reason_total"
    }
    shown = {row["kind"]: row["count"] for row in doc["dead_letters"]["rows"]}
    assert shown == by_reason == {"invalid_json": 2, "missing_field": 1, "rejected": 1}
    assert number(page.values["rejected", "count"]) == 1
    assert (
        number(page.values["", "dead_letters_total"])
        == 4
        == values["gameball_bridge_records_dead_lettered_total", ()]
    )
    assert (
        number(page.values["", "delivered"])
        == 30
        == values["gameball_bridge_records_delivered_total", ()]
    )
    assert (
        number(page.values["", "received"]) == values["gameball_bridge_records_received_total", ()]
    )


def test_the_status_page_agrees_with_metrics_over_plain_http(running: Running) -> None:
    status, html = get(running.port, "/")
    assert status == 200
    status, body = get(running.port, "/status.json")
    assert status == 200
    doc = orjson.loads(body)
    page = PageFigures(html.decode())
    assert page.title == "gameball-kafka-bridge status"
    assert page.sections == ["figures", "partitions", "modes", "dead-letters", "counters"]
    assert doc["readiness"] == {"status": "ok", "reasons": []}
    assert_page_agrees_with_metrics(page, doc, running.port)
    # Nothing of a record: the customer id of the one the mapping could not read is nowhere.
    for path in ("/", "/status.json", "/metrics"):
        assert CUSTOMER.encode() not in get(running.port, path)[1]


# -- in a real browser -------------------------------------------------------------------------


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def run_chromium(binary: str, profile: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [
            binary,
            "--headless",
            "--no-sandbox",  # root in CI
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-extensions",
            "--disable-sync",
            f"--user-data-dir={profile}",
            f"--window-size={WIDTH},{HEIGHT}",
            *args,
        ],
        capture_output=True,
        timeout=90,
        check=False,
    )


def test_the_status_page_in_a_headless_browser(running: Running, tmp_path: Path) -> None:
    binary = chromium()
    if binary is None:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    url = f"http://127.0.0.1:{running.port}/"

    # The DOM after the page's own script ran: 7 s of virtual time, one refresh (every 5 s).
    dumped = run_chromium(
        binary, tmp_path / "profile-dom", "--virtual-time-budget=7000", "--dump-dom", url
    )
    assert dumped.returncode == 0, dumped.stderr.decode()[-2000:]
    page = PageFigures(dumped.stdout.decode())
    assert page.title == "gameball-kafka-bridge status"
    assert page.sections == ["figures", "partitions", "modes", "dead-letters", "counters"]
    assert page.body.get("data-refreshes") == "1", "the inline script did not refresh the page"
    assert "stale" not in str(page.body.get("class") or "")
    doc = orjson.loads(get(running.port, "/status.json")[1])
    assert_page_agrees_with_metrics(page, doc, running.port)

    shot = tmp_path / "status-page.png"
    taken = run_chromium(binary, tmp_path / "profile-shot", f"--screenshot={shot}", url)
    assert taken.returncode == 0, taken.stderr.decode()[-2000:]
    print(f"\nstatus page screenshot: {shot}")
    width, height, pixels = read_png(shot.read_bytes())
    assert (width, height) == (WIDTH, HEIGHT)

    def count(color: tuple[int, int, int], rows: range, tolerance: int = 12) -> int:
        return sum(
            1
            for y in rows
            for x in range(0, width, 2)
            if all(abs(a - b) <= tolerance for a, b in zip(pixels[y][x], color, strict=True))
        )

    # The dark header band across the top, the green "ready" badge in it, the amber dead-letter
    # badge and tile border below it, and text (dark pixels) in the tables.
    assert count(HEADER, range(2, 30)) > 0.8 * (width // 2) * 28
    assert count(READY_GREEN, range(45)) > 150
    assert count(AMBER, range(45, height)) > 150
    ink = sum(1 for y in range(150, height) for x in range(0, width, 2) if sum(pixels[y][x]) < 200)
    assert ink > 2000


HEADER = (0x0F, 0x17, 0x2A)
READY_GREEN = (0x15, 0x80, 0x3D)
AMBER = (0xB4, 0x53, 0x09)


def read_png(data: bytes) -> tuple[int, int, list[list[tuple[int, int, int]]]]:
    """Width, height and RGB rows of an 8-bit RGB or RGBA PNG (what Chromium writes)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks, header = 8, [], b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            chunks.append(body)
    width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert (depth, interlace) == (8, 0)
    channels = {2: 3, 6: 4}[color]
    raw = zlib.decompress(b"".join(chunks))
    stride = width * channels
    rows: list[list[tuple[int, int, int]]] = []
    previous = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up = previous[i]
            up_left = previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - up_left
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - up_left)
                pred = left if pa <= pb and pa <= pc else up if pb <= pc else up_left
                line[i] = (line[i] + pred) & 0xFF
        rows.append([tuple(line[x : x + 3]) for x in range(0, stride, channels)])  # type: ignore[misc]
        previous = line
    return width, height, rows
