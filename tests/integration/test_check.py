"""`bridge check` as a command, against the real broker and the Gameball emulator."""

from __future__ import annotations

import re
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from bridge.sandbox.emulator import GameballEmulator
from bridge.sandbox.local_kafka import LocalKafka
from tests.integration.conftest import API_KEY, PARTITIONS, config_data, dead_letter_topic

pytestmark = pytest.mark.kafka


def run_check(config: dict[str, Any], workdir: Path) -> tuple[int, list[str]]:
    path = workdir / f"check-{uuid.uuid4().hex[:6]}.yaml"
    path.write_text(yaml.safe_dump(config))
    done = subprocess.run(
        [sys.executable, "-m", "bridge.cli", "check", "-c", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert API_KEY not in done.stdout + done.stderr
    return done.returncode, done.stdout.splitlines()


def test_all_ok(kafka: LocalKafka, emulator: GameballEmulator, topic: str, tmp_path: Path) -> None:
    pattern = f"^{re.escape(topic)}$"
    config = config_data(kafka, emulator, topic)
    # config_data's first parameter is named `kafka`: set the section's keys directly.
    config["kafka"]["topics"] = [topic, pattern]
    code, lines = run_check(config, tmp_path)
    assert lines == [
        "config: ok (1 mapping(s))",
        "mappings: ok (1 mapping(s) compiled)",
        f"kafka topics: ok ({topic}: {PARTITIONS} partition(s); "
        f"{pattern} -> {topic}: {PARTITIONS})",
        f"dead-letter topic: ok ({dead_letter_topic(topic)}: 1 partition(s))",
        f"gameball: ok (keys accepted by {emulator.url})",
    ]
    assert code == 0
    # The probe carries no customer data, and Gameball recorded nothing.
    assert emulator.received("events") == []


def test_wrong_api_key(
    kafka: LocalKafka, emulator: GameballEmulator, topic: str, tmp_path: Path
) -> None:
    config = config_data(kafka, emulator, topic, gameball={"api_key": "not-the-key"})
    code, lines = run_check(config, tmp_path)
    assert code == 1
    assert lines[-1].startswith("gameball: FAILED: refused: HTTP 401, code 1000")
    assert "GAMEBALL_API_KEY" in lines[-1]
    assert all(": ok" in line for line in lines[:-1]), lines
    assert "not-the-key" not in "\n".join(lines)


def test_missing_topics(
    kafka: LocalKafka, emulator: GameballEmulator, topic: str, tmp_path: Path
) -> None:
    gone = f"{topic}-gone"
    config = config_data(kafka, emulator, topic, dead_letter={"topic": f"{topic}-no-dlq"})
    config["kafka"]["topics"] = [topic, gone]
    code, lines = run_check(config, tmp_path)
    assert code == 1
    assert (
        f"kafka topics: FAILED: {gone} does not exist; found {topic}: {PARTITIONS} partition(s)"
    ) in lines
    assert f"dead-letter topic: FAILED: {topic}-no-dlq does not exist (create it)" in lines
    assert lines[-1].startswith("gameball: ok")


def test_instance_id_nobody_holds(
    kafka: LocalKafka, emulator: GameballEmulator, topic: str, tmp_path: Path
) -> None:
    config = config_data(kafka, emulator, topic)
    config["kafka"]["instance_id"] = "web-0"
    code, lines = run_check(config, tmp_path)
    # After the Kafka steps, before Gameball; tests/integration/test_static_membership.py
    # checks the id while a bridge holds it.
    assert lines[4] == (
        f"kafka instance id: ok (web-0: leaves on SIGTERM; no member of {topic}-group holds it)"
    )
    assert lines[-1].startswith("gameball: ok")
    assert code == 0
