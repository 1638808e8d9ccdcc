"""What a Gameball answer means for the record: parse it, look it up in the retry table
(`retry_policy`), and name the outcome as one of the bridge's errors.

`classify` is pure (status, headers, body in; an error or None out) so every row of the table
is unit-tested without a server.
"""

from __future__ import annotations

import email.utils
import math
import time
from collections.abc import Mapping
from datetime import UTC
from typing import Any

import orjson

from bridge.errors import (
    DeliveryError,
    GameballAccessError,
    PermanentDeliveryError,
    RateLimitedError,
    RetryableDeliveryError,
)
from bridge.gameball.retry_policy import DEFAULT_POLICY, NO_SUCH_ENDPOINT, Action, RetryPolicy
from bridge.operations import Description

ACCOUNT_DISABLED = 6000
ACCESS_CODES = frozenset({1000, 1001, 1002, ACCOUNT_DISABLED})

_ACCESS_HINT = {
    401: "check gameball.api_key / gameball.secret_key (GAMEBALL_API_KEY, GAMEBALL_SECRET_KEY)",
    403: "the keys are valid but not allowed this call: check the account's permissions and "
    "its minimum API version (gameball.api_version)",
    ACCOUNT_DISABLED: "Gameball is disabled for this account: enable it in the Gameball dashboard",
}


def parse_error_body(body: bytes) -> tuple[int | None, str]:
    """Gameball's error code and message, tolerating every documented shape:
    ``{"code", "message", ...}``, ``{"error": <int>, "message"}``, or something else."""
    try:
        doc: Any = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        doc = None
    if not isinstance(doc, dict):
        text = body[:200].decode("utf-8", "replace").strip()
        return None, text
    code: Any = doc.get("code", doc.get("error"))
    if isinstance(code, str) and code.isdigit():
        code = int(code)
    if not isinstance(code, int) or isinstance(code, bool):
        code = None
    message = doc.get("message")
    return code, (str(message)[:500] if message is not None else "")


# The longest wait a Retry-After can ask for. A longer one is most likely a misconfigured proxy
# or a date from a skewed clock; waiting the hour and asking again is safer than either
# ignoring it (and retrying into the limit at backoff speed) or holding for a day.
MAX_RETRY_AFTER = 3600.0


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Retry-After in seconds, at most `MAX_RETRY_AFTER`: delay-seconds (``120``, tolerantly
    ``0.5`` or ``1e3``) or an HTTP-date (``Wed, 21 Oct 2026 07:28:00 GMT``), counted from
    `now` (epoch seconds; the wall clock by default). None when absent, unreadable, negative,
    not finite, or a date already past: the caller then backs off as it would without one."""
    if value is None:
        return None
    text = value.strip()
    seconds: float | None
    try:
        seconds = float(text)
    except ValueError:
        seconds = _seconds_until(text, time.time() if now is None else now)
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return None
    return min(seconds, MAX_RETRY_AFTER)


def _seconds_until(http_date: str, now: float) -> float | None:
    try:
        moment = email.utils.parsedate_to_datetime(http_date)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:  # RFC 9110 dates are GMT; an obsolete form may carry no zone
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp() - now


def classify(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    policy: RetryPolicy = DEFAULT_POLICY,
    description: Description | None = None,
) -> DeliveryError | None:
    """None for a delivered operation; otherwise the error that says what to do next.
    `description`: the operation answered, whose own codes the policy reads (a refund's
    order not there yet, a deleted customer's 7000)."""
    if 200 <= status < 300 and policy.rule_for(status, None).action is Action.DELIVERED:
        return None  # the common case: no body to parse
    code, message = parse_error_body(body)
    rule = policy.rule_for(status, code, description)
    text = f"HTTP {status}" + (f", code {code}" if code is not None else "")
    text += f": {message}" if message else ""
    if rule.action is Action.DELIVERED:
        return None
    if rule.action is Action.RETRY:
        if status == 429:
            retry_after = parse_retry_after(headers.get("retry-after"))
            return RateLimitedError(
                text, code=code, retry_after=retry_after, max_attempts=rule.max_attempts
            )
        return RetryableDeliveryError(
            text,
            status=status,
            code=code,
            max_attempts=rule.max_attempts,
            retry_for=rule.max_seconds,
        )
    if rule.action is Action.DEAD_LETTER:
        return PermanentDeliveryError(text, status=status, code=code)
    hint = _ACCESS_HINT.get(code if code == ACCOUNT_DISABLED else status)
    if hint is None:
        if status in (401, 403) or code in ACCESS_CODES:
            hint = _ACCESS_HINT[401]
        elif status in NO_SUCH_ENDPOINT and code is None:
            hint = "no such endpoint: check gameball.base_url and gameball.api_version"
        else:
            hint = "unexpected answer: check gameball.base_url"
    return GameballAccessError(f"{text} ({hint})", status=status, code=code)
