"""Integration fixtures: one real Kafka broker per test session, a Gameball emulator per test,
and a bridge that runs in-process (a thread with its own event loop) or as a subprocess."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from bridge import app
from bridge.config import BridgeConfig, parse_config
from bridge.kafka.admin import ensure_topics
from bridge.observability.stats import Counters
from bridge.sandbox import kafka_tools
from bridge.sandbox.emulator import GameballEmulator
from bridge.sandbox.local_kafka import LocalKafka
from bridge.sandbox.local_registry import LocalRegistry

API_KEY, SECRET_KEY = "it-api-key", "it-secret-key"
PARTITIONS = 3


@pytest.fixture(scope="session")
def kafka() -> Iterator[LocalKafka]:
    with LocalKafka() as broker:
        yield broker


@pytest.fixture(scope="session")
def registry() -> Iterator[LocalRegistry]:
    """A real Schema Registry (Apicurio, Confluent-compatible API), started by the first test
    that asks for it."""
    with LocalRegistry() as local:
        yield local


@pytest.fixture
def emulator() -> Iterator[GameballEmulator]:
    with GameballEmulator(api_key=API_KEY, secret_key=SECRET_KEY, order_key="seq") as emu:
        yield emu


_names = itertools.count()


@pytest.fixture
def topic(kafka: LocalKafka) -> str:
    """A fresh source topic with 3 partitions, and its dead-letter topic."""
    name = f"app-events-{next(_names)}-{uuid.uuid4().hex[:6]}"
    ensure_topics(
        {"bootstrap.servers": kafka.bootstrap_servers, "log_level": kafka_tools.QUIET},
        {name: PARTITIONS, dead_letter_topic(name): 1},
    )
    return name


def dead_letter_topic(topic: str) -> str:
    return f"{topic}-dlq"


def config_data(
    kafka: LocalKafka, emu: GameballEmulator, topic: str, **sections: dict[str, Any]
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "kafka": {"bootstrap_servers": kafka.bootstrap_servers, "group_id": f"{topic}-group"},
        "gameball": {
            "base_url": emu.url,
            "api_key": API_KEY,
            "secret_key": SECRET_KEY,
            # Off unless a test is about them: Gameball's 40 events/s would slow every test.
            "rate_limits": {"enabled": False},
        },
        "dead_letter": {"topic": dead_letter_topic(topic)},
        "delivery": {
            "commit_interval": 0.2,
            "drain_timeout": 10,
            "retry": {"initial_backoff": 0.05, "max_backoff": 0.5},
        },
        "logging": {"stats_interval": 5},
        "mappings": [
            {
                "name": "app",
                "topics": [topic],
                "event": {
                    "customer_id": "user.id",
                    "name": {"path": "type"},
                    "metadata": {"seq": "seq"},
                },
            }
        ],
    }
    for section, values in sections.items():
        data[section] = {**data.get(section, {}), **values}
    return data


def make_config(*args: Any, **sections: dict[str, Any]) -> BridgeConfig:
    return parse_config(config_data(*args, **sections), env={})


def event(seq: int, customers: int = 50, names: int = 1) -> dict[str, Any]:
    """With `names` > 1, each customer's records cycle through that many event names."""
    name = "tick" if names <= 1 else f"e{seq // customers % names}"
    return {"type": name, "seq": seq, "user": {"id": f"cust_{seq % customers}"}}


def produce_events(
    bootstrap: str, topic: str, seqs: range, customers: int = 50, names: int = 1
) -> None:
    """Keyed by customer, so each customer's records share a partition and keep their order."""
    docs = [event(i, customers, names) for i in seqs]
    kafka_tools.produce(
        bootstrap,
        topic,
        (orjson.dumps(d) for d in docs),
        keys=(d["user"]["id"].encode() for d in docs),
    )


def received_seqs(emu: GameballEmulator) -> list[int]:
    return [
        meta["seq"]
        for request in emu.received("events")
        for meta in request.body["events"].values()
    ]


def wait_until(condition: Callable[[], bool], timeout: float, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()


def all_committed(bootstrap: str, group: str, topic: str) -> bool:
    return kafka_tools.fully_committed(bootstrap, group, topic)


class InProcessBridge:
    """The bridge on its own event loop in a thread, stopped like SIGTERM would."""

    def __init__(self, config: BridgeConfig) -> None:
        self._config = config
        self._loop = asyncio.new_event_loop()
        self._stop = asyncio.Event()
        self.counters: Counters | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="bridge-under-test")

    def _main(self) -> None:
        try:
            self.counters = self._loop.run_until_complete(app.run(self._config, self._stop))
        except BaseException as exc:
            self.error = exc
        finally:
            self._loop.close()

    def __enter__(self) -> InProcessBridge:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self, timeout: float = 60) -> Counters:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(timeout)
        assert not self._thread.is_alive(), "the bridge did not stop"
        if self.error is not None:
            raise self.error
        assert self.counters is not None
        return self.counters


class BridgeProcess:
    """The `bridge run` command in a subprocess, for signals (SIGTERM, SIGKILL)."""

    def __init__(self, config: dict[str, Any], workdir: Path) -> None:
        self.config_path = workdir / f"bridge-{uuid.uuid4().hex[:6]}.yaml"
        self.config_path.write_text(yaml.safe_dump(config))
        self.log_path = self.config_path.with_suffix(".log")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> BridgeProcess:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bridge.cli", "run", "-c", str(self.config_path)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        return self

    def signal(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait(self, timeout: float) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def log_lines(self) -> list[dict[str, Any]]:
        lines = []
        for raw in self.log_path.read_bytes().splitlines():
            try:
                lines.append(orjson.loads(raw))
            except orjson.JSONDecodeError:
                lines.append({"event": "<not json>", "raw": raw.decode(errors="replace")})
        return lines

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
