"""Conditions (table-driven), rule matching, modes, unmatched records, several outputs."""

from __future__ import annotations

from typing import Any

import pytest

from bridge.errors import MappingError
from bridge.record import Resource

from .helpers import record, rules_mapper

EVENT = {"event": {"customer_id": "u", "name": {"const": "hit"}}}
DOC = {"u": "c1", "type": "track", "n": 5, "f": 2.5, "flag": True, "nil": None, "tags": ["a"]}


def matches(when: Any, doc: dict[str, Any] | None = None, **match: Any) -> bool:
    m = rules_mapper({"match": {"when": when, **match}, "outputs": [EVENT]})
    return bool(m.map(record(DOC if doc is None else doc, headers=(("kind", b"order"),))))


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ({"path": "type", "equals": "track"}, True),
        ({"path": "type", "equals": "page"}, False),
        ({"path": "n", "equals": 5}, True),
        ({"path": "n", "equals": 5.0}, True),
        ({"path": "flag", "equals": 1}, False),  # JSON: true is not 1
        ({"path": "flag", "equals": True}, True),
        ({"path": "nil", "equals": None}, False),  # null is "not there"
        ({"path": "tags", "equals": ["a"]}, True),
        ({"path": "absent", "equals": "x"}, False),
        ({"path": "type", "in": ["identify", "track"]}, True),
        ({"path": "type", "in": ["identify"]}, False),
        ({"path": "n", "in": [1, 5]}, True),
        ({"path": "n", "in": ["5"]}, False),
        ({"path": "type", "exists": True}, True),
        ({"path": "nil", "exists": True}, False),
        ({"path": "absent", "exists": False}, True),
        ({"path": "type", "regex": "^tr"}, True),
        ({"path": "type", "regex": "^x"}, False),
        ({"path": "n", "regex": "5"}, False),  # regex tests strings only
        ({"path": "n", "gt": 4}, True),
        ({"path": "n", "gt": 5}, False),
        ({"path": "n", "ge": 5}, True),
        ({"path": "f", "lt": 3}, True),
        ({"path": "f", "le": 2.4}, False),
        ({"path": "type", "gt": 0}, False),  # not a number: no match, no error
        ({"path": "flag", "gt": 0}, False),
        ({"path": "n", "gt": 1, "lt": 10}, True),
        ({"path": "n", "gt": 1, "lt": 3}, False),
        ({"expr": "length(tags)", "equals": 1}, True),
        ({"header": "kind", "equals": "order"}, True),
        ({"kafka": "topic", "equals": "t"}, True),
        ({"all": [{"path": "n", "gt": 1}, {"path": "type", "equals": "track"}]}, True),
        ({"all": [{"path": "n", "gt": 1}, {"path": "type", "equals": "page"}]}, False),
        ([{"path": "n", "gt": 1}, {"path": "type", "equals": "track"}], True),
        ({"any": [{"path": "n", "gt": 10}, {"path": "type", "equals": "track"}]}, True),
        ({"any": [{"path": "n", "gt": 10}, {"path": "type", "equals": "page"}]}, False),
        ({"not": {"path": "type", "equals": "page"}}, True),
        ({"not": {"any": [{"path": "absent", "exists": False}]}}, False),
    ],
)
def test_conditions(when: Any, expected: bool) -> None:
    assert matches(when) is expected


@pytest.mark.parametrize(
    ("match", "expected"),
    [
        ({"headers": {"kind": "order"}}, True),
        ({"headers": {"kind": ["x", "order"]}}, True),
        ({"headers": {"kind": "refund"}}, False),
        ({"headers": {"absent": "x"}}, False),
        ({"topics": ["t"]}, True),
        ({"topics": ["^t$"]}, True),
        ({"topics": ["other"]}, False),
    ],
)
def test_topic_and_header_matches(match: dict[str, Any], expected: bool) -> None:
    m = rules_mapper({"match": match, "outputs": [EVENT]})
    assert bool(m.map(record(DOC, headers=(("kind", b"order"),)))) is expected


def named(name: str, when: Any = None) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "name": name,
        "outputs": [{"event": {"customer_id": "u", "name": {"const": name}}}],
    }
    if when is not None:
        rule["match"] = {"when": when}
    return rule


def names(ops: list[Any]) -> list[str]:
    return [next(iter(op.body["events"])) for op in ops]


def test_first_matching_rule_wins_by_default() -> None:
    m = rules_mapper(named("a", {"path": "n", "gt": 1}), named("b"))
    assert names(m.map(record(DOC))) == ["a"]
    assert names(m.map(record({**DOC, "n": 0}))) == ["b"]


def test_mode_all_applies_every_matching_rule_in_order() -> None:
    m = rules_mapper(
        named("a"), named("b", {"path": "absent", "exists": True}), named("c"), mode="all"
    )
    assert names(m.map(record(DOC))) == ["a", "c"]


def test_unmatched_records_are_skipped_or_errors() -> None:
    rule = named("a", {"path": "type", "equals": "identify"})
    assert rules_mapper(rule).map(record(DOC)) == []
    with pytest.raises(MappingError) as info:
        rules_mapper(rule, unmatched="error").map(record(DOC))
    assert info.value.kind == "no_matching_rule"
    assert "mapping 'm'" in info.value.message


