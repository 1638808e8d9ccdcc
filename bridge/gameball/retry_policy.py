"""The retry table: what to do with each Gameball answer, by error code or HTTP status.

The defaults are API.md's table. Operators override single rows in the config
(`delivery.retry.by_code` / `by_status`), e.g. ``{4004: "retry:3"}`` or ``{404: "dead_letter"}``.
A rule is one of:

    delivered    the operation counts as done (9004: an earlier attempt landed)
    retry        retry with backoff until it succeeds; never dead-lettered
    retry:N      retry, and dead-letter after N attempts in all
    dead_letter  dead-letter the record at once
    stop         stop all sending and keep the record (credentials, account disabled)

A Gameball error code, when the answer carries one, is looked up first, then the HTTP status,
then the status class (2xx delivered, 5xx retry, other 4xx dead_letter, anything else stop).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


class Action(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"
    DEAD_LETTER = "dead_letter"
    STOP = "stop"


@dataclass(frozen=True, slots=True)
class Rule:
    action: Action
    max_attempts: int | None = None  # only for RETRY; None means until it succeeds

    def __str__(self) -> str:
        return f"retry:{self.max_attempts}" if self.max_attempts else self.action.value


_RULE = re.compile(r"(delivered|retry|dead_letter|stop)(?::([1-9][0-9]*))?")


def parse_rule(text: str) -> Rule:
    match = _RULE.fullmatch(text.strip())
    if match is None or (match.group(2) and match.group(1) != "retry"):
        raise ValueError(
            f"bad retry rule {text!r}: expected delivered, retry, retry:N, dead_letter or stop"
        )
    return Rule(Action(match.group(1)), int(match.group(2)) if match.group(2) else None)


# API.md's error table.
DEFAULT_BY_CODE: Mapping[int, str] = {
    1000: "stop",  # unauthorized
    1001: "stop",  # secret key required
    1002: "stop",  # forbidden
    2000: "dead_letter",  # precondition failed
    2001: "retry",  # a request for this customer is in flight: retry shortly
    3000: "dead_letter",  # missing arguments
    3001: "dead_letter",
    3003: "dead_letter",
    3006: "dead_letter",
    3011: "dead_letter",
    3013: "dead_letter",
    3016: "dead_letter",  # invalid payload
    4000: "retry:5",  # generic failure: may pass, may be the record
    4500: "retry:5",
    4004: "dead_letter",  # not found
    5000: "retry",
    5003: "retry",
    6000: "stop",  # Gameball disabled for the account
    7000: "dead_letter",  # customer not found
    9004: "delivered",  # order/transaction id exists: an earlier attempt landed
}
DEFAULT_BY_STATUS: Mapping[int, str] = {
    401: "stop",
    403: "stop",
    408: "retry",
    429: "retry",  # rate limited: wait Retry-After or back off; never dead-lettered
}


class RetryPolicy:
    def __init__(
        self,
        by_code: Mapping[int, str] | None = None,
        by_status: Mapping[int, str] | None = None,
    ) -> None:
        self._by_code = {
            k: parse_rule(v) for k, v in {**DEFAULT_BY_CODE, **(by_code or {})}.items()
        }
        self._by_status = {
            k: parse_rule(v) for k, v in {**DEFAULT_BY_STATUS, **(by_status or {})}.items()
        }

    def rule_for(self, status: int, code: int | None) -> Rule:
        if code is not None and code in self._by_code:
            return self._by_code[code]
        if status in self._by_status:
            return self._by_status[status]
        if 200 <= status < 300:
            return Rule(Action.DELIVERED)
        if status >= 500:
            return Rule(Action.RETRY)
        if 400 <= status < 500:
            return Rule(Action.DEAD_LETTER)
        # 1xx/3xx: base_url points at something that is not Gameball's API (a redirect to a
        # login page, a proxy): configuration, not the record.
        return Rule(Action.STOP)


DEFAULT_POLICY = RetryPolicy()
