"""`bridge demo --avro`, the README's Avro option, as a user runs it: its own broker,
registry and emulator; the shipped Avro samples delivered and dead-lettered as their golden
file says."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.kafka

REPO = Path(__file__).resolve().parents[2]


def test_the_avro_demo_delivers_the_shipped_samples() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bridge.cli", "demo", "--avro", "--log-format", "json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    out = result.stdout
    assert result.returncode == 0, out[-3000:] + result.stderr[-3000:]
    assert "produced 5 sample records to avro-orders" in out
    # Golden: two paid orders, each an order and a customer upsert; one pending (skipped);
    # two undecodable (no framing, an unknown schema id).
    assert "== Gameball received 4 request(s) ==" in out
    assert out.count("POST /api/v4.0/integrations/orders") == 2
    assert out.count("POST /api/v4.0/integrations/customers") == 2
    assert "dead-letter topic gameball-bridge-dlq: 2 record(s)" in out
    assert out.count("[decode_failed]") == 2
    assert "all 5 records done" in out
