"""Which row of the retry table applies when the status and the body's code disagree."""

from __future__ import annotations

import orjson
import pytest

from bridge.errors import (
    DeliveryError,
    GameballAccessError,
    PermanentDeliveryError,
    RateLimitedError,
    RetryableDeliveryError,
)
from bridge.gameball.outcomes import classify
from bridge.gameball.retry_policy import Action, RetryPolicy, Rule


def body(code: int | None) -> bytes:
    return orjson.dumps({"code": code, "message": "x"} if code is not None else {"message": "x"})


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        # API.md: a 429 is never dead-lettered, and never bounded by a code's retry:N.
        (429, 3011, RateLimitedError),
        (429, 4000, RateLimitedError),
        (429, 7000, RateLimitedError),
        # 401/403 are about the keys, whatever the body says.
        (401, 3000, GameballAccessError),
        (403, 4004, GameballAccessError),
        # 5xx: Gameball (or a proxy in front of it) failed; the record is not at fault.
        (503, 4004, RetryableDeliveryError),
        (500, 3016, RetryableDeliveryError),
        (502, 4000, RetryableDeliveryError),
        (408, 3000, RetryableDeliveryError),
    ],
)
def test_authoritative_statuses_win_over_the_default_code_table(
    status: int, code: int, expected: type[DeliveryError]
) -> None:
    error = classify(status, {}, body(code))
    assert type(error) is expected
    assert isinstance(error, DeliveryError)
    assert error.code == code
    if isinstance(error, RetryableDeliveryError):
        assert error.max_attempts is None  # retried until it succeeds, never dead-lettered


def test_codes_with_their_own_status_keep_their_row() -> None:
    assert classify(400, {}, body(4000)).max_attempts == 5  # type: ignore[union-attr]
    assert type(classify(422, {}, body(3011))) is PermanentDeliveryError
    assert type(classify(422, {}, body(6000))) is GameballAccessError
    assert classify(422, {}, body(9004)) is None


def test_operator_rows_beat_every_default_row() -> None:
    policy = RetryPolicy(by_status={429: "retry:3", 503: "dead_letter", 404: "retry"})
    assert policy.rule_for(429, 3011) == Rule(Action.RETRY, 3)
    assert policy.rule_for(503, 5003) == Rule(Action.DEAD_LETTER)
    assert policy.rule_for(404, 4004) == Rule(Action.RETRY)  # status row over the default code
    codes = RetryPolicy(by_code={5000: "retry:3", 4000: "dead_letter"})
    assert codes.rule_for(500, 5000) == Rule(Action.RETRY, 3)  # a code row over the 5xx class
    assert codes.rule_for(400, 4000) == Rule(Action.DEAD_LETTER)
    both = RetryPolicy(by_code={7000: "retry:3"}, by_status={404: "dead_letter"})
    assert both.rule_for(404, 7000) == Rule(Action.RETRY, 3)  # the code is more specific
    assert both.rule_for(404, 4004) == Rule(Action.DEAD_LETTER)


@pytest.mark.parametrize(
    ("status", "raw"),
    [
        (404, b"<html><body>Not Found</body></html>"),
        (404, b'{"message": "Not Found"}'),
        (404, b""),
        (405, b""),
        (405, b"Method Not Allowed"),
    ],
)
def test_a_missing_endpoint_stops_sending_instead_of_dead_lettering(
    status: int, raw: bytes
) -> None:
    error = classify(status, {}, raw)
    # Stop: the access gate holds every record and probes until the path answers again.
    assert type(error) is GameballAccessError
    assert "check gameball.base_url" in str(error)


@pytest.mark.parametrize("code", [4004, 7000])
def test_a_404_with_a_gameball_code_keeps_its_row(code: int) -> None:
    assert type(classify(404, {}, body(code))) is PermanentDeliveryError


def test_an_operator_row_for_404_still_wins() -> None:
    policy = RetryPolicy(by_status={404: "dead_letter"})
    assert type(classify(404, {}, b"<html>Not Found</html>", policy)) is PermanentDeliveryError
