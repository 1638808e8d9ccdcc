"""One line while something slow happens (the first Maven fetch of the broker, its start):
what is being waited for and for how long so far, so a person knows nothing is stuck."""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Iterator
from typing import TextIO


@contextlib.contextmanager
def waiting_for(what: str, *, stream: TextIO | None = None, every: float = 1.0) -> Iterator[None]:
    """On a terminal, one line rewritten in place every `every` seconds; elsewhere (a log,
    CI), a line every 5 x `every` seconds. Ends with how long it took."""
    out = stream or sys.stderr
    live = out.isatty()
    started = time.monotonic()
    done = threading.Event()

    def elapsed() -> str:
        return f"{time.monotonic() - started:.0f}s"

    def report() -> None:
        interval = every if live else every * 5
        while not done.wait(interval):
            if live:
                out.write(f"\rwaiting for {what}: {elapsed()} so far ")
            else:
                out.write(f"still waiting for {what}: {elapsed()} so far\n")
            out.flush()

    out.write(f"waiting for {what} ..." + ("" if live else "\n"))
    out.flush()
    reporter = threading.Thread(target=report, name="waiting", daemon=True)
    reporter.start()
    try:
        yield
    finally:
        done.set()
        reporter.join()
        out.write(("\r" if live else "") + f"{what}: ready after {elapsed()}\n")
        out.flush()
