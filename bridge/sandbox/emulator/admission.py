"""What a parsed body meets once the request got past faults, authentication and rate limits:
validation, the per-customer lock (2001), duplicate transaction ids (9004), what the ledger
knows (a refund's order, a customer to erase: ledger.py); then it is accepted, recorded, and
applied to the ledger. The same for a single call and for each item of a batch, so that a
batch applies exactly what the single calls would have.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .endpoints import BY_NAME, ENDPOINTS
from .replies import default_message
from .state import Recorder
from .validation import Problem, validate

# Per endpoint, the body field whose reuse is answered 9004 (the operation table's).
_TRANSACTION_KEYS = {
    e.name: e.description.idempotency_key
    for e in ENDPOINTS
    if e.description.idempotency_key is not None
}


def admit(
    recorder: Recorder,
    resource: str,
    path: str,
    version: str,
    body: dict[str, Any],
    *,
    params: Mapping[str, str] | None = None,
    overlapping: bool = False,
    via_batch: int | None = None,
) -> Problem | None:
    """Accept `body` and return None, or return why Gameball would refuse it.

    `resource` names the endpoint (endpoints.py); `params` are its path's parameters (the
    customer of ``customers/{customerId}/tags`` is one). `overlapping`: the customer is known
    to be busy elsewhere (a batch item whose customer was in another unfinished job, or a
    single call whose customer has an item in an unfinished job), which is a 2001 like a
    single call in flight.
    """
    problem = validate(resource, body)
    if problem is not None:
        return problem
    customer_id = customer_of(resource, body, params)
    if overlapping or recorder.is_in_flight(customer_id):
        recorder.overlap_violations += 1
        return Problem(422, 2001, default_message(2001))
    key = _TRANSACTION_KEYS.get(resource)
    # A reused id first: the retry of a refund that landed is 9004, though its order is
    # cancelled by now. Claimed only once the rest passed: a refund refused because its
    # order is not there yet may come again with the same id.
    if key is not None and recorder.seen_transaction(resource, body[key]):
        recorder.duplicates += 1
        return Problem(422, 9004, f"{key} {body[key]!r} already exists")
    problem = recorder.ledger.refuses(resource, customer_id, body)
    if problem is not None:
        return problem
    if key is not None:
        recorder.claim_transaction(resource, body[key])
    recorder.check_order(resource, customer_id, body)
    recorder.accept(resource, path, version, customer_id, body, via_batch)
    recorder.ledger.apply(resource, customer_id, body)
    if resource == "delete_customer":
        recorder.forget_customer(customer_id)
    return None


def customer_of(resource: str, body: dict[str, Any], params: Mapping[str, str] | None) -> str:
    """The customer a (validated) request belongs to: its path's or its body's."""
    field = BY_NAME[resource].description.customer
    if params and field in params:
        return params[field]
    customer: str = body[field]
    return customer
