"""Several instances on one Gameball account with `rate_limits.share: auto`: how much of the
account's allowed event rate do they use together while members come and go, and do they
ever see a 429?

The emulator (its own process) enforces Gameball's documented event limits, 100 per second and
1,200 per 30 seconds (40/s sustained). --instances bridges (in this process, each on its own
thread and event loop, one consumer group) drain a backlog far larger than the run can send;
after --settle seconds (a member that joins takes its part only after a 30-second window),
the run is measured: --steady seconds, one more member joins, --steady seconds, one leaves
(SIGTERM's path: drain, commit, leave), --steady seconds. The figure is the events Gameball
accepted over the measured run against the account's sustained rate over the same time; the
baseline, a single instance alone for the same run, is measured the same way in this run.

    .venv/bin/python bench/shared_limits.py [--instances 3] [--partitions 6] [--steady 60]

Loopback only; bounded in records and time.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import threading
import time
from typing import Any

import orjson
from _config import bridge_config, create_topic
from _emulator import accepted_events, emulator_process, stats

from bridge import app
from bridge.config import BridgeConfig, parse_config
from bridge.observability.logging import configure_logging
from bridge.sandbox import kafka_tools
from bridge.sandbox.local_kafka import LocalKafka

SUSTAINED = 1200 / 30.0


class Instance:
    """One bridge on its own loop in a thread, stopped as SIGTERM would stop it."""

    def __init__(self, config: BridgeConfig) -> None:
        self._stop = asyncio.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=lambda: self._loop.run_until_complete(app.run(config, self._stop))
        )
        self._thread.start()

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(120)
        self._loop.close()


def measured_run(
    bootstrap: str, url: str, *, instances: int, partitions: int, settle: float, steady: float
) -> tuple[float, int, float]:
    """(fraction of the sustained rate used, 429s seen so far, seconds measured)."""
    topic = create_topic(bootstrap, "shared", partitions)
    records = int(SUSTAINED * (settle + 3 * steady) * 1.5) + 1000
    kafka_tools.produce(
        bootstrap,
        topic,
        (
            orjson.dumps({"type": "tick", "seq": i, "user": {"id": f"c{i % 2000}"}})
            for i in range(records)
        ),
        keys=(f"c{i % 2000}".encode() for i in range(records)),
    )
    data: dict[str, Any] = bridge_config(
        bootstrap,
        url,
        topic,
        group=f"{topic}-g",
        metadata=False,
        # The default client-side limits and share (auto); single calls only.
        delivery={"batch": {"mode": "never"}},
        logging={"level": "error"},
    )
    config = parse_config(data, env={})
    running = [Instance(config) for _ in range(instances)]
    try:
        time.sleep(settle)
        start, before = time.monotonic(), accepted_events(url)
        if instances > 1:
            time.sleep(steady)
            running.append(Instance(config))
            time.sleep(steady)
            running.pop(0).stop()
            time.sleep(steady)
        else:
            time.sleep(3 * steady)
        took, after = time.monotonic() - start, accepted_events(url)
    finally:
        for instance in running:
            instance.stop()
    doc: Any = stats(url)
    return (after - before) / (SUSTAINED * took), int(doc["rate_limited"]), took


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=3)
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--settle", type=float, default=40.0)
    parser.add_argument("--steady", type=float, default=60.0)
    args = parser.parse_args()
    configure_logging(level="error")
    with LocalKafka() as kafka:
        results = {}
        for label, instances in (("one instance alone", 1), ("share auto", args.instances)):
            with emulator_process("--rate-limits") as url:
                results[label] = measured_run(
                    kafka.bootstrap_servers,
                    url,
                    instances=instances,
                    partitions=args.partitions,
                    settle=args.settle,
                    steady=args.steady,
                )
    for label, (used, rejected, took) in results.items():
        moves = (
            ""
            if label.startswith("one")
            else (f", {args.instances} -> {args.instances + 1} -> {args.instances} instances")
        )
        print(
            f"{label}{moves}: {used:.1%} of the account's sustained event rate "
            f"({SUSTAINED:.0f}/s) over {took:.0f} s; 429s: {rejected}"
        )
    shared, alone = results["share auto"][0], results["one instance alone"][0]
    print(f"share auto / one instance alone: {shared / alone:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
