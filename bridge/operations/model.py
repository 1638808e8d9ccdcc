"""What one Gameball operation is, as plain data: its call (method, path, path parameters),
its rate-limit bucket, its batch path, its body's fields, whose customer it belongs to, and
what Gameball's answers mean for it. `bridge.operations.table` holds one per operation.

A `Field` says what a body may carry at one place (JSON type, required, enum, bounds,
nested fields, array items); the mapping checks the bodies it builds against it, and the
emulator validates what it receives with it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

Kind = Literal["string", "number", "integer", "boolean", "datetime", "object", "array", "map"]
Method = Literal["POST", "DELETE"]


class Resource(StrEnum):
    """A rate-limit bucket of Gameball's (API.md, "Rate limits"), and the batch resource of
    the operations that have one. The value names the tracking call's path under
    /integrations/ too. Refunds and cancellations count in PAYMENTS: Gameball's row for
    "transactions, coupons, others (payments, batches)"."""

    EVENTS = "events"
    ORDERS = "orders"
    CUSTOMERS = "customers"
    PAYMENTS = "payments"


@dataclass(frozen=True, slots=True)
class Field:
    kind: Kind
    required: bool = False
    enum: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    non_empty: bool = False
    items: Field | None = None  # arrays: the schema of each item
    fields: Mapping[str, Field] | None = None  # objects: the known keys
    values: tuple[Kind, ...] = ()  # maps (free-form objects): allowed value kinds; () is any
    # Identifiers: often numeric in the source, strings to Gameball; the bridge converts.
    integer_ok: bool = False
    # A string that holds a list (Gameball's tags: "vip,gamer"): a list of strings given for
    # it is sent joined with this separator, and no item may contain it.
    joined: str | None = None
    # The bridge sends more than the spec asks for here (ISO 8601 for a plain string): what
    # the bridge promises, while Gameball (and so the emulator) takes any string.
    stricter_than_gameball: bool = False


_PARAMETER = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True, slots=True)
class Description:
    """One Gameball operation.

    `path` is under ``/api/{version}/integrations/`` and names its parameters in braces
    (``customers/{customerId}/tags``): each is a non-empty string, escaped when the request
    is built. `customer` is the body field or path parameter naming the customer the
    operation belongs to: the engine's per-customer order keys on it.
    """

    name: str  # the operation's name: "order", "refund", "delete_customer", ...
    summary: str  # one line, for the docs' table
    method: Method
    path: str
    bucket: Resource  # the rate-limit bucket it counts in
    customer: str = "customerId"
    body: Mapping[str, Field] = field(default_factory=dict)  # empty: no body is sent
    # The mapping output that builds it; None: plugins only. Several operations may share an
    # output, each under its own `part` key of it (customer_tags: add, remove).
    output: str | None = None
    part: str | None = None
    # The batch endpoint that takes it ("batch/events"); None: single calls only.
    batch_path: str | None = None
    # The body field whose reuse Gameball answers "already exists" (9004): the answer then
    # means an earlier attempt landed, and counts as delivered. None: no such key (a retried
    # event may count twice).
    idempotency_key: str | None = None
    # Gameball codes that mean what the operation refers to (a refund's order) is not there
    # yet: it may still be on its way, so they are retried for a time (retry_policy.py,
    # REFERENCE_PENDING) rather than dead-lettered at once.
    pending_codes: frozenset[int] = frozenset()
    # Gameball codes that mean what the operation asks is done already (a customer deleted
    # by an earlier attempt: 7000): delivered, as 9004 is.
    done_codes: frozenset[int] = frozenset()
    # The customer ceases to exist: nothing of theirs consumed before it may be sent after
    # it, and it waits for their earlier operations (bridge/engine/fences.py).
    erases_customer: bool = False
    # Gameball wants the secret key beside the API key (API.md: orders, payments, and every
    # transaction; the bridge sends both keys whenever it has them).
    secret_key: bool = False

    @property
    def params(self) -> tuple[str, ...]:
        """The path's parameters, in order."""
        return tuple(_PARAMETER.findall(self.path))

    @property
    def has_body(self) -> bool:
        return bool(self.body)

    @property
    def batchable(self) -> bool:
        return self.batch_path is not None

    def fields(self) -> dict[str, Field]:
        """What a mapping output sets for it: the path's parameters (non-empty identifiers),
        then the body's fields."""
        return {**dict.fromkeys(self.params, PATH_PARAMETER), **self.body}


# Every path parameter: a non-empty string, which an integer from the record becomes.
PATH_PARAMETER = Field("string", required=True, non_empty=True, integer_ok=True)
