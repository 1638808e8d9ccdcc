"""What a Gameball answer means for the record: the table in API.md, as code.

`classify` is pure (status, headers, body in; an error or None out) so every row of the table
is unit-tested without a server.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from bridge.errors import (
    DeliveryError,
    GameballAccessError,
    GenericFailureError,
    PermanentDeliveryError,
    RateLimitedError,
    RetryableDeliveryError,
)

# Gameball's own codes, from API.md.
CONCURRENT_REQUEST = 2001  # another request for this customer is in flight: retry shortly
GENERIC_FAILURES = frozenset({4000, 4500})
ACCOUNT_DISABLED = 6000
ALREADY_EXISTS = 9004  # order/transaction id exists: an earlier attempt landed
ACCESS_CODES = frozenset({1000, 1001, 1002, ACCOUNT_DISABLED})
SERVER_CODES = frozenset({5000, 5003})

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


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After in seconds. The HTTP-date form is not used by Gameball; it is ignored."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if 0 <= seconds <= 3600 else None


def classify(status: int, headers: Mapping[str, str], body: bytes) -> DeliveryError | None:
    """None for a delivered operation; otherwise the error that says what to do next."""
    if 200 <= status < 300:
        return None
    code, message = parse_error_body(body)
    text = f"HTTP {status}" + (f", code {code}" if code is not None else "")
    text += f": {message}" if message else ""
    if code == ALREADY_EXISTS:
        return None
    if status == 429:
        return RateLimitedError(
            text,
            status=status,
            code=code,
            retry_after=parse_retry_after(headers.get("retry-after")),
        )
    if status in (401, 403) or code in ACCESS_CODES:
        hint = _ACCESS_HINT.get(code if code == ACCOUNT_DISABLED else status, _ACCESS_HINT[401])
        return GameballAccessError(f"{text} ({hint})", status=status, code=code)
    if status >= 500 or code in SERVER_CODES or code == CONCURRENT_REQUEST or status == 408:
        return RetryableDeliveryError(text, status=status, code=code)
    if code in GENERIC_FAILURES:
        return GenericFailureError(text, status=status, code=code)
    if 400 <= status < 500:
        return PermanentDeliveryError(text, status=status, code=code)
    # 1xx/3xx: the base URL points somewhere that is not Gameball's API (a redirect to a login
    # page, a proxy). That is configuration, not the record: keep it and tell the operator.
    return GameballAccessError(
        f"{text} (unexpected answer: check gameball.base_url)", status=status, code=code
    )
