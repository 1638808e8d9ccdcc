"""Gameball-shaped answers: the error body format and the code that goes with each status."""

from __future__ import annotations

import itertools
import math

import orjson

from .protocol import Reply

# Gameball's error codes (API.md, "Errors") and a short type name for each.
ERROR_TYPES: dict[int, str] = {
    1000: "Unauthorized",
    1001: "SecretKeyRequired",
    1002: "Forbidden",
    2000: "PreconditionFailed",
    2001: "ConcurrentRequestInProgress",
    3000: "MissingArguments",
    3001: "NullArgument",
    3003: "InvalidValue",
    3006: "NameLengthExceeded",
    3011: "LimitExceeded",
    3013: "NotSupported",
    3016: "InvalidPayload",
    4000: "GenericFailure",
    4004: "NotFound",
    4500: "GenericFailure",
    5000: "InternalError",
    5003: "ServiceUnavailable",
    6000: "GameballDisabled",
    7000: "CustomerNotFound",
    9004: "DuplicateTransaction",
}

# The code a bare scripted status (e.g. `503`) answers with. Gameball documents no code for
# 429, so the status itself is used there.
DEFAULT_CODES: dict[int, int] = {
    400: 4000,
    401: 1000,
    403: 1002,
    404: 4004,
    412: 2000,
    415: 3013,
    422: 3003,
    429: 429,
    500: 5000,
    503: 5003,
}

_MESSAGES: dict[int, str] = {
    1000: "Invalid or missing API key",
    1001: "Invalid or missing secret key",
    2001: "A request for this customer is already in progress",
    4004: "Not found",
    5000: "Internal server error",
    5003: "Service unavailable",
    429: "Too many requests",
}

_request_ids = itertools.count(1)


def default_code(status: int) -> int:
    return DEFAULT_CODES.get(status, 5000 if status >= 500 else 4000)


def default_message(code: int) -> str:
    return _MESSAGES.get(code, "Request failed")


def error(
    status: int,
    code: int,
    message: str | None = None,
    headers: tuple[tuple[str, str], ...] = (),
) -> Reply:
    body = {
        "code": code,
        "type": ERROR_TYPES.get(code, "Error"),
        "message": message or default_message(code),
        "requestId": f"emu-{next(_request_ids):08d}",
    }
    return Reply(status, orjson.dumps(body), headers)


def retry_after_header(seconds: float) -> tuple[tuple[str, str], ...]:
    # Retry-After takes whole seconds (RFC 9110 10.2.3); round up so a client that obeys
    # it never comes back too early.
    return (("retry-after", str(max(0, math.ceil(seconds)))),)


def json_reply(payload: object, status: int = 200) -> Reply:
    return Reply(status, orjson.dumps(payload, option=orjson.OPT_NON_STR_KEYS))


EVENTS_ACCEPTED = b'{"success":true,"message":"Events processed"}'
