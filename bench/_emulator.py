"""The Gameball emulator as a separate process for the benchmarks (so that it never shares a
GIL with the bridge being measured), and a cheap way to read its counters."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import orjson

API_KEY = "bench-api-key"

_STATS = httpx.Client(timeout=10)  # one client: each new one costs ~40 ms of CPU (TLS setup)


@contextmanager
def emulator_process(*options: str) -> Iterator[str]:
    """Run `python -m bridge.sandbox.emulator` on a free port; yield its URL."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bridge.sandbox.emulator",
            "--port",
            "0",
            "--api-key",
            API_KEY,
            "--no-record-bodies",
            *options,
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        url: str = orjson.loads(proc.stdout.readline())["url"]
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def stats(url: str) -> dict[str, object]:
    doc: dict[str, object] = _STATS.get(f"{url}/_emulator/stats").json()
    return doc


def accepted_events(url: str) -> int:
    doc = _STATS.get(f"{url}/_emulator/stats").json()
    return int(doc["by_resource"]["events"]["accepted"])
