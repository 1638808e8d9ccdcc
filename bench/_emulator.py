"""The Gameball emulator as a separate process for the benchmarks (so that it never shares a
GIL with the bridge being measured), and a cheap way to read its counters."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson

API_KEY = "bench-api-key"

_STATS = httpx.Client(timeout=10)  # one client: each new one costs ~40 ms of CPU (TLS setup)
_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class Emulator:
    url: str
    pid: int


@contextmanager
def emulator_server(*options: str, record_bodies: bool = False) -> Iterator[Emulator]:
    """Run `python -m bridge.sandbox.emulator` on a free port; yield its URL and pid.
    `record_bodies` keeps every accepted request (for `received`), at some memory."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bridge.sandbox.emulator",
            "--port",
            "0",
            "--api-key",
            API_KEY,
            *(() if record_bodies else ("--no-record-bodies",)),
            *options,
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        announced = orjson.loads(proc.stdout.readline())
        yield Emulator(url=announced["url"], pid=proc.pid)
    finally:
        proc.terminate()
        proc.wait(10)


@contextmanager
def emulator_process(*options: str) -> Iterator[str]:
    """Run `python -m bridge.sandbox.emulator` on a free port; yield its URL."""
    with emulator_server(*options) as emulator:
        yield emulator.url


def stats(url: str) -> dict[str, object]:
    doc: dict[str, object] = _STATS.get(f"{url}/_emulator/stats").json()
    return doc


def accepted_events(url: str) -> int:
    """Events Gameball accepted: names tracked, so that one call or item carrying several
    records' events (`coalesce_events`) counts each."""
    doc = _STATS.get(f"{url}/_emulator/stats").json()
    return int(doc["events_tracked"])


def received(url: str, resource: str, since: int = 0) -> list[dict[str, Any]]:
    """The requests (and batch items) the emulator accepted for `resource` after its `since`-th
    (needs `record_bodies`). Large: call it outside anything measured."""
    answer = _STATS.get(
        f"{url}/_emulator/received", params={"resource": resource, "since": since}, timeout=300
    )
    answer.raise_for_status()
    rows: list[dict[str, Any]] = orjson.loads(answer.content)
    return rows


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the process `pid` has used so far (Linux /proc)."""
    # The command name (field 2) may hold spaces; the counters follow its closing parenthesis.
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS
