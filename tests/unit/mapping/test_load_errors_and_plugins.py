"""Mistakes in a mapping stop start-up with the file, the rule, the field and what is valid;
plugins are loaded at start-up and fail only their record at run time."""

from __future__ import annotations

from typing import Any

import pytest

from bridge.errors import MappingError

from .helpers import config_error, record, rules_mapper

PLUGINS = "tests.unit.mapping.plugin_examples"
EVENT = {"event": {"customer_id": "u", "name": "type"}}


@pytest.mark.parametrize(
    ("mapping", "location", "says"),
    [
        (
            {"rules": [{"outputs": [{"event": {"customer_id": "u..id", "name": "t"}}]}]},
            "mappings[0].rules[0].outputs[0].event.customer_id",
            "bad path 'u..id'",
        ),
        (
            {
                "rules": [
                    {
                        "outputs": [
                            {"event": {"customer_id": {"path": "u", "tpye": "string"}, "name": "t"}}
                        ]
                    }
                ]
            },
            "mappings[0].rules[0].outputs[0].event.customer_id",
            "unknown key 'tpye' in a value (did you mean 'type'?); valid keys: path, const",
        ),
        (
            {
                "rules": [
                    {
                        "outputs": [
                            {"event": {"customer_id": {"path": "u", "type": "float"}, "name": "t"}}
                        ]
                    }
                ]
            },
            "mappings[0].rules[0].outputs[0].event.customer_id.type",
            "'string', 'integer', 'number', 'boolean' or 'timestamp'",
        ),
        (
            {"rules": [{"name": "orders", "match": {}}]},
            "mappings[0].rules[0]",
            "rule orders has no output: give 'outputs'",
        ),
        (
            {"rules": [{"match": {"when": {"path": "t", "regex": "(["}}, "outputs": [EVENT]}]},
            "mappings[0].rules[0].match.when",
            "bad regex '(['",
        ),
        (
            {"rules": [{"match": {"when": {"path": "t"}}, "outputs": [EVENT]}]},
            "mappings[0].rules[0].match.when",
            "give at least one test: equals, in, exists, regex, gt, ge, lt, le",
        ),
        (
            {"rules": [{"match": {"when": {"path": "t", "equal": 1}}, "outputs": [EVENT]}]},
            "mappings[0].rules[0].match.when",
            "unknown key 'equal' in a condition (did you mean 'equals'?)",
        ),
        (
            {"rules": [{"outputs": [{"event": {"customer_id": {"expr": "a[?"}, "name": "t"}}]}]},
            "mappings[0].rules[0].outputs[0].event.customer_id",
            "bad JMESPath expression",
        ),
        (
            {"rules": [{"outputs": [{"event": {"customer_id": {"template": "{a"}, "name": "t"}}]}]},
            "mappings[0].rules[0].outputs[0].event.customer_id",
            "bad template",
        ),
        (
            {
                "rules": [
                    {
                        "outputs": [
                            {"order": {"customer_id": "u", "order_id": "o", "order_date": "d"}}
                        ]
                    }
                ]
            },
            "mappings[0].rules[0].outputs[0].order",
            "total_paid required",
        ),
        (
            {
                "rules": [
                    {
                        "outputs": [
                            {
                                "order": {
                                    "customer_id": "u",
                                    "order_id": "o",
                                    "order_date": "d",
                                    "totl_paid": "p",
                                }
                            }
                        ]
                    }
                ]
            },
            "mappings[0].rules[0].outputs[0].order",
            "unknown key 'totl_paid' in order (did you mean 'total_paid'?)",
        ),
        (
            {
                "rules": [
                    {
                        "outputs": [
                            {
                                "order": {
                                    "customer_id": "u",
                                    "order_id": "o",
                                    "order_date": "d",
                                    "total_paid": "p",
                                    "line_items": {"each": "items", "fields": {"prce": "p"}},
                                }
                            }
                        ]
                    }
                ]
            },
            "mappings[0].rules[0].outputs[0].order",
            "unknown key 'prce' in order.line_items.fields (did you mean 'price'?)",
        ),
        (
            {
                "rules": [
                    {"outputs": [{"customer": {"customer_id": {"path": "u", "type": "nope"}}}]}
                ]
            },
            "mappings[0].rules[0].outputs[0].customer",
            "customer.customer_id.type: Input should be 'string'",
        ),
        (
            {"rules": [{"outputs": [{"evnt": {}}]}]},
            "mappings[0].rules[0].outputs[0]",
            "unknown key 'evnt' in an output (did you mean 'event'?)",
        ),
        (
            {"rules": [{"outputs": [{}]}]},
            "mappings[0].rules[0].outputs[0]",
            "exactly one of event, order, customer, payment, refund, cancel_order, "
            "customer_tags, delete_customer, plugin",
        ),
        (
            {"rules": [], "mode": "first"},
            "mappings[0]",
            "give 'rules' (a list) or the 'event' shorthand",
        ),
        (
            {"rules": [{"outputs": [EVENT]}], "mode": "every"},
            "mappings[0].mode",
            "'first' or 'all'",
        ),
        (
            {"rules": [{"plugin": "no_such_module_xyz:f"}]},
            "mappings[0].rules[0].plugin",
            "cannot import plugin module 'no_such_module_xyz': ModuleNotFoundError",
        ),
        (
            {"rules": [{"plugin": f"{PLUGINS}:nope"}]},
            "mappings[0].rules[0].plugin",
            "has no attribute 'nope'",
        ),
        (
            {"rules": [{"plugin": f"{PLUGINS}:NOT_CALLABLE"}]},
            "mappings[0].rules[0].plugin",
            "is not callable",
        ),
        (
            {"rules": [{"plugin": f"{PLUGINS}:one_argument"}]},
            "mappings[0].rules[0].plugin",
            "must accept two arguments: (value, context)",
        ),
        (
            {"rules": [{"outputs": [{"plugin": "unregistered"}]}]},
            "mappings[0].rules[0].outputs[0].plugin",
            "entry-point group 'gameball_bridge.plugins'",
        ),
    ],
)
def test_load_errors_name_the_file_the_place_and_what_is_valid(
    mapping: dict[str, Any], location: str, says: str
) -> None:
    message = config_error(mapping)
    assert message.startswith("conf.yaml: invalid configuration")
    line = next((ln for ln in message.splitlines() if ln.strip().startswith(location + ":")), "")
    assert line, f"no line for {location} in:\n{message}"
    assert says in line


