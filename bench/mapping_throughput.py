"""Records/s of decoding plus mapping: compiled rules against hand-written Python.

Two rules, each timed against a hand-written function doing the same transformation (decode
with orjson, check the fields, build the same body) in the same run:

  * path-only: an app event -> a Gameball event (customer id, mapped name, four metadata
    paths, email), the typical rule;
  * expression-heavy: a Segment "Order Completed" -> an order with line items, with JMESPath
    values, number coercions, a UTC timestamp and a condition on two fields.

Each figure is the median of --runs runs of --records records. The aim for path-only rules is
at most 2x the hand-written cost (a ratio of hand-written/rules records/s of 0.5 or more).

    .venv/bin/python bench/mapping_throughput.py [--records 50000] [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson

from bridge.mapping.mapper import Mapper
from bridge.mapping.settings import MappingConfig
from bridge.record import Operation, Resource, SourceRecord

PATH_ONLY = {
    "name": "app",
    "topics": ["app"],
    "rules": [
        {
            "name": "event",
            "outputs": [
                {
                    "event": {
                        "customer_id": "user.id",
                        "name": {"path": "type", "map": {"app_opened": "open_app"}},
                        "metadata": {
                            "product_id": "properties.product_id",
                            "rating": "properties.rating",
                            "plan": "properties.plan",
                            "amount": "properties.amount",
                        },
                        "email": "user.email",
                    }
                }
            ],
        }
    ],
}

EXPRESSIONS = {
    "name": "shop",
    "topics": ["shop"],
    "rules": [
        {
            "name": "order",
            "match": {
                "when": [
                    {"path": "type", "equals": "track"},
                    {"path": "event", "equals": "Order Completed"},
                ]
            },
            "outputs": [
                {
                    "order": {
                        "customer_id": "userId",
                        "order_id": {"path": "properties.order_id", "type": "string"},
                        "order_date": "timestamp",
                        "total_paid": {
                            "expr": "properties.total || properties.revenue",
                            "type": "number",
                        },
                        "total_discount": {"expr": "sum(properties.products[*].discount)"},
                        "line_items": {
                            "each": "properties.products",
                            "fields": {
                                "product_id": {"path": "product_id", "type": "string"},
                                "price": {"path": "price", "type": "number"},
                                "quantity": "quantity",
                                "category": {"expr": "category && [category]"},
                            },
                        },
                    }
                }
            ],
        }
    ],
}


def app_record(i: int) -> bytes:
    return orjson.dumps(
        {
            "type": "write_review" if i % 3 else "app_opened",
            "user": {"id": f"cust_{i % 500}", "email": "a@example.com"},
            "properties": {"product_id": f"P-{i}", "rating": 5, "plan": "pro"},
        }
    )


def order_record(i: int) -> bytes:
    products = [
        {"product_id": j, "price": "19.5", "quantity": 2, "category": "Lighting", "discount": 1}
        for j in range(3)
    ]
    return orjson.dumps(
        {
            "type": "track",
            "event": "Order Completed",
            "userId": f"u_{i % 500}",
            "timestamp": "2024-10-16T10:13:29.290+02:00",
            "properties": {"order_id": i, "total": "57.5", "products": products},
        }
    )


_NAMES = {"app_opened": "open_app"}


def hand_written_event(value: bytes) -> Operation:
    doc = orjson.loads(value)
    if not isinstance(doc, dict):
        raise ValueError("not an object")
    user = doc.get("user")
    customer_id = user.get("id") if isinstance(user, dict) else None
    if isinstance(customer_id, int) and not isinstance(customer_id, bool):
        customer_id = str(customer_id)
    if not isinstance(customer_id, str) or not customer_id:
        raise ValueError("customer id")
    name = doc.get("type")
    if not isinstance(name, str) or not name:
        raise ValueError("name")
    name = _NAMES.get(name, name)
    props = doc.get("properties")
    metadata = {}
    if isinstance(props, dict):
        for key in ("product_id", "rating", "plan", "amount"):
            found = props.get(key)
            if found is not None:
                metadata[key] = found
    body: dict[str, Any] = {"customerId": customer_id, "events": {name: metadata}}
    email = user.get("email") if isinstance(user, dict) else None
    if email is not None:
        if not isinstance(email, str):
            raise ValueError("email")
        body["email"] = email
    return Operation(Resource.EVENTS, customer_id, body)


def hand_written_order(value: bytes) -> Operation:
    doc = orjson.loads(value)
    if doc.get("type") != "track" or doc.get("event") != "Order Completed":
        raise ValueError("no match")
    props = doc["properties"]
    customer_id = doc["userId"]
    if not isinstance(customer_id, str) or not customer_id:
        raise ValueError("customer id")
    moment = datetime.fromisoformat(doc["timestamp"]).astimezone(UTC)
    order_date = moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    total = props.get("total") or props.get("revenue")
    items = []
    for product in props["products"]:
        item: dict[str, Any] = {
            "productId": str(product["product_id"]),
            "price": float(product["price"]),
            "quantity": product["quantity"],
        }
        if product.get("category"):
            item["category"] = [product["category"]]
        items.append(item)
    body = {
        "customerId": customer_id,
        "orderId": str(props["order_id"]),
        "orderDate": order_date,
        "totalPaid": float(total),
        "totalDiscount": sum(p["discount"] for p in props["products"]),
        "lineItems": items,
    }
    return Operation(Resource.ORDERS, customer_id, body)


def rate(function: Callable[[Any], Any], inputs: list[Any]) -> float:
    started = time.perf_counter()
    for item in inputs:
        function(item)
    return len(inputs) / (time.perf_counter() - started)


def compare(
    label: str,
    mapping: dict[str, Any],
    topic: str,
    make: Callable[[int], bytes],
    hand: Callable[[bytes], Operation],
    records: int,
    runs: int,
) -> None:
    mapper = Mapper([MappingConfig.model_validate(mapping)], max_record_bytes=1_000_000)
    values = [make(i) for i in range(records)]
    sources = [SourceRecord(topic, 0, i, v) for i, v in enumerate(values)]
    # Same output for every record, or the comparison means nothing.
    for source in sources:
        assert mapper.map(source) == [hand(source.value or b"")], (label, source.offset)
    rules, hands = [], []
    for _ in range(runs):
        rules.append(rate(mapper.map, sources))
        hands.append(rate(hand, values))
    r, h = statistics.median(rules), statistics.median(hands)
    print(
        f"{label:17} rules {r:>9,.0f} records/s   hand-written {h:>9,.0f} records/s   "
        f"rules cost {h / r:.2f}x hand-written"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    compare("path-only", PATH_ONLY, "app", app_record, hand_written_event, args.records, args.runs)
    compare(
        "expression-heavy",
        EXPRESSIONS,
        "shop",
        order_record,
        hand_written_order,
        args.records,
        args.runs,
    )


if __name__ == "__main__":
    main()
