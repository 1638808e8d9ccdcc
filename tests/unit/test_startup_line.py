"""The first thing a person reads: `bridge.started` is one short line that says what this
bridge is about to do, and the whole resolved config waits at debug (`bridge.config`)."""

from __future__ import annotations

import io
from pathlib import Path

import orjson
import pytest
import yaml

from bridge import app, cli
from bridge.config import BridgeConfig, load_config, parse_config
from bridge.observability.logging import configure_logging

REPO = Path(__file__).resolve().parents[2]
API_KEY, SECRET_KEY, KAFKA_PASSWORD = "gb-live-9f8e7d6c", "gb-secret-1a2b3c", "kafka-pw-77aa"


def shipped_config(**env: str) -> BridgeConfig:
    environment = {"GAMEBALL_API_KEY": API_KEY, "GAMEBALL_SECRET_KEY": SECRET_KEY, **env}
    return load_config(REPO / "config" / "bridge.yaml", env=environment)


def start_lines(config: BridgeConfig, *, format: str, level: str = "info") -> list[str]:
    out = io.StringIO()
    configure_logging(format=format, level=level, secrets=config.secret_values(), stream=out)
    app.log_start(config)
    return out.getvalue().splitlines()


def test_the_console_start_line_is_short_and_says_what_runs() -> None:
    config = shipped_config()
    [started] = [line for line in start_lines(config, format="console") if "bridge.started" in line]
    assert len(started) < 400, started
    for topic in config.subscribed_topics():
        assert topic in started
    for mapping in config.mappings:
        assert mapping.name in started
    assert config.dead_letter.topic in started
    assert config.gameball.base_url in started
    assert API_KEY not in started
    assert SECRET_KEY not in started


def test_the_json_start_line_is_a_machine_readable_summary() -> None:
    config = shipped_config()
    lines = [orjson.loads(line) for line in start_lines(config, format="json")]
    [started] = [line for line in lines if line["event"] == "bridge.started"]
    assert started["topics"] == list(config.subscribed_topics())
    assert started["mappings"] == [m.name for m in config.mappings]
    assert started["group"] == config.kafka.group_id
    assert started["batch_mode"] == "auto"
    assert started["rate_limits"] == "on, share auto"
    assert "config" not in started
    assert not [line for line in lines if line["event"] == "bridge.config"]  # debug only


def test_the_whole_config_is_at_debug_secrets_masked_defaults_left_out() -> None:
    config = shipped_config()
    lines = [orjson.loads(line) for line in start_lines(config, format="json", level="debug")]
    [whole] = [line["config"] for line in lines if line["event"] == "bridge.config"]
    assert whole["gameball"]["api_key"] == "******"
    assert whole["gameball"]["secret_key"] == "******"
    text = orjson.dumps(whole).decode()
    assert API_KEY not in text
    assert SECRET_KEY not in text
    # Values equal to their defaults are left out (the shipped file writes every delivery
    # setting at its default); what differs is there.
    assert "delivery" not in whole
    assert "timeouts" not in whole["gameball"]
    assert whole["kafka"] == {"bootstrap_servers": config.kafka.bootstrap_servers}
    assert whole["dead_letter"]["topic"] == config.dead_letter.topic


def test_validate_print_shows_the_config_as_yaml_that_loads_back(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GAMEBALL_API_KEY", API_KEY)
    monkeypatch.setenv("GAMEBALL_SECRET_KEY", SECRET_KEY)
    path = str(REPO / "config" / "bridge.yaml")
    assert cli.main(["validate", "--print", "-c", path]) == cli.EXIT_OK
    printed = capsys.readouterr()
    assert API_KEY not in printed.out
    assert SECRET_KEY not in printed.out
    data = yaml.safe_load(printed.out)
    assert data["gameball"]["api_key"] == "******"
    assert "ok (1 mapping(s))" in printed.err
    # With the keys put back, the printed YAML is the same configuration.
    data["gameball"].update(api_key=API_KEY, secret_key=SECRET_KEY)
    assert parse_config(data, env={}) == shipped_config()
