"""Personal data and secrets never reach the log output (`logging.pii`, secret masking)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import io
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import structlog

from bridge import app, cli
from bridge.config import BridgeConfig, parse_config
from bridge.observability.logging import configure_logging
from bridge.observability.pii import RedactPersonalData
from bridge.observability.stats import Counters

API_KEY = "sk_live_0123456789abcdef"
EMAIL, MOBILE = "jane.doe@example.com", "+201001234567"


@pytest.fixture(autouse=True)
def _restore_structlog() -> Iterator[None]:
    yield
    structlog.reset_defaults()


def config(**pii: Any) -> BridgeConfig:
    return parse_config(
        {
            "kafka": {"bootstrap_servers": "127.0.0.1:9092"},
            "gameball": {"api_key": API_KEY},
            "dead_letter": {"topic": "dlq"},
            "logging": {"pii": pii} if pii else {},
            "mappings": [
                {
                    "name": "app",
                    "topics": ["app"],
                    "event": {"customer_id": "user.id", "name": "type", "email": "user.email"},
                }
            ],
        },
        env={},
    )


def log_personal_data() -> None:
    log = structlog.get_logger("t")
    log.warning(
        "gameball.retry",
        customer_id="cust_42",
        email=EMAIL,
        error=f"401 for apikey {API_KEY}",
        body={"customer": {"Email": EMAIL, "mobile": MOBILE}, "note": f"key={API_KEY}"},
        attempts=[{"mobile": MOBILE}],
    )


def test_the_bridge_command_logs_neither_secrets_nor_personal_data(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    async def fake_run(
        cfg: BridgeConfig,
        stop: asyncio.Event,
        force: asyncio.Event | None = None,
        *,
        dry_run: bool = False,
    ) -> Counters:
        structlog.get_logger("bridge").info("bridge.started", config=cfg.redacted())
        log_personal_data()
        return Counters()

    monkeypatch.setattr(app, "run", fake_run)
    assert cli.run_until_signalled(config()) == cli.EXIT_OK

    out = capsys.readouterr().out
    for leaked in (API_KEY, EMAIL, MOBILE):
        assert leaked not in out
    started, retry = (orjson.loads(line) for line in out.splitlines())
    # The configuration's own `email` key is a mapping path, not personal data.
    assert started["config"]["mappings"][0]["event"]["email"]["path"] == "user.email"
    assert retry["customer_id"] == "cust_42"  # operators trace customers by it
    assert retry["email"].startswith("sha256:")
    # The same value hashes the same wherever it is, so lines can still be matched up.
    assert retry["body"]["customer"]["Email"] == retry["email"]
    assert retry["attempts"][0]["mobile"] == retry["body"]["customer"]["mobile"]
    assert retry["error"] == "401 for apikey ******"
    assert retry["body"]["note"] == "key=******"


def render(processor: RedactPersonalData) -> dict[str, Any]:
    out = io.StringIO()
    configure_logging(stream=out, personal_data=processor)
    log_personal_data()
    line: dict[str, Any] = orjson.loads(out.getvalue())
    return line


def test_drop_removes_the_keys_everywhere() -> None:
    line = render(RedactPersonalData.from_config(config(mode="drop").logging.pii))
    assert "email" not in line
    assert line["body"]["customer"] == {}
    assert line["attempts"] == [{}]


def test_keep_logs_them_as_they_are() -> None:
    line = render(RedactPersonalData.from_config(config(mode="keep").logging.pii))
    assert line["email"] == EMAIL
    assert line["body"]["customer"]["mobile"] == MOBILE


def test_a_configured_salt_gives_stable_hashes_and_fields_add_keys() -> None:
    pii = config(mode="hash", salt="s3cret-salt", fields=["customer_id"]).logging.pii
    line = render(RedactPersonalData.from_config(pii))
    expected = hmac.new(b"s3cret-salt", EMAIL.encode(), hashlib.sha256).hexdigest()[:16]
    assert line["email"] == f"sha256:{expected}"
    assert line["customer_id"].startswith("sha256:")
    # Without a salt each process draws its own key.
    assert RedactPersonalData("hash").hash(EMAIL) != RedactPersonalData("hash").hash(EMAIL)


def test_the_default_is_hash_email_and_mobile() -> None:
    pii = config().logging.pii
    assert (pii.mode, pii.fields, pii.salt) == ("hash", (), None)
    assert "abc" not in str(config(salt="abc").redacted())
