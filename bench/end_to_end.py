"""End-to-end throughput: records/s from a real Kafka topic into the Gameball emulator.

For each emulator latency, in the same run:

  * the bridge: `bridge.app.run` in this process, from the first fetch until the group's
    committed offsets reach the end of the topic;
  * a naive baseline: one consumer, one synchronous POST per record, a synchronous commit
    after each (what a first draft of such a service does);
  * the raw ceiling: the bridge's Gameball client posting pre-built bodies as fast as it can
    with the same concurrency (no Kafka, no mapping, no bookkeeping).

Prints records/s (median of --runs), CPU seconds per 1,000 records and peak RSS for the bridge,
and the bridge/baseline ratio. The emulator runs in its own process (so it does not share the
GIL with the bridge) without recording bodies.

    .venv/bin/python bench/end_to_end.py [--records 20000] [--latency-ms 0 50] [--runs 3]

Loopback only; every loop is bounded in records and time.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import sys
import threading
import time
from contextlib import AbstractContextManager
from typing import Any

import httpx
import orjson
from _config import bridge_config, create_topic
from _emulator import API_KEY, accepted_events, emulator_process
from confluent_kafka import Consumer, TopicPartition

from bridge import app
from bridge.config import parse_config
from bridge.observability.logging import configure_logging
from bridge.sandbox import kafka_tools
from bridge.sandbox.local_kafka import LocalKafka

MAX_CONNECTIONS = 100
PARTITIONS = 3


def emulator(latency_ms: float) -> AbstractContextManager[str]:
    return emulator_process("--latency-ms", str(latency_ms))


def new_topic(bootstrap: str, records: int, customers: int) -> str:
    topic = create_topic(bootstrap, "bench", PARTITIONS)
    docs = (
        {"type": "tick", "seq": i, "user": {"id": f"cust_{i % customers}"}} for i in range(records)
    )
    kafka_tools.produce(
        bootstrap,
        topic,
        (orjson.dumps(d) for d in docs),
        keys=(f"cust_{i % customers}".encode() for i in range(records)),
    )
    return topic


def run_bridge(bootstrap: str, url: str, topic: str, records: int) -> dict[str, float]:
    group = f"{topic}-bridge"
    config = parse_config(
        bridge_config(
            bootstrap,
            url,
            topic,
            group=group,
            gameball={"max_connections": MAX_CONNECTIONS, "rate_limits": {"enabled": False}},
            delivery={"max_in_flight": 2000, "commit_interval": 0.5},
            logging={"level": "warning", "stats_interval": 600},
        ),
        env={},
    )
    stop = asyncio.Event()
    loop = asyncio.new_event_loop()
    before = accepted_events(url)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    runner = threading.Thread(target=lambda: loop.run_until_complete(app.run(config, stop)))
    runner.start()
    deadline = wall0 + 600
    # Watch the emulator's counter (one cheap HTTP GET) rather than the group's offsets: a
    # Kafka client per check would cost more CPU than the bridge itself.
    while accepted_events(url) - before < records:
        if time.perf_counter() > deadline:
            raise RuntimeError("the bridge did not finish within 600 s")
        time.sleep(0.05)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    while not kafka_tools.fully_committed(bootstrap, group, topic):  # then every offset
        if time.perf_counter() > deadline:
            raise RuntimeError("the bridge did not commit within 600 s")
        time.sleep(0.5)
    loop.call_soon_threadsafe(stop.set)
    runner.join()
    loop.close()
    delivered = accepted_events(url) - before
    return {
        "rate": records / wall,
        "cpu_per_1000": cpu / records * 1000,
        "delivered": delivered,
        "wall": wall,
    }


def run_naive(bootstrap: str, url: str, topic: str, limit: int, max_seconds: float) -> float:
    """One record at a time: consume, POST synchronously, commit synchronously."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"{topic}-naive",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "log_level": kafka_tools.QUIET,
        }
    )
    consumer.subscribe([topic])
    client = httpx.Client(base_url=f"{url}/api/v4.0/integrations/", headers={"apikey": API_KEY})
    done, started = 0, None
    try:
        while done < limit:
            msg = consumer.poll(1.0)
            if msg is None or msg.error() is not None:
                continue
            if started is None:
                started = time.perf_counter()
            doc: Any = orjson.loads(msg.value() or b"")
            body = {"customerId": doc["user"]["id"], "events": {doc["type"]: {"seq": doc["seq"]}}}
            client.post("events", content=orjson.dumps(body)).raise_for_status()
            consumer.commit(
                offsets=[
                    TopicPartition(msg.topic() or "", msg.partition() or 0, (msg.offset() or 0) + 1)
                ],
                asynchronous=False,
            )
            done += 1
            if time.perf_counter() - started > max_seconds:
                break
    finally:
        client.close()
        consumer.close()
    assert started is not None
    return done / (time.perf_counter() - started)


