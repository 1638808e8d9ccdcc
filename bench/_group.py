"""Helpers for benchmarks of consumer groups of real bridge processes (`bench/duplicates.py`):
the emulator in its own process with a record of batch status reads, `bridge run` processes
that can be SIGTERMed and SIGKILLed, a paced live stream, a backlog whose records' offsets are
known, and the group's committed offsets with their "done above" metadata.

`python bench/_group.py --api-key K [--rate-limits] [--latency-ms MS] [--batch-delay-ms MS]`
serves the recording emulator (prints one JSON line with its URL, as the emulator's own CLI);
`recording_emulator()` starts it. Loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import yaml
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

from bridge.sandbox import kafka_tools
from bridge.sandbox.emulator import replies
from bridge.sandbox.emulator.batches import parse_route
from bridge.sandbox.emulator.protocol import Reply, Request
from bridge.sandbox.emulator.routes import VERSIONS, Router
from bridge.sandbox.emulator.server import serve

STATUS_READS_PATH = "/_bench/status_reads"
_FINAL_STATES = frozenset({"completed", "failed", "Completed", "Failed"})
_HTTP = httpx.Client(timeout=60)


def wait_until(condition: Callable[[], bool], timeout: float, interval: float = 0.2) -> bool:
    """Poll `condition` until it holds or `timeout` seconds have passed; its last answer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()


# -- the emulator, recording when each batch job's final status was answered -------------------


