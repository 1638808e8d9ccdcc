"""The outputs of an order's and a customer's whole life: refund, cancel_order, customer_tags
(add and remove) and delete_customer, built from their descriptions in the operation table."""

from __future__ import annotations

from typing import Any

import pytest

from bridge.errors import MappingError
from bridge.record import Operation, Resource

from .helpers import config_error, record, rules_mapper


def operations(output: dict[str, Any], value: dict[str, Any]) -> list[Operation]:
    return rules_mapper({"outputs": [output]}).map(record(value))


REFUND = {
    "customer_id": "user",
    "refund_transaction_id": "refund_id",
    "reverse_transaction_id": "order_id",
    "transaction_time": {"path": "at", "type": "timestamp", "unit": "seconds"},
    "refund_amount": {"path": "amount", "type": "number"},
    "line_items": {"each": "items", "fields": {"product_id": "sku", "quantity": "qty"}},
}


def test_a_partial_refund_with_line_items() -> None:
    (op,) = operations(
        {"refund": REFUND},
        {
            "user": 42,
            "refund_id": "R-1",
            "order_id": 5001,
            "at": 1718000000,
            "amount": "20.5",
            "items": [{"sku": 11, "qty": 2}],
        },
    )
    assert (op.name, op.resource, op.customer_id, op.params) == (
        "refund",
        Resource.PAYMENTS,
        "42",
        (),
    )
    assert op.body == {
        "customerId": "42",
        "refundTransactionId": "R-1",
        "reverseTransactionId": "5001",
        "transactionTime": "2024-06-10T06:13:20.000Z",
        "refundAmount": 20.5,
        "lineItems": [{"productId": "11", "quantity": 2}],
    }
    assert not op.batchable
    assert op.label == "refund"


def test_a_full_refund_leaves_the_amount_out() -> None:
    (op,) = operations(
        {"refund": REFUND}, {"user": "c", "refund_id": "R", "order_id": "O", "at": 1718000000}
    )
    assert "refundAmount" not in op.body
    assert "lineItems" not in op.body


def test_a_cancellation_is_a_refund_without_an_amount() -> None:
    output = {
        "cancel_order": {
            "customer_id": "user",
            "refund_transaction_id": {"template": "cancel-{order_id}"},
            "reverse_transaction_id": "order_id",
            "transaction_time": "at",
        }
    }
    (op,) = operations(output, {"user": "c", "order_id": "O-9", "at": "2024-06-10T12:00:00+03:00"})
    assert op.name == "cancel_order"
    assert op.resource is Resource.PAYMENTS
    assert op.body == {
        "customerId": "c",
        "refundTransactionId": "cancel-O-9",
        "reverseTransactionId": "O-9",
        "transactionTime": "2024-06-10T09:00:00.000Z",
    }
    assert "refund_amount" in config_error(
        {"rules": [{"outputs": [{"cancel_order": {**output["cancel_order"], "refund_amount": 1}}]}]}
    )


def test_a_refund_without_its_order_is_a_config_error() -> None:
    without = {k: v for k, v in REFUND.items() if k != "reverse_transaction_id"}
    error = config_error({"rules": [{"outputs": [{"refund": without}]}]})
    assert "reverse_transaction_id required" in error


TAGS = {"customer_tags": {"customer_id": "user", "add": "added", "remove": "removed"}}


def test_customer_tags_add_and_remove_in_one_output() -> None:
    add, remove = operations(TAGS, {"user": 7, "added": ["vip", "gamer"], "removed": "new"})
    assert (add.name, add.description.method, add.params, add.body) == (
        "add_customer_tags",
        "POST",
        (("customerId", "7"),),
        {"tags": "vip,gamer"},
    )
    assert (remove.name, remove.description.method, remove.body) == (
        "remove_customer_tags",
        "DELETE",
        {"tags": "new"},
    )
    assert add.customer_id == remove.customer_id == "7"
    assert add.resource is Resource.CUSTOMERS
    assert not add.batchable


@pytest.mark.parametrize("removed", [None, [], ""])
def test_a_part_without_a_value_is_not_sent(removed: Any) -> None:
    value: dict[str, Any] = {"user": "c", "added": ["vip"]}
    if removed is not None:
        value["removed"] = removed
    (op,) = operations(TAGS, value)
    assert op.name == "add_customer_tags"
    assert operations(TAGS, {"user": "c"}) == []


def test_a_tag_holding_the_separator_is_refused() -> None:
    with pytest.raises(MappingError) as caught:
        operations(TAGS, {"user": "c", "added": ["vip", "a,b"]})
    assert caught.value.kind == "invalid_operation"
    assert "contains ','" in caught.value.message
    with pytest.raises(MappingError) as caught:
        operations(TAGS, {"user": "c", "added": ["vip", 3]})
    assert caught.value.kind == "wrong_type"


def test_customer_tags_config_errors() -> None:
    assert "give at least one of add, remove" in config_error(
        {"rules": [{"outputs": [{"customer_tags": {"customer_id": "u"}}]}]}
    )
    assert "customer_id required" in config_error(
        {"rules": [{"outputs": [{"customer_tags": {"add": "t"}}]}]}
    )
    assert "unknown key 'tags'" in config_error(
        {"rules": [{"outputs": [{"customer_tags": {"customer_id": "u", "tags": "t"}}]}]}
    )


def test_delete_customer_has_its_customer_in_the_path_and_no_body() -> None:
    (op,) = operations({"delete_customer": {"customer_id": "user.id"}}, {"user": {"id": 9}})
    assert (op.name, op.customer_id, op.params, op.body) == (
        "delete_customer",
        "9",
        (("customerId", "9"),),
        {},
    )
    assert op.description.erases_customer
    with pytest.raises(MappingError) as caught:
        operations({"delete_customer": {"customer_id": "user.id"}}, {"user": {}})
    assert caught.value.kind == "missing_field"


def test_a_plugin_names_any_operation_with_its_path_parameters() -> None:
    from bridge.mapping.plugins import PluginOutput

    plugin = PluginOutput("tests.unit.mapping.plugin_examples:erase")
    (op,) = plugin({"user": "c-1"}, None)  # type: ignore[arg-type]
    assert (op.name, op.customer_id, op.params, op.body) == (
        "delete_customer",
        "c-1",
        (("customerId", "c-1"),),
        {},
    )
    with pytest.raises(MappingError) as caught:
        PluginOutput("tests.unit.mapping.plugin_examples:erase_without_params")({}, None)  # type: ignore[arg-type]
    assert caught.value.kind == "invalid_operation"
    assert "path parameter customerId" in caught.value.message
