"""What the emulator saw: accepted requests, counters and the per-customer bookkeeping."""

from __future__ import annotations

import bisect
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

from .endpoints import NAMES
from .ledger import Ledger

# What requests are counted and recorded under: a tracking call's resource ("orders"), or
# another operation's name ("refund"): endpoints.py.
RESOURCES = NAMES

# Accepted requests are kept as tuples and turned into dataclasses only when read, to keep
# the hot path cheap: (seq, resource, path, api_version, customer_id, body, received_at,
# via_batch).
_Row = tuple[int, str, str, str, str, dict[str, Any], float, int | None]


@dataclass(frozen=True, slots=True)
class ReceivedRequest:
    seq: int  # 1, 2, 3, ... in order of acceptance, across all resources
    resource: str  # "events", "orders", ...: the endpoint's name (endpoints.py)
    path: str
    api_version: str  # "v4.0" | "v4.1"
    customer_id: str
    body: dict[str, Any]
    received_at: float  # time.time() when accepted
    # The jobId of the batch that applied it (`path` is then the batch's); None: a single call.
    via_batch: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "resource": self.resource,
            "path": self.path,
            "apiVersion": self.api_version,
            "customerId": self.customer_id,
            "body": self.body,
            "receivedAt": self.received_at,
            "viaBatch": self.via_batch,
        }


class Recorder:
    """Not thread-safe by itself; the router calls it under its lock."""

    def __init__(self, record_bodies: bool = True, order_key: str | None = None) -> None:
        self.record_bodies = record_bodies
        self.order_key = order_key
        self.reset()

    def reset(self) -> None:
        self._rows: list[_Row] = []
        self._seq = 0
        self.requests: Counter[str] = Counter()
        self.accepted: Counter[str] = Counter()
        self.statuses: Counter[int] = Counter()
        self.total_requests = 0
        self.overlap_violations = 0
        self.out_of_order_violations = 0
        self.out_of_order_customers: set[str] = set()
        self.rate_limited = 0
        self.duplicates = 0
        self.dropped = 0
        self.events_tracked = 0
        # customerId -> token of the request holding it; the token lets a request that
        # finishes after a reset leave a newer holder alone.
        self._in_flight: dict[str, int] = {}
        self._tokens = 0
        # Per endpoint, the ids of its idempotency key accepted so far (orderId, paymentId).
        self._transaction_ids: defaultdict[str, set[str]] = defaultdict(set)
        self._last_order_value: dict[str, float] = {}
        self._gameball_ids: dict[str, int] = {}
        # Balances, refunds, tags, erasures (ledger.py).
        self.ledger = Ledger()

    # bookkeeping used while deciding an answer --------------------------------------------

    def is_in_flight(self, customer_id: str) -> bool:
        return customer_id in self._in_flight

    def hold(self, customer_id: str) -> int:
        self._tokens += 1
        self._in_flight[customer_id] = self._tokens
        return self._tokens

    def release(self, customer_id: str, token: int) -> None:
        if self._in_flight.get(customer_id) == token:
            del self._in_flight[customer_id]

    def seen_transaction(self, resource: str, transaction_id: str) -> bool:
        return transaction_id in self._transaction_ids[resource]

    def forget_customer(self, customer_id: str) -> None:
        """An erasure: the customer's Gameball id goes (a later upsert makes a new one)."""
        self._gameball_ids.pop(customer_id, None)

    def claim_transaction(self, resource: str, transaction_id: str) -> bool:
        """Reserve an idempotency key's value (an orderId, a paymentId); False when it was
        accepted before."""
        seen = self._transaction_ids[resource]
        if transaction_id in seen:
            return False
        seen.add(transaction_id)
        return True

    def gameball_id(self, customer_id: str) -> int:
        found = self._gameball_ids.get(customer_id)
        if found is None:
            found = self._gameball_ids[customer_id] = 100_000 + len(self._gameball_ids) + 1
        return found

    def check_order(self, resource: str, customer_id: str, body: dict[str, Any]) -> None:
        """Count a violation when the body's order key goes backwards for its customer.

        The key is looked up at the top level of the body, else (events) in each event's
        metadata; non-numeric values are ignored.
        """
        key = self.order_key
        if key is None:
            return
        values: list[object] = []
        if key in body:
            values.append(body[key])
        elif resource == "events":
            events = body["events"]
            values.extend(meta[key] for meta in events.values() if key in meta)
        last = self._last_order_value.get(customer_id)
        for value in values:
            if isinstance(value, bool) or not isinstance(value, int | float):
                continue
            if last is not None and value < last:
                self.out_of_order_violations += 1
                self.out_of_order_customers.add(customer_id)
            else:
                last = value
        if last is not None:
            self._last_order_value[customer_id] = last

    def accept(
        self,
        resource: str,
        path: str,
        version: str,
        customer_id: str,
        body: dict[str, Any],
        via_batch: int | None = None,
    ) -> None:
        self._seq += 1
        self.accepted[resource] += 1
        if resource == "events":
            self.events_tracked += len(body["events"])
        if self.record_bodies:
            row = (self._seq, resource, path, version, customer_id, body, time.time(), via_batch)
            self._rows.append(row)

    # reading ------------------------------------------------------------------------------

    def accepted_count(self, resource: str | None = None) -> int:
        return self._seq if resource is None else self.accepted[resource]

    def received(self, resource: str | None = None, since: int = 0) -> list[ReceivedRequest]:
        rows = self._rows
        if since:
            rows = rows[bisect.bisect_right(rows, since, key=lambda row: row[0]) :]
        return [ReceivedRequest(*row) for row in rows if resource is None or row[1] == resource]

    def stats(self) -> dict[str, Any]:
        return {
            "total_requests": self.total_requests,
            "accepted": self._seq,
            "by_resource": {
                r: {"requests": self.requests[r], "accepted": self.accepted[r]} for r in RESOURCES
            },
            "by_status": dict(sorted(self.statuses.items())),
            "overlap_violations": self.overlap_violations,
            "out_of_order_violations": self.out_of_order_violations,
            "out_of_order_customers": len(self.out_of_order_customers),
            "rate_limited": self.rate_limited,
            "duplicates": self.duplicates,
            "dropped": self.dropped,
            "events_tracked": self.events_tracked,
            "in_flight": len(self._in_flight),
            **self.ledger.stats(),
        }
