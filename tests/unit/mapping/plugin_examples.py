"""Plugins the tests load by name (`tests.unit.mapping.plugin_examples:...`)."""

from __future__ import annotations

from typing import Any

from bridge.mapping.context import RecordContext
from bridge.record import Operation, Resource


def split_cart(value: Any, context: RecordContext) -> list[Any]:
    """One event per cart item, plus an Operation built directly."""
    ops: list[Any] = [
        {"resource": "events", "body": {"customerId": value["u"], "events": {"add": {"sku": s}}}}
        for s in value["skus"]
    ]
    body = {"customerId": value["u"], "events": {"from_topic": {"topic": context.topic}}}
    ops.append(Operation(Resource.EVENTS, value["u"], body))
    return ops


def raises(value: Any, context: RecordContext) -> list[Any]:
    raise KeyError("sku")


def returns_garbage(value: Any, context: RecordContext) -> Any:
    return [42]


def returns_invalid_order(value: Any, context: RecordContext) -> Any:
    return [{"resource": "orders", "body": {"customerId": "c", "orderId": "o", "totalPaid": 1}}]


def one_argument(value: Any) -> Any:
    return []


NOT_CALLABLE = 3


def erase(value: Any, context: RecordContext) -> Any:
    """An erasure, by the operation's name, its customer in the path."""
    return [{"operation": "delete_customer", "body": {}, "params": {"customerId": value["user"]}}]


def erase_without_params(value: Any, context: RecordContext) -> Any:
    return [{"operation": "delete_customer", "body": {}}]
