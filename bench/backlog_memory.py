"""Memory with a large backlog while Gameball is down: does the bridge stay flat?

Produces --records small records (default 1,000,000) to a topic, starts the Gameball
emulator in an outage (every request answers 503), runs `bridge run` as its own process
against both for --seconds, and samples the process's resident memory (VmRSS, and the kernel's
peak VmHWM) every half second. The same measurement with a backlog a hundred times smaller
is the baseline: flat memory means the two peaks are about equal.

    .venv/bin/python bench/backlog_memory.py [--records 1000000] [--seconds 60]

Loopback only; bounded in records and time.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import orjson
import yaml
from _config import bridge_config, create_topic
from _emulator import emulator_process

from bridge.sandbox import kafka_tools
from bridge.sandbox.local_kafka import LocalKafka


def memory_kb(pid: int) -> tuple[int, int]:
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


def measure(
    bootstrap: str, url: str, records: int, seconds: float, workdir: Path
) -> dict[str, float]:
    topic = create_topic(bootstrap, "backlog", 3)
    started = time.monotonic()
    kafka_tools.produce(
        bootstrap,
        topic,
        (
            orjson.dumps({"type": "tick", "seq": i, "user": {"id": f"cust_{i % 10_000}"}})
            for i in range(records)
        ),
    )
    produced_in = time.monotonic() - started
    config = bridge_config(
        bootstrap,
        url,
        topic,
        group=f"{topic}-group",
        gameball={"rate_limits": {"enabled": False}},
        delivery={"retry": {"max_backoff": 2}},
        logging={"level": "error"},
    )
    path = workdir / f"{topic}.yaml"
    path.write_text(yaml.safe_dump(config))
    proc = subprocess.Popen(
        [sys.executable, "-m", "bridge.cli", "run", "-c", str(path)], stdout=subprocess.DEVNULL
    )
    samples: list[int] = []
    peak = 0
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            time.sleep(0.5)
            rss, peak = memory_kb(proc.pid)
            samples.append(rss)
    finally:
        proc.terminate()
        proc.wait(60)
    return {
        "produced_s": produced_in,
        "peak_mb": peak / 1024,
        "last_mb": samples[-1] / 1024,
        "median_mb": sorted(samples)[len(samples) // 2] / 1024,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=60)
    args = parser.parse_args()
    with emulator_process() as url:
        httpx.post(f"{url}/_emulator/faults", json={"outage": 503}).raise_for_status()
        with LocalKafka(heap_mb=1024) as kafka, tempfile.TemporaryDirectory() as tmp:
            for records in (max(args.records // 100, 1000), args.records):
                r = measure(kafka.bootstrap_servers, url, records, args.seconds, Path(tmp))
                print(
                    f"backlog {records:>9,} records, Gameball down for {args.seconds:.0f} s: "
                    f"bridge RSS peak {r['peak_mb']:.0f} MB, median {r['median_mb']:.0f} MB, "
                    f"at the end {r['last_mb']:.0f} MB (produced in {r['produced_s']:.0f} s)"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