def test_several_outputs_in_the_order_the_rule_lists_them() -> None:
    rule = {
        "outputs": [
            {
                "order": {
                    "customer_id": "u",
                    "order_id": {"const": "o1"},
                    "order_date": {"const": 0},
                    "total_paid": "f",
                }
            },
            {
                "customer": {
                    "customer_id": "u",
                    "customer_attributes": {"last_order_date": {"const": 0}},
                }
            },
            EVENT,
        ]
    }
    ops = rules_mapper(rule).map(record(DOC))
    assert [op.resource for op in ops] == [Resource.ORDERS, Resource.CUSTOMERS, Resource.EVENTS]
    assert ops[0].body == {
        "customerId": "c1",
        "orderId": "o1",
        "orderDate": "1970-01-01T00:00:00.000Z",
        "totalPaid": 2.5,
    }
    assert ops[1].body["customerAttributes"] == {"lastOrderDate": "1970-01-01T00:00:00.000Z"}


def test_errors_name_the_rule() -> None:
    m = rules_mapper(
        {"name": "orders", "outputs": [{"event": {"customer_id": "absent", "name": "type"}}]}
    )
    with pytest.raises(
        MappingError,
        match=r"mapping 'm': rule 'orders': event.customer_id \(path absent\) is missing",
    ):
        m.map(record(DOC))
    m = rules_mapper({"outputs": [{"event": {"customer_id": "absent", "name": "type"}}]})
    with pytest.raises(MappingError, match="rule #0: "):
        m.map(record(DOC))


ORDER = {"customer_id": "u", "order_id": "id", "order_date": "at", "total_paid": "paid"}


@pytest.mark.parametrize(
    ("fields", "doc", "kind", "says"),
    [
        (
            {},
            {"u": "c", "id": 1, "at": 0},
            "missing_field",
            "order.total_paid (path paid) is missing",
        ),
        (
            {},
            {"u": "c", "id": 1, "at": 0, "paid": "9"},
            "wrong_type",
            "expected a number, got string '9'",
        ),
        ({}, {"u": "c", "id": 1, "at": "yesterday", "paid": 9}, "wrong_type", "order.order_date"),
        ({}, {"u": "c", "id": 1.5, "at": 0, "paid": 9}, "wrong_type", "order.order_id"),
        (
            {"channel": "ch"},
            {"u": "c", "id": 1, "at": 0, "paid": 9, "ch": "fax"},
            "invalid_operation",
            "expected one of mobile, pos, web, callcenter",
        ),
        (
            {"cashback_configurations": {"return_window": "w"}},
            {"u": "c", "id": 1, "at": 0, "paid": 9, "w": 9000},
            "invalid_operation",
            "at most 7300",
        ),
        (
            {"line_items": {"each": "items", "fields": {"price": "p"}}},
            {"u": "c", "id": 1, "at": 0, "paid": 9, "items": [{"p": 1}, {"p": "x"}]},
            "wrong_type",
            "item 1: order.line_items.fields.price",
        ),
        (
            {"line_items": {"each": "items", "fields": {"price": "p"}}},
            {"u": "c", "id": 1, "at": 0, "paid": 9, "items": {"p": 1}},
            "wrong_type",
            "expected an array",
        ),
        (
            {"extra": {"k": "obj"}},
            {"u": "c", "id": 1, "at": 0, "paid": 9, "obj": {"a": 1}},
            "wrong_type",
            "extra.k",
        ),
        (
            {"line_items": "items"},
            {"u": "c", "id": 1, "at": 0, "paid": 9, "items": [{"quantity": "2"}]},
            "invalid_operation",
            "order.line_items[0].quantity: expected a number, got string '2' (in the",
        ),
    ],
)
def test_orders_are_checked_field_by_field(
    fields: dict[str, Any], doc: dict[str, Any], kind: str, says: str
) -> None:
    m = rules_mapper({"outputs": [{"order": {**ORDER, **fields}}]})
    with pytest.raises(MappingError) as info:
        m.map(record(doc))
    assert info.value.kind == kind
    assert says in info.value.message


def test_payment_with_details_and_merchant() -> None:
    rule = {
        "outputs": [
            {
                "payment": {
                    "customer_id": "u",
                    "payment_id": "id",
                    "payment_date": {"path": "at", "type": "timestamp", "unit": "milliseconds"},
                    "total_paid": "paid",
                    "channel": {"const": "pos"},
                    "merchant": {"unique_id": "shop", "branch": {"unique_id": {"const": "b1"}}},
                    "payment_details": {
                        "each": "lines",
                        "fields": {"service_id": "s", "amount": "a"},
                    },
                    "extra_from": {"path": "meta"},
                }
            }
        ]
    }
    doc = {
        "u": 5,
        "id": "P1",
        "at": 1000,
        "paid": 3,
        "shop": 9,
        "lines": [{"s": "x", "a": 3}],
        "meta": {"k": "v"},
    }
    [op] = rules_mapper(rule).map(record(doc))
    assert op.resource is Resource.PAYMENTS
    assert op.customer_id == "5"
    assert op.body == {
        "customerId": "5",
        "paymentId": "P1",
        "paymentDate": "1970-01-01T00:00:01.000Z",
        "totalPaid": 3,
        "channel": "pos",
        "merchant": {"uniqueId": "9", "branch": {"uniqueId": "b1"}},
        "paymentDetails": [{"serviceId": "x", "amount": 3}],
        "extra": {"k": "v"},
    }