def test_a_plugin_returns_operations_and_sees_the_kafka_context() -> None:
    m = rules_mapper({"plugin": f"{PLUGINS}:split_cart"})
    ops = m.map(record({"u": "c1", "skus": ["A", "B"]}))
    assert [op.body["events"] for op in ops] == [
        {"add": {"sku": "A"}},
        {"add": {"sku": "B"}},
        {"from_topic": {"topic": "t"}},
    ]
    assert {op.customer_id for op in ops} == {"c1"}


@pytest.mark.parametrize(
    ("plugin", "kind", "says"),
    [
        ("raises", "plugin_failed", "raised KeyError: 'sku'"),
        ("returns_garbage", "plugin_failed", "expected an Operation or"),
        (
            "returns_invalid_order",
            "invalid_operation",
            "orders body: orderDate: required, and missing",
        ),
    ],
)
def test_a_failing_plugin_fails_only_its_record(plugin: str, kind: str, says: str) -> None:
    m = rules_mapper({"outputs": [{"plugin": f"{PLUGINS}:{plugin}"}]})
    with pytest.raises(MappingError) as info:
        m.map(record({"u": "c1", "skus": []}))
    assert info.value.kind == kind
    assert says in info.value.message
    assert f"plugin {PLUGINS}:{plugin}" in info.value.message
