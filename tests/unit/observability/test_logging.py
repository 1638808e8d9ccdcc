"""Log output: JSON lines with stable event names; secrets masked even when passed by mistake."""

from __future__ import annotations

import io
from collections.abc import Iterator

import orjson
import pytest
import structlog

from bridge.observability.logging import configure_logging


@pytest.fixture(autouse=True)
def _restore_structlog() -> Iterator[None]:
    yield
    structlog.reset_defaults()


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_carry_event_level_and_timestamp() -> None:
    out = io.StringIO()
    configure_logging(format="json", level="info", stream=out)
    log = structlog.get_logger("t")
    log.info("record.dead_lettered", topic="app", partition=1, offset=7, kind="invalid_json")
    log.debug("hidden")
    [line] = lines(out)
    assert line["event"] == "record.dead_lettered"
    assert line["level"] == "info"
    assert str(line["timestamp"]).endswith("Z")
    assert (line["topic"], line["partition"], line["offset"]) == ("app", 1, 7)


def test_level_filters() -> None:
    out = io.StringIO()
    configure_logging(format="json", level="error", stream=out)
    structlog.get_logger("t").warning("gameball.retry")
    assert out.getvalue() == ""


def test_console_format_is_one_readable_line() -> None:
    out = io.StringIO()
    configure_logging(format="console", level="info", stream=out)
    structlog.get_logger("t").info("partition.assigned", partitions=["a[0]"])
    text = out.getvalue()
    assert "partition.assigned" in text
    assert "partitions=['a[0]']" in text
    assert not text.lstrip().startswith("{")


def test_configured_secrets_are_masked_in_any_value() -> None:
    out = io.StringIO()
    configure_logging(format="json", level="info", secrets=["sk_live_123456"], stream=out)
    structlog.get_logger("t").error("bridge.failed", error="auth failed for key sk_live_123456!")
    [line] = lines(out)
    assert "sk_live_123456" not in out.getvalue()
    assert line["error"] == "auth failed for key ******!"


def test_exceptions_are_rendered_into_the_json_line() -> None:
    out = io.StringIO()
    configure_logging(format="json", level="info", stream=out)
    try:
        raise RuntimeError("kaboom")
    except RuntimeError:
        structlog.get_logger("t").exception("engine.unexpected_error")
    [line] = lines(out)
    assert "RuntimeError: kaboom" in str(line["exception"])


@pytest.mark.parametrize("format", ["json", "console"])
def test_secrets_inside_a_rendered_exception_are_masked(format: str) -> None:
    # The traceback is text only once rendered: rendered after the masker, it went out as is.
    out = io.StringIO()
    configure_logging(format=format, level="info", secrets=["sk_live_123456"], stream=out)
    try:
        raise RuntimeError("request failed with headers {'apikey': 'sk_live_123456'}")
    except RuntimeError:
        structlog.get_logger("t").exception("engine.unexpected_error")
    text = out.getvalue()
    assert "sk_live_123456" not in text
    assert "RuntimeError: request failed with headers {'apikey': '******'}" in text
