"""`bridge demo`: the whole path on one machine, with nothing to set up.

Starts a local Apache Kafka broker and the Gameball emulator, produces the sample records
from ``config/samples/<topic>.jsonl`` to their topics, runs the bridge with
``config/bridge.yaml`` until every record is done (its offset committed), and prints what
Gameball received and what went to the dead-letter topic.

`--avro` runs the shipped Avro mapping instead (``config/mappings/avro-orders``): a local
Schema Registry starts too, the mapping's samples are produced as Avro (values and keys, the
schemas registered as a producer would), and the bridge decodes them through the registry.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import threading
import time
from pathlib import Path

import orjson

from bridge import app
from bridge.config import BridgeConfig, load_config
from bridge.config.loading import load_mappings
from bridge.decoding.settings import RegistryConfig
from bridge.errors import BridgeError
from bridge.kafka.dead_letter_reason import HEADER_PREFIX
from bridge.observability.logging import configure_logging
from bridge.sandbox import kafka_tools
from bridge.sandbox.emulator import GameballEmulator
from bridge.sandbox.local_kafka import LocalKafka, broker_is_cached
from bridge.sandbox.local_registry import LocalRegistry, registry_is_cached
from bridge.sandbox.produce_samples import produce_encoded_samples, produce_samples
from bridge.sandbox.waiting import waiting_for

API_KEY, SECRET_KEY = "demo-api-key", "demo-secret-key"
AVRO_ORDERS = Path("config/mappings/avro-orders")


def run_demo(
    *,
    config_path: str = "config/bridge.yaml",
    samples: str = "config/samples",
    log_format: str = "console",
    timeout: float = 120.0,
    avro: bool = False,
) -> int:
    if avro:
        samples = str(AVRO_ORDERS / "samples")
    if not any(Path(samples).glob("*.jsonl")):
        print(f"no sample records found in {samples}/*.jsonl", file=sys.stderr)
        return 2
    try:
        with contextlib.ExitStack() as stack:
            first_run = not broker_is_cached()
            what = "the local Kafka broker" + (
                " (first run: fetching it with Maven, then starting it)" if first_run else ""
            )
            with waiting_for(what):
                kafka = stack.enter_context(LocalKafka())
            emu = stack.enter_context(GameballEmulator(api_key=API_KEY, secret_key=SECRET_KEY))
            print(f"Kafka at {kafka.bootstrap_servers}; Gameball emulator at {emu.url}")
            registry_url = None
            if avro:
                first_run = not registry_is_cached()
                what = "the local Schema Registry" + (
                    " (first run: fetching Apicurio Registry with Maven, then starting it)"
                    if first_run
                    else ""
                )
                with waiting_for(what):
                    registry_url = stack.enter_context(LocalRegistry()).url
                print(f"Schema Registry at {registry_url}")
            os.environ.update(
                KAFKA_BOOTSTRAP_SERVERS=kafka.bootstrap_servers,
                GAMEBALL_BASE_URL=emu.url,
                GAMEBALL_API_KEY=API_KEY,
                GAMEBALL_SECRET_KEY=SECRET_KEY,
                BRIDGE_GROUP_ID="gameball-bridge-demo",
            )
            config = load_config(config_path)
            if registry_url is not None:
                config = _with_avro_orders(config, registry_url)
            configure_logging(format=log_format, level="info", secrets=[API_KEY, SECRET_KEY])
            return _run(config, kafka.bootstrap_servers, Path(samples), emu, timeout, registry_url)
    except BridgeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _with_avro_orders(config: BridgeConfig, registry_url: str) -> BridgeConfig:
    """config/bridge.yaml with the Avro mapping instead of its own, and the registry."""
    mappings = load_mappings(AVRO_ORDERS / "mapping.yaml").mappings
    return config.model_copy(
        update={
            "mappings": mappings,
            "schema_registry": RegistryConfig(url=registry_url),
            "kafka": config.kafka.model_copy(update={"topics": ()}),
        }
    )


def _run(
    config: BridgeConfig,
    bootstrap: str,
    samples: Path,
    emu: GameballEmulator,
    timeout: float,
    registry_url: str | None = None,
) -> int:
    if registry_url is None:
        counts = produce_samples(bootstrap, samples, config.dead_letter.topic)
    else:
        counts = produce_encoded_samples(
            bootstrap, AVRO_ORDERS, config.mappings[0], registry_url, config.dead_letter.topic
        )
    produced = sum(counts.values())
    print(f"produced {produced} sample records to {', '.join(counts)}")

    stop = asyncio.Event()
    loop = asyncio.new_event_loop()
    runner = threading.Thread(
        target=lambda: loop.run_until_complete(app.run(config, stop)), name="bridge"
    )
    runner.start()
    started = time.monotonic()
    try:
        done = _wait_until_committed(bootstrap, config.kafka.group_id, counts, started + timeout)
    finally:
        loop.call_soon_threadsafe(stop.set)
        runner.join()
        loop.close()
    elapsed = time.monotonic() - started

    _print_report(emu, bootstrap, config.dead_letter.topic)
    if not done:
        print(f"\nnot every record was done within {timeout:.0f}s", file=sys.stderr)
        return 1
    print(f"\nall {produced} records done in {elapsed:.1f}s; offsets committed")
    return 0


def _wait_until_committed(
    bootstrap: str, group: str, topics: dict[str, int], deadline: float
) -> bool:
    while time.monotonic() < deadline:
        if all(kafka_tools.fully_committed(bootstrap, group, topic) for topic in topics):
            return True
        time.sleep(0.5)
    return False


def _print_report(emu: GameballEmulator, bootstrap: str, dead_letter_topic: str) -> None:
    received = emu.received()
    print(f"\n== Gameball received {len(received)} request(s) ==")
    for request in received:
        print(f"  POST {request.path}  {orjson.dumps(request.body).decode()}")
    dead = kafka_tools.read_topic(bootstrap, dead_letter_topic)
    print(f"\n== dead-letter topic {dead_letter_topic}: {len(dead)} record(s) ==")
    for record in dead:
        kind = record.headers.get(HEADER_PREFIX + "error.kind", b"").decode()
        reason = record.headers.get(HEADER_PREFIX + "error.message", b"").decode()
        source = record.headers.get(HEADER_PREFIX + "source.offset", b"").decode()
        value = (record.value or b"").decode("utf-8", "replace")
        print(f"  [{kind}] {reason}\n      source offset {source}: {value}")
