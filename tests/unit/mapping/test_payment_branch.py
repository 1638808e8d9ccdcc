"""A payment's merchant.branch needs its uniqueId (Gameball's spec); an order's does not. And the
request table's nested `required` fields match the spec's, at every depth."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from bridge.errors import MappingError
from bridge.mapping.request_schema import check_body
from bridge.operations import OPERATIONS, Description, Field
from bridge.record import Resource

from .helpers import config_error, record, rules_mapper
from .test_shipped_mappings import _resolve, openapi, request_schema

__all__ = ["openapi"]  # the fixture, shared with test_shipped_mappings

PAYMENT = {
    "customer_id": "u",
    "payment_id": "p",
    "payment_date": {"const": "2024-01-01T00:00:00Z"},
    "total_paid": {"const": 5},
}
ORDER = {
    "customer_id": "u",
    "order_id": "p",
    "order_date": {"const": "2024-01-01T00:00:00Z"},
    "total_paid": {"const": 5},
}


def build(output: dict[str, Any], value: dict[str, Any]) -> dict[str, Any]:
    (operation,) = rules_mapper({"outputs": [output]}).map(record(value))
    return operation.body


def test_a_payment_branch_without_its_unique_id_is_missing_field() -> None:
    output = {"payment": {**PAYMENT, "merchant": {"branch": {"unique_id": "b", "name": "bn"}}}}
    with pytest.raises(MappingError) as caught:
        build(output, {"u": "c1", "p": "p1", "bn": "Downtown"})
    assert caught.value.kind == "missing_field"
    assert "payment.merchant.branch.unique_id (path b) is missing" in caught.value.message
    body = build(output, {"u": "c1", "p": "p1", "b": 7, "bn": "Downtown"})
    assert body["merchant"] == {"branch": {"uniqueId": "7", "name": "Downtown"}}
    # No branch at all: nothing is required of it.
    assert "merchant" not in build(output, {"u": "c1", "p": "p1"})


def test_a_payment_branch_configured_without_a_unique_id_is_a_config_error() -> None:
    error = config_error(
        {"rules": [{"outputs": [{"payment": {**PAYMENT, "merchant": {"branch": {"name": "n"}}}}]}]}
    )
    assert "payment.merchant.branch: unique_id required" in error


def test_a_payment_branch_given_whole_is_checked() -> None:
    output = {"payment": {**PAYMENT, "merchant": {"branch": "branch"}}}
    with pytest.raises(MappingError) as caught:
        build(output, {"u": "c1", "p": "p1", "branch": {"name": "Downtown"}})
    assert caught.value.kind == "invalid_operation"
    assert "uniqueId: required" in caught.value.message
    with pytest.raises(MappingError):
        check_body(
            Resource.PAYMENTS,
            {
                "customerId": "c",
                "paymentId": "p",
                "paymentDate": "2024-01-01T00:00:00Z",
                "totalPaid": 1,
                "merchant": {"branch": {"name": "x"}},
            },
        )


def test_an_order_branch_needs_no_unique_id() -> None:
    output = {"order": {**ORDER, "merchant": {"branch": {"name": "bn"}}}}
    body = build(output, {"u": "c1", "p": "o1", "bn": "Downtown"})
    assert body["merchant"] == {"branch": {"name": "Downtown"}}


def _required_pairs(fields: Mapping[str, Field], where: str) -> set[tuple[str, str]]:
    found = set()
    for name, field in fields.items():
        if field.required:
            found.add((where, name))
        inner = field.fields or (field.items.fields if field.items is not None else None)
        if inner is not None:
            found |= _required_pairs(inner, f"{where}.{name}")
    return found


def _spec_required(
    spec: dict[str, Any], schema: dict[str, Any], fields: Mapping[str, Field], where: str
) -> set[tuple[str, str]]:
    """The spec's required keys, at the places the bridge's table describes."""
    schema = _resolve(spec, schema)
    found = {(where, name) for name in schema.get("required", []) if name in fields}
    for name, field in fields.items():
        sub = schema.get("properties", {}).get(name)
        if sub is None:
            continue
        sub = _resolve(spec, sub)
        if field.fields is not None:
            found |= _spec_required(spec, sub, field.fields, f"{where}.{name}")
        elif field.items is not None and field.items.fields is not None and "items" in sub:
            found |= _spec_required(spec, sub["items"], field.items.fields, f"{where}.{name}")
    return found


@pytest.mark.parametrize("description", OPERATIONS.values(), ids=list(OPERATIONS))
def test_required_fields_match_the_spec_at_every_depth(
    openapi: dict[str, Any], description: Description
) -> None:
    fields = description.body
    expected = _spec_required(openapi, request_schema(openapi, description), fields, "")
    assert _required_pairs(fields, "") == expected