def run_raw_ceiling(url: str, records: int, customers: int) -> float:
    """The bridge's own Gameball client posting pre-built bodies as fast as it can, with the
    same concurrency as the bridge: what the bridge could reach if Kafka, mapping and
    bookkeeping were free."""
    from bridge.gameball.client import GameballClient
    from bridge.gameball.settings import GameballConfig
    from bridge.record import Operation, Resource

    config = GameballConfig.model_validate(
        {"base_url": url, "api_key": API_KEY, "max_connections": MAX_CONNECTIONS}
    )
    ops = [
        Operation(
            Resource.EVENTS,
            f"cust_{i % customers}",
            {"customerId": f"cust_{i % customers}", "events": {"tick": {"seq": i}}},
        )
        for i in range(records)
    ]

    async def go() -> float:
        client = GameballClient(config)
        gate = asyncio.Semaphore(MAX_CONNECTIONS)

        async def one(op: Operation) -> None:
            async with gate:
                await client.send(op)

        started = time.perf_counter()
        await asyncio.gather(*(one(op) for op in ops))
        elapsed = time.perf_counter() - started
        await client.aclose()
        return records / elapsed

    return asyncio.run(go())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--customers", type=int, default=2_000)
    parser.add_argument("--latency-ms", type=float, nargs="+", default=[0.0, 50.0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--naive-seconds",
        type=float,
        default=15.0,
        help="how long the naive baseline runs at most (it is slow)",
    )
    args = parser.parse_args()
    configure_logging(level="warning")
    with LocalKafka() as kafka:
        bootstrap = kafka.bootstrap_servers
        print(
            f"{args.records} records, {args.customers} customers, {PARTITIONS} partitions; "
            f"median of {args.runs} runs"
        )
        for latency in args.latency_ms:
            with emulator(latency) as url:
                results = []
                for _ in range(args.runs):
                    topic = new_topic(bootstrap, args.records, args.customers)
                    results.append(run_bridge(bootstrap, url, topic, args.records))
                    assert results[-1]["delivered"] >= args.records, results[-1]
                raw = [run_raw_ceiling(url, args.records, args.customers) for _ in range(args.runs)]
                naive = [
                    run_naive(
                        bootstrap,
                        url,
                        new_topic(bootstrap, 2000, args.customers),
                        2000,
                        args.naive_seconds,
                    )
                    for _ in range(args.runs)
                ]
            rate = statistics.median(r["rate"] for r in results)
            cpu = statistics.median(r["cpu_per_1000"] for r in results)
            naive_rate = statistics.median(naive)
            raw_rate = statistics.median(raw)
            print(
                f"latency {latency:>4.0f} ms: bridge {rate:6.0f} records/s "
                f"({cpu:.2f} CPU s per 1,000) | naive {naive_rate:6.1f}/s"
                f" -> {rate / naive_rate:5.1f}x"
                f" | raw client ceiling {raw_rate:6.0f}/s -> {rate / raw_rate:4.0%} of it"
            )
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this process (bridge + driver): {peak_mb:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
