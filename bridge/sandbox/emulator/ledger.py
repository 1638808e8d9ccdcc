"""What the emulator's customers have: points from their orders and payments, what refunds and
cancellations took back, their tags; and what an erasure forgets.

    orders, payments ──> a reward of totalPaid points (1 point per unit, whole points)
    refund           ──> its order's points back: refundAmount's worth, or what is left
                         (no amount: a full refund, which cancels the order)
    customer_tags    ──> add / remove tags
    delete_customer  ──> the customer, their orders and tags forgotten

Refusals, as Gameball answers them (its error page): a refund of an order it does not know,
404 with 9005 ("reversed transaction not found"); of an order already cancelled, 422 with 9001;
an erasure of a customer it does not know, 404 with 7000. A reused refundTransactionId is
the admission's 9004, checked before these (the retry of a refund that landed).
Not thread-safe by itself; the router calls it under its lock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .validation import Problem


@dataclass(slots=True)
class _Order:
    customer_id: str
    points: int  # rewarded
    taken_back: int = 0
    cancelled: bool = False


@dataclass(slots=True)
class CustomerState:
    balance: int = 0
    tags: set[str] = field(default_factory=set)

    def as_json(self) -> dict[str, Any]:
        return {"balance": self.balance, "tags": sorted(self.tags)}


def _tags(text: str) -> list[str]:
    return [tag.strip() for tag in text.split(",") if tag.strip()]


class Ledger:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._customers: dict[str, CustomerState] = {}
        self._orders: dict[str, _Order] = {}
        self._refunds: dict[str, int] = {}  # refundTransactionId -> points taken back
        self.erased = 0

    def customer(self, customer_id: str) -> CustomerState | None:
        return self._customers.get(customer_id)

    def refuses(self, resource: str, customer_id: str, body: dict[str, Any]) -> Problem | None:
        """Why Gameball would refuse a valid request for what it knows, or None."""
        if resource == "refund":
            order = self._orders.get(body["reverseTransactionId"])
            if order is None or order.customer_id != customer_id:
                return Problem(404, 9005, "Reversed transaction not found")
            if order.cancelled:
                return Problem(422, 9001, "Transaction already cancelled")
        if resource == "delete_customer" and customer_id not in self._customers:
            return Problem(404, 7000, "Customer not found")
        return None

    def apply(self, resource: str, customer_id: str, body: dict[str, Any]) -> None:
        """An accepted request's effect."""
        if resource == "delete_customer":
            self._customers.pop(customer_id, None)
            for order_id in [k for k, o in self._orders.items() if o.customer_id == customer_id]:
                del self._orders[order_id]
            self.erased += 1
            return
        state = self._customers.setdefault(customer_id, CustomerState())
        if resource in ("orders", "payments"):
            points = reward(body)
            state.balance += points
            if resource == "orders":
                self._orders[body["orderId"]] = _Order(customer_id, points)
        elif resource == "refund":
            order = self._orders[body["reverseTransactionId"]]
            left = order.points - order.taken_back
            amount = body.get("refundAmount")
            points = left if amount is None else min(left, max(int(amount), 0))
            order.taken_back += points
            order.cancelled = amount is None
            state.balance -= points
            self._refunds[body["refundTransactionId"]] = points
        elif resource == "add_customer_tags":
            state.tags.update(_tags(body["tags"]))
        elif resource == "remove_customer_tags":
            state.tags.difference_update(_tags(body["tags"]))

    def refunded_points(self, refund_id: str) -> int:
        return self._refunds.get(refund_id, 0)

    def stats(self) -> dict[str, Any]:
        return {
            "customers_known": len(self._customers),
            "customers_erased": self.erased,
            "refunds": len(self._refunds),
        }


def reward(body: dict[str, Any]) -> int:
    """An order's or a payment's points: one per whole unit paid."""
    paid = body["totalPaid"]
    return int(paid) if paid > 0 else 0
