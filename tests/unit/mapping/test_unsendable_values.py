"""Bodies the mapper hands on must be sendable: orjson encodes integers only up to 64 bits and
nesting only to 254 levels, and writes NaN and infinities as null. Whatever cannot be sent is
a MappingError naming the field, not an exception from the client or the mapper."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from bridge.errors import MappingError
from bridge.mapping.request_schema import check_body
from bridge.record import Resource

from .helpers import record, rules_mapper

MAX_NESTING = 200  # request_schema.MAX_NESTING: how deep a value copied from a record may nest

ORDER = {
    "customer_id": "u",
    "order_id": "o",
    "order_date": {"const": "2024-01-01T00:00:00Z"},
    "total_paid": "p",
}


def nested(depth: int) -> bytes:
    """JSON text of `depth` objects one inside the other."""
    return b'{"a":' * (depth - 1) + b'{"a":1' + b"}" * depth


def map_error(rule: dict[str, Any], raw: bytes) -> MappingError:
    with pytest.raises(MappingError) as caught:
        rules_mapper(rule).map(record(raw))
    return caught.value


def sent(rule: dict[str, Any], raw: bytes) -> dict[str, Any]:
    """The one operation's body, after checking orjson encodes it faithfully."""
    (operation,) = rules_mapper(rule).map(record(raw))
    assert orjson.loads(orjson.dumps(operation.body)) == operation.body
    return operation.body


def customer(attributes: dict[str, Any]) -> dict[str, Any]:
    return {"outputs": [{"customer": {"customer_id": "u", "customer_attributes": attributes}}]}


def event(**fields: Any) -> dict[str, Any]:
    return {"outputs": [{"event": {"customer_id": "u", "name": {"const": "e"}, **fields}}]}


def test_type_integer_refuses_a_float_beyond_64_bits() -> None:
    rule = customer({"total_orders": {"path": "n", "type": "integer"}})
    error = map_error(rule, b'{"u": "c1", "n": 1e20}')
    assert error.kind == "wrong_type"
    assert "customer_attributes.total_orders (path n)" in error.message
    assert "64-bit" in error.message
    assert (
        sent(rule, b'{"u": "c1", "n": 9.0e18}')["customerAttributes"]["totalOrders"] == 9 * 10**18
    )


def test_an_integer_field_beyond_64_bits_from_the_record_is_refused() -> None:
    rule = {"outputs": [{"order": {**ORDER}}]}
    error = map_error(rule, b'{"u": "c1", "o": "o1", "p": 18446744073709551615}')
    assert error.kind == "invalid_operation"
    assert "order.total_paid (path p)" in error.message
    assert sent(rule, b'{"u": "c1", "o": "o1", "p": 9223372036854775807}')["totalPaid"] == 2**63 - 1


@pytest.mark.parametrize("source", ["metadata_from", "metadata"])
def test_event_metadata_nested_too_deep_is_refused(source: str) -> None:
    rule = (
        event(metadata_from={"path": "p"})
        if source == "metadata_from"
        else event(metadata={"x": "p.x"})
    )
    error = map_error(rule, b'{"u": "c1", "p": {"x": ' + nested(300) + b"}}")
    assert error.kind == "invalid_operation"
    assert f"nested deeper than {MAX_NESTING} levels" in error.message
    assert "event.metadata" in error.message
    # The limit itself is sendable, with the body's own levels around it.
    sent(rule, b'{"u": "c1", "p": {"x": ' + nested(MAX_NESTING - 1) + b"}}")


def test_custom_attributes_nested_too_deep_are_refused() -> None:
    rule = customer({"custom": {"path": "c"}})
    error = map_error(rule, b'{"u": "c1", "c": {"x": ' + nested(300) + b"}}")
    assert error.kind == "invalid_operation"
    assert "customer_attributes.custom" in error.message


def test_drop_nulls_on_a_very_deep_value_is_a_mapping_error() -> None:
    rule = event(metadata={"x": {"path": "p", "drop_nulls": True}})
    error = map_error(rule, b'{"u": "c1", "p": ' + b"[" * 600 + b"]" * 600 + b"}")
    assert error.kind == "invalid_operation"
    assert "event.metadata.x (path p)" in error.message
    body = sent(rule, b'{"u": "c1", "p": [1, null, [null, 2]]}')
    assert body["events"]["e"]["x"] == [1, [2]]


@pytest.mark.parametrize("text", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_an_expression_giving_a_number_that_is_not_finite_fails(text: str) -> None:
    rule = {"outputs": [{"order": {**ORDER, "total_paid": {"expr": "to_number(total)"}}}]}
    error = map_error(rule, orjson.dumps({"u": "c1", "o": "o1", "total": text}))
    assert error.kind == "expression_failed"
    assert "order.total_paid (expr to_number(total))" in error.message
    assert "not finite" in error.message


def test_not_finite_numbers_inside_an_expression_result_fail() -> None:
    rule = event(metadata={"x": {"expr": "[to_number(a)]"}})
    error = map_error(rule, b'{"u": "c1", "a": "NaN"}')
    assert error.kind == "expression_failed"
    assert "event.metadata.x" in error.message


@pytest.mark.parametrize("text", ["Infinity", "NaN"])
def test_floor_of_a_number_that_is_not_finite_is_expression_failed(text: str) -> None:
    rule = {"outputs": [{"order": {**ORDER, "total_paid": {"expr": "floor(to_number(total))"}}}]}
    error = map_error(rule, orjson.dumps({"u": "c1", "o": "o1", "total": text}))
    assert error.kind == "expression_failed"
    assert "order.total_paid" in error.message


def test_an_expression_giving_an_integer_beyond_64_bits_fails() -> None:
    rule = {"outputs": [{"order": {**ORDER, "total_paid": {"expr": "to_number(total)"}}}]}
    error = map_error(rule, b'{"u": "c1", "o": "o1", "total": "123456789012345678901234567890"}')
    assert error.kind == "expression_failed"


@pytest.mark.parametrize(
    "body",
    [
        {"customerId": "c", "events": {"e": {"x": float("nan")}}},
        {"customerId": "c", "events": {"e": {"x": [2**64]}}},
        {"customerId": "c", "events": {"e": orjson.loads(nested(300))}},
    ],
)
def test_check_body_refuses_what_cannot_be_sent(body: dict[str, Any]) -> None:
    with pytest.raises(MappingError) as caught:
        check_body(Resource.EVENTS, body)
    assert caught.value.kind == "invalid_operation"


def test_the_nesting_limit_is_the_documented_one() -> None:
    from bridge.mapping import request_schema

    assert request_schema.MAX_NESTING == MAX_NESTING
