"""The retry table: what to do with each Gameball answer, by error code or HTTP status.

The defaults are API.md's table. Operators override single rows in the config
(`delivery.retry.by_code` / `by_status`), e.g. ``{4004: "retry:3"}`` or ``{404: "dead_letter"}``.
A rule is one of:

    delivered    the operation counts as done (9004: an earlier attempt landed)
    retry        retry with backoff until it succeeds; never dead-lettered
    retry:N      retry, and dead-letter at the Nth answer of this code (or status)
    retry_for:S  retry for S seconds from the first answer of this code, then dead-letter
    dead_letter  dead-letter the record at once
    stop         stop all sending and keep the record (credentials, account disabled)

An operation's description (`bridge.operations`) may say that, for it, other codes mean
what two rows say in general: its `done_codes` what 9004 means (done already: a customer
deleted by an earlier attempt answers 7000), its `pending_codes` what 9005 means (a refund's
order not there yet: retried for ten minutes, `retry_for:600`, since the order may still be
on its way on another topic or partition). Those codes are read as 9004 and 9005 before the
rows are looked up, so the rows of 9004 and 9005, the operator's included, decide for them:
`by_code: {9005: "retry_for:3600"}` waits an hour for a refund's order.

Which row applies (`RetryPolicy.rule_for`), first match wins:

    1. the operator's `by_code` row for the Gameball code
    2. the operator's `by_status` row for the status
    3. the statuses whose meaning API.md fixes whatever the body says (`AUTHORITATIVE_STATUS`,
       and every 2xx delivered, every 5xx retry)
    4. the default code table (`DEFAULT_BY_CODE`)
    5. the status class: a 404 or 405 without a Gameball code stop (no such endpoint: the
       base_url is wrong), other 4xx dead_letter, anything else (1xx, 3xx) stop

Why in this order: the default code table describes codes as Gameball sends them, each with
its documented status (4000 with a 400, 3011 with a 422). When a code arrives with a status
that already decides the outcome (a 429 carrying 3011 or 4000, a 503 carrying 4004, a 401
carrying 3000), the status is the truer signal: a rate limit or an outage says nothing about
the record, and dead-lettering on its code would lose good records (API.md: a 429 is never
dead-lettered). The operator's rows come first because they are deliberate: any operator row
beats every default row, so `by_status: {404: retry}` applies to a 404 carrying 4004 too, and
`by_code: {5000: "retry:3"}` to the 500 it comes with. Between the two, the code is the more
specific: `by_code: {7000: "retry:3"}` with `by_status: {404: retry}` retries a 7000 three
times and other 404s forever. A `by_code` row so applies whatever the status it arrives with,
a 429 included; to pin down what a status means, give it a `by_status` row and no code rows.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from bridge.operations import Description


class Action(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"
    DEAD_LETTER = "dead_letter"
    STOP = "stop"


@dataclass(frozen=True, slots=True)
class Rule:
    action: Action
    max_attempts: int | None = None  # only for RETRY; None means until it succeeds
    # Only for RETRY: seconds from the first such answer after which it is dead-lettered.
    max_seconds: float | None = None

    def __str__(self) -> str:
        if self.max_seconds is not None:
            return f"retry_for:{self.max_seconds:g}"
        return f"retry:{self.max_attempts}" if self.max_attempts else self.action.value


_RULE = re.compile(r"(delivered|retry|retry_for|dead_letter|stop)(?::([1-9][0-9]*))?")
# A day: the longest a record may wait for something else to arrive first.
MAX_RETRY_FOR = 86_400


def parse_rule(text: str) -> Rule:
    match = _RULE.fullmatch(text.strip())
    action, number = (match.group(1), match.group(2)) if match is not None else ("", None)
    if (
        match is None
        or (number is not None and action not in ("retry", "retry_for"))
        or (action == "retry_for" and (number is None or int(number) > MAX_RETRY_FOR))
    ):
        raise ValueError(
            f"bad retry rule {text!r}: expected delivered, retry, retry:N, retry_for:SECONDS "
            f"(at most {MAX_RETRY_FOR}), dead_letter or stop"
        )
    if action == "retry_for":
        return Rule(Action.RETRY, max_seconds=float(int(number or 0)))
    return Rule(Action(action), int(number) if number else None)


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
    # Reversed transaction not found: a refund or cancellation whose order Gameball does not
    # know yet. The order may still be on its way (another topic or partition, a backlog):
    # retried for ten minutes before the record is dead-lettered.
    9005: "retry_for:600",
}
# The rows an operation's `done_codes` and `pending_codes` are read as (the docstring).
ALREADY_DONE = 9004
REFERENCE_PENDING = 9005
# Statuses decided before any code in the body (with every 2xx and 5xx): API.md's rows whose
# outcome is fixed by the status. 401/403 are the keys (1000/1001/1002), whatever code a proxy
# or Gameball puts beside them; 408 is a timeout and 429 a rate limit, neither about the record
# and never dead-lettered.
AUTHORITATIVE_STATUS: Mapping[int, str] = {
    401: "stop",
    403: "stop",
    408: "retry",
    429: "retry",  # rate limited: wait Retry-After or back off; never dead-lettered
}
# A 404/405 with no Gameball code in the body is not Gameball's answer about a record (that
# carries 4004 or 7000) but a web server's or a proxy's about the path: base_url points at the
# wrong place. Dead-lettering would throw away every record; stopping holds them, and the
# access gate's probe finds out when the path answers again.
NO_SUCH_ENDPOINT = frozenset({404, 405})

_DELIVERED = Rule(Action.DELIVERED)
_RETRY = Rule(Action.RETRY)
_DEAD_LETTER = Rule(Action.DEAD_LETTER)
_STOP = Rule(Action.STOP)


class RetryPolicy:
    def __init__(
        self,
        by_code: Mapping[int, str] | None = None,
        by_status: Mapping[int, str] | None = None,
    ) -> None:
        self._user_by_code = {k: parse_rule(v) for k, v in (by_code or {}).items()}
        self._user_by_status = {k: parse_rule(v) for k, v in (by_status or {}).items()}
        self._by_code = {k: parse_rule(v) for k, v in DEFAULT_BY_CODE.items()}
        self._authoritative = {k: parse_rule(v) for k, v in AUTHORITATIVE_STATUS.items()}

    def rule_for(
        self, status: int, code: int | None, description: Description | None = None
    ) -> Rule:
        """The row for an answer (to an operation of `description`, when given); the order is
        the module docstring's, and why."""
        if code is not None and description is not None:
            if code in description.done_codes:
                code = ALREADY_DONE
            elif code in description.pending_codes:
                code = REFERENCE_PENDING
        if code is not None and code in self._user_by_code:
            return self._user_by_code[code]
        if status in self._user_by_status:
            return self._user_by_status[status]
        if status in self._authoritative:
            return self._authoritative[status]
        if 200 <= status < 300:
            return _DELIVERED
        if status >= 500:
            return _RETRY
        if code is not None and code in self._by_code:
            return self._by_code[code]
        if code is None and status in NO_SUCH_ENDPOINT:
            return _STOP
        if 400 <= status < 500:
            return _DEAD_LETTER
        # 1xx/3xx: base_url points at something that is not Gameball's API (a redirect to a
        # login page, a proxy): configuration, not the record.
        return _STOP


DEFAULT_POLICY = RetryPolicy()