class RecordingRouter(Router):
    """The emulator's router, plus a list of the batch status calls that answered a job's
    final state (completed or failed): (time.time() at which the answer went out, that is
    handling time + the reply's delay; job id). Served at GET /_bench/status_reads."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.final_reads: list[tuple[float, int]] = []

    def handle(self, request: Request) -> Reply:
        path = request.target.partition("?")[0]
        if path == STATUS_READS_PATH:
            with self.lock:
                rows = list(self.final_reads)
            return replies.json_reply(rows)
        reply = super().handle(request)
        route = parse_route(path, VERSIONS)
        if route is not None and route.action in ("status", "job") and reply.status == 200:
            doc = orjson.loads(reply.body)
            state = doc.get("status", doc.get("jobStatus"))
            if state in _FINAL_STATES:
                with self.lock:
                    self.final_reads.append((time.time() + reply.delay, int(route.target)))
        return reply


@dataclass(frozen=True, slots=True)
class Emulator:
    url: str
    pid: int

    def stats(self) -> dict[str, Any]:
        doc: dict[str, Any] = _HTTP.get(f"{self.url}/_emulator/stats").json()
        return doc

    def accepted_events(self) -> int:
        return int(self.stats()["by_resource"]["events"]["accepted"])

    def configure(self, settings: dict[str, Any]) -> None:
        _HTTP.post(f"{self.url}/_emulator/faults", json=settings).raise_for_status()

    def received_events(self) -> list[dict[str, Any]]:
        answer = _HTTP.get(
            f"{self.url}/_emulator/received", params={"resource": "events"}, timeout=300
        )
        answer.raise_for_status()
        rows: list[dict[str, Any]] = orjson.loads(answer.content)
        return rows

    def batch_jobs(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = _HTTP.get(f"{self.url}/_emulator/batches").json()
        return rows

    def final_status_reads(self) -> list[tuple[float, int]]:
        return [(at, job) for at, job in _HTTP.get(f"{self.url}{STATUS_READS_PATH}").json()]


@contextmanager
def recording_emulator(
    api_key: str, *, rate_limits: bool, latency_ms: float, batch_delay_ms: float
) -> Iterator[Emulator]:
    """This module as a process serving `RecordingRouter` (bodies recorded) on a free
    loopback port; stopped (SIGTERM, then SIGKILL) on the way out."""
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--api-key",
        api_key,
        "--latency-ms",
        str(latency_ms),
        "--batch-delay-ms",
        str(batch_delay_ms),
    ]
    if rate_limits:
        command.append("--rate-limits")
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, start_new_session=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the emulator exited at start (exit code {proc.wait(10)})")
        announced = orjson.loads(line)
        yield Emulator(url=announced["url"], pid=proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def _serve_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="the emulator, recording final status reads")
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--batch-delay-ms", type=float, default=200.0)
    parser.add_argument("--rate-limits", action="store_true")
    args = parser.parse_args(argv)
    router = RecordingRouter(
        api_key=args.api_key,
        latency_ms=args.latency_ms,
        rate_limits=args.rate_limits,
        batch_delay_ms=args.batch_delay_ms,
    )

    async def main() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)

        def announce(host: str, port: int) -> None:
            line = {"url": f"http://{host}:{port}", "pid": os.getpid()}
            print(orjson.dumps(line).decode(), flush=True)

        await serve(router, "127.0.0.1", 0, stop, announce)

    asyncio.run(main())
    return 0


# -- bridge processes ------------------------------------------------------------------------


class BridgeProcess:
    """`python -m bridge.cli run -c CONFIG` in its own session (a Ctrl-C of the bench does not
    reach it; the bench kills it), its JSON log lines in a file."""

    def __init__(self, name: str, config: dict[str, Any], workdir: Path) -> None:
        self.name = name
        self.config_path = workdir / f"{name}-{uuid.uuid4().hex[:6]}.yaml"
        self.config_path.write_text(yaml.safe_dump(config))
        self.log_path = self.config_path.with_suffix(".log")
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0  # time.time()
        self.signalled_at: float | None = None  # time.time() of the first SIGTERM or SIGKILL
        self.restarted = False  # it exited by itself and a supervisor saw to it
        self.successor: BridgeProcess | None = None  # the supervisor's replacement

    def start(self) -> BridgeProcess:
        with open(self.log_path, "ab") as log:
            self.started_at = time.time()
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bridge.cli", "run", "-c", str(self.config_path)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
                start_new_session=True,
            )
        return self

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def returncode(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def terminate(self) -> float:
        """SIGTERM; the time.time() just before it was sent."""
        return self._signal(signal.SIGTERM)

    def kill(self) -> float:
        """SIGKILL (and reap); the time.time() just before it was sent."""
        at = self._signal(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(10)
        return at

    def _signal(self, sig: signal.Signals) -> float:
        at = time.time()
        if self.alive:
            assert self.proc is not None
            self.proc.send_signal(sig)
            if self.signalled_at is None:
                self.signalled_at = at
        return at

    def wait(self, timeout: float) -> int | None:
        """The exit code, or None if it still runs after `timeout` seconds."""
        if self.proc is None:
            return None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def ensure_dead(self) -> None:
        if self.alive:
            self.kill()

    def log_lines(self) -> list[dict[str, Any]]:
        lines = []
        if not self.log_path.exists():
            return lines
        for raw in self.log_path.read_bytes().splitlines():
            try:
                doc = orjson.loads(raw)
            except orjson.JSONDecodeError:
                doc = {"event": "<not json>", "raw": raw.decode(errors="replace")}
            lines.append(doc if isinstance(doc, dict) else {"event": "<not json>"})
        return lines

    def held_partitions(self) -> set[str]:
        """The partitions this process holds by its log (assigned, less revoked and lost)."""
        held: set[str] = set()
        for doc in self.log_lines():
            event = doc.get("event")
            if event == "partition.assigned":
                held |= set(doc.get("partitions", ()))
            elif event in ("partition.revoked", "partition.lost"):
                held -= set(doc.get("partitions", ()))
        return held


class Processes:
    """Every bridge process a scenario starts, so that all of them die at the end."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.all: list[BridgeProcess] = []

    def start(self, name: str, config: dict[str, Any]) -> BridgeProcess:
        process = BridgeProcess(name, config, self.workdir)
        self.all.append(process)
        return process.start()

    def kill_all(self) -> None:
        for process in self.all:
            with contextlib.suppress(Exception):
                process.ensure_dead()


# -- records ---------------------------------------------------------------------------------


def record(seq: int, customers: int) -> tuple[bytes, bytes]:
    customer = f"cust_{seq % customers}"
    return orjson.dumps({"type": "tick", "seq": seq, "user": {"id": customer}}), customer.encode()


