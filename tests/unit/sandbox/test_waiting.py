"""The demo's waiting line: what it waits for, and for how long so far."""

from __future__ import annotations

import io
import time

from bridge.sandbox.waiting import waiting_for


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_log_gets_a_line_now_and_then_and_the_time_it_took() -> None:
    out = io.StringIO()
    with waiting_for("the broker", stream=out, every=0.01):
        time.sleep(0.2)
    lines = out.getvalue().splitlines()
    assert lines[0] == "waiting for the broker ..."
    assert any(line.startswith("still waiting for the broker: ") for line in lines[1:-1])
    assert lines[-1].startswith("the broker: ready after ")


def test_a_terminal_gets_one_line_rewritten_in_place() -> None:
    out = Terminal()
    with waiting_for("the broker", stream=out, every=0.01):
        time.sleep(0.1)
    text = out.getvalue()
    assert text.count("\n") == 1  # one line, ended once it is ready
    assert "\rwaiting for the broker: " in text
    assert text.endswith("\n")
    assert "\rthe broker: ready after " in text
