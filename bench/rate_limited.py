"""Under Gameball's rate limits: how close does the bridge get to the allowed rate, and does
it ever see a 429?

The emulator (its own process) enforces Gameball's documented limits for events: 100 per
second and 1,200 per 30 seconds. The bridge runs with its default client-side limits (the
same numbers). N records are produced; the figure is the time the bridge needed against the
least time the limits allow for N requests (the baseline, computed: bursts of 100 per second
until 1,200, then waiting for the 30-second window to slide), and the emulator's 429 count.

    .venv/bin/python bench/rate_limited.py [--records 2400]

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
from bridge.config import parse_config
from bridge.observability.logging import configure_logging
from bridge.sandbox import kafka_tools
from bridge.sandbox.local_kafka import LocalKafka

PER_SECOND, PER_30S = 100, 1200


def least_time(records: int) -> float:
    """Seconds the limits need at the very least for `records` requests, the first at 0."""
    windows, rest = divmod(records - 1, PER_30S)
    return windows * 30.0 + rest // PER_SECOND


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=2400)
    args = parser.parse_args()
    configure_logging(level="error")
    with emulator_process("--rate-limits") as url, LocalKafka() as kafka:
        bootstrap = kafka.bootstrap_servers
        topic = create_topic(bootstrap, "limited", 3)
        kafka_tools.produce(
            bootstrap,
            topic,
            (
                orjson.dumps({"type": "tick", "seq": i, "user": {"id": f"c{i % 500}"}})
                for i in range(args.records)
            ),
        )
        config = parse_config(
            # The default client-side limits: no `gameball=` override.
            bridge_config(
                bootstrap,
                url,
                topic,
                group=f"{topic}-g",
                metadata=False,
                logging={"level": "error"},
            ),
            env={},
        )
        stop = asyncio.Event()
        loop = asyncio.new_event_loop()
        runner = threading.Thread(target=lambda: loop.run_until_complete(app.run(config, stop)))
        runner.start()
        first_at = None
        deadline = time.monotonic() + least_time(args.records) * 2 + 60
        while (done := accepted_events(url)) < args.records and time.monotonic() < deadline:
            if first_at is None and done > 0:
                first_at = time.monotonic()
            time.sleep(0.02)
        finished_at = time.monotonic()
        loop.call_soon_threadsafe(stop.set)
        runner.join()
        loop.close()
        doc: Any = stats(url)
    assert first_at is not None
    took = finished_at - first_at
    best = least_time(args.records)
    print(
        f"{args.records} events under Gameball's limits ({PER_SECOND}/s, {PER_30S}/30 s): "
        f"{took:.1f} s from first to last accepted; the limits allow {best:.1f} s at best "
        f"-> {best / took:.1%} of the allowed rate; 429s seen: {doc['rate_limited']}; "
        f"accepted {doc['by_resource']['events']['accepted']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