@dataclass(slots=True)
class Positions:
    """Where each produced record landed: seq -> (partition, offset)."""

    by_seq: dict[int, tuple[int, int]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def callback(self, seq: int) -> Callable[[Any, Any], None]:
        def on_delivery(err: Any, msg: Any) -> None:
            if err is not None:
                self.failures.append(str(err))
            else:
                self.by_seq[seq] = (msg.partition(), msg.offset())

        return on_delivery


def _producer(bootstrap: str, linger_ms: int) -> Producer:
    return Producer(
        {
            "bootstrap.servers": bootstrap,
            "acks": "all",
            "enable.idempotence": True,
            "linger.ms": linger_ms,
            "log_level": kafka_tools.QUIET,
        }
    )


def produce_backlog(
    bootstrap: str, topic: str, seqs: range, customers: int, positions: Positions
) -> None:
    producer = _producer(bootstrap, 20)
    for seq in seqs:
        value, key = record(seq, customers)
        while True:
            try:
                producer.produce(topic, value=value, key=key, on_delivery=positions.callback(seq))
                break
            except BufferError:
                producer.poll(0.1)
    if producer.flush(60) or positions.failures:
        raise KafkaException(f"backlog not acknowledged: {positions.failures[:3]}")


class LiveStream:
    """`rate` records per second from seq `first`, produced on a thread (linger 5 ms) until
    `stop()`; keyed by customer."""

    def __init__(
        self, bootstrap: str, topic: str, *, rate: float, customers: int, first: int = 0
    ) -> None:
        self.positions = Positions()
        self.produced = 0
        self._next = first
        self._rate = rate
        self._customers = customers
        self._topic = topic
        self._producer = _producer(bootstrap, 5)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="live-stream", daemon=True)
        self.started_at = 0.0  # time.time()
        self.stopped_at = 0.0
        self.behind = 0.0  # the most seconds the producer ever fell behind its schedule

    def start(self) -> LiveStream:
        self.started_at = time.time()
        self._thread.start()
        return self

    def _run(self) -> None:
        began = time.monotonic()
        i = 0
        while not self._stop.is_set():
            due = began + i / self._rate
            pause = due - time.monotonic()
            if pause > 0:
                self._stop.wait(pause)
                continue
            self.behind = max(self.behind, -pause)
            seq = self._next
            value, key = record(seq, self._customers)
            try:
                self._producer.produce(
                    self._topic, value=value, key=key, on_delivery=self.positions.callback(seq)
                )
            except BufferError:
                self._producer.poll(0.1)
                continue
            self._next += 1
            self.produced += 1
            i += 1
            self._producer.poll(0)

    def stop(self) -> int:
        """Stop producing, wait for every acknowledgement; the number of records produced."""
        self._stop.set()
        self._thread.join(30)
        self.stopped_at = time.time()
        if self._producer.flush(60) or self.positions.failures:
            raise KafkaException(f"live records not acknowledged: {self.positions.failures[:3]}")
        return self.produced


# -- offsets ---------------------------------------------------------------------------------


def committed(bootstrap: str, group: str, topic: str) -> dict[int, tuple[int, set[int]]]:
    """Per partition: the group's committed offset (-1001: none) and the offsets above it
    that its commit metadata lists as done."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "enable.auto.commit": False,
            "log_level": kafka_tools.QUIET,
        }
    )
    try:
        tps = [TopicPartition(topic, p) for p in kafka_tools.partitions(bootstrap, topic)]
        for attempt in range(20):
            try:
                answer = consumer.committed(tps, timeout=10)
                break
            except KafkaException as exc:
                if attempt == 19 or not exc.args[0].retriable():
                    raise
                time.sleep(0.25)
        return {
            tp.partition: (
                tp.offset,
                decode_done_above(tp.offset, tp.metadata) if tp.offset >= 0 else set(),
            )
            for tp in answer
        }
    finally:
        consumer.close()


# The bridge's commit metadata (README, "What happens to a record", 6): "gbb1:" then
# comma-separated "start+length" runs of done offsets, base 36, relative to the committed offset.
# Read here rather than imported, so the bench does not follow the bridge's module layout.
_METADATA_PREFIX = "gbb1:"
_RUN = re.compile(r"([0-9a-z]+)\+([0-9a-z]+)")


def decode_done_above(position: int, metadata: str | None) -> set[int]:
    """The offsets above `position` that the commit metadata lists as done (none when it is
    not the bridge's, or does not parse)."""
    if not metadata or not metadata.startswith(_METADATA_PREFIX):
        return set()
    done: set[int] = set()
    for part in metadata[len(_METADATA_PREFIX) :].split(","):
        match = _RUN.fullmatch(part)
        if match is None:
            return set()
        start, length = int(match.group(1), 36), int(match.group(2), 36)
        done.update(range(position + start, position + start + length))
    return done


def covered(commits: dict[int, tuple[int, set[int]]], partition: int, offset: int) -> bool:
    """Whether the commit `commits` says the record at (partition, offset) is done."""
    position, done_above = commits.get(partition, (-1, set()))
    return 0 <= offset < position or offset in done_above


def dead_lettered_seqs(bootstrap: str, dlq_topic: str) -> list[int]:
    seqs = []
    for rec in kafka_tools.read_topic(bootstrap, dlq_topic, timeout=30):
        with contextlib.suppress(orjson.JSONDecodeError, TypeError, KeyError):
            seqs.append(int(orjson.loads(rec.value or b"")["seq"]))
    return seqs


if __name__ == "__main__":
    sys.exit(_serve_main(sys.argv[1:]))
