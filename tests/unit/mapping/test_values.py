"""Every value kind and transform, table-driven: a one-field event's metadata shows the value."""

from __future__ import annotations

from typing import Any

import pytest

from bridge.errors import MappingError
from bridge.mapping.transforms import drop_nulls, to_timestamp

from .helpers import mapper, record

DOC = {
    "user": {"id": "c1"},
    "props": {"plan": "pro", "n": "42", "f": "4.5", "flag": "yes", "nothing": None, "count": 3},
    "items": [{"sku": "A", "price": 2}, {"sku": "B", "price": 3}],
    "ts_s": 1718000000,
    "ts_ms": 1718000000123,
    "iso": "2024-06-10T12:00:00+03:00",
    "nested": {"a": None, "b": [1, None, {"c": None, "d": 1}]},
    "event": "app_opened",
}


def value_of(spec: Any, doc: dict[str, Any] | None = None, **rec: Any) -> Any:
    m = mapper(event={"customer_id": "user.id", "name": {"const": "e"}, "metadata": {"v": spec}})
    [op] = m.map(record(DOC if doc is None else doc, **rec))
    return op.body["events"]["e"].get("v", "<absent>")


@pytest.mark.parametrize(
    ("spec", "value"),
    [
        ("props.plan", "pro"),
        ({"path": "items[1].sku"}, "B"),
        ("items[-1].price", 3),
        ("props.missing", "<absent>"),
        ("props.nothing", "<absent>"),
        (7, 7),
        (True, True),
        ([1, 2], [1, 2]),
        ({"const": "fixed"}, "fixed"),
        ({"const": {"a": 1}}, {"a": 1}),
        ({"expr": "items[*].sku"}, ["A", "B"]),
        ({"expr": "sum(items[*].price)"}, 5),
        ({"expr": "items[?price > `2`].sku | [0]"}, "B"),
        ({"expr": "props.missing"}, "<absent>"),
        ({"template": "{props.plan}_upgrade"}, "pro_upgrade"),
        ({"template": "{{{props.count}}} x"}, "{3} x"),
        ({"template": "{props.missing}_x"}, "<absent>"),
        ({"header": "source"}, "web"),
        ({"header": "absent"}, "<absent>"),
        ({"kafka": "topic"}, "t"),
        ({"kafka": "partition"}, 0),
        ({"kafka": "offset"}, 7),
        ({"kafka": "key"}, "k1"),
        ({"kafka": "timestamp"}, 1_700_000_000_000),
        # Transforms.
        ({"path": "props.n", "type": "integer"}, 42),
        ({"path": "props.f", "type": "number"}, 4.5),
        ({"path": "props.n", "type": "number"}, 42),
        ({"path": "props.count", "type": "string"}, "3"),
        ({"path": "props.flag", "type": "boolean"}, True),
        ({"path": "ts_s", "type": "timestamp"}, "2024-06-10T06:13:20.000Z"),
        ({"path": "ts_ms", "type": "timestamp"}, "2024-06-10T06:13:20.123Z"),
        (
            {"path": "ts_ms", "type": "timestamp", "unit": "milliseconds"},
            "2024-06-10T06:13:20.123Z",
        ),
        ({"path": "ts_s", "type": "timestamp", "unit": "seconds"}, "2024-06-10T06:13:20.000Z"),
        ({"path": "iso", "type": "timestamp"}, "2024-06-10T09:00:00.000Z"),
        ({"path": "props.missing", "default": "free"}, "free"),
        ({"path": "props.nothing", "default": 0}, 0),
        ({"path": "props.plan", "default": "free"}, "pro"),
        ({"path": "event", "map": {"app_opened": "open_app"}}, "open_app"),
        ({"path": "props.plan", "map": {"app_opened": "open_app"}}, "pro"),
        ({"path": "props.plan", "map": {"x": "y"}, "unmapped": "drop"}, "<absent>"),
        ({"path": "props.count", "map": {"3": "three"}}, "three"),
        ({"path": "props.missing", "default": "a", "map": {"a": "b"}}, "b"),
        ({"path": "nested", "drop_nulls": True}, {"b": [1, {"d": 1}]}),
        ({"path": "props.n", "type": "integer", "map": {"42": "41"}}, 41),
    ],
)
def test_value_kinds_and_transforms(spec: Any, value: Any) -> None:
    assert value_of(spec, key=b"k1", headers=(("source", b"web"),)) == value


@pytest.mark.parametrize(
    ("spec", "kind", "says"),
    [
        (
            {"path": "props.plan", "type": "integer"},
            "wrong_type",
            "cannot make an integer of string",
        ),
        ({"path": "props.plan", "type": "number"}, "wrong_type", "cannot make a number"),
        ({"path": "props.plan", "type": "boolean"}, "wrong_type", "cannot make a boolean"),
        ({"path": "items", "type": "string"}, "wrong_type", "cannot make a string of array"),
        ({"path": "props.plan", "type": "timestamp"}, "wrong_type", "expected an ISO 8601"),
        ({"path": "items", "type": "timestamp"}, "wrong_type", "cannot make a timestamp"),
        ({"path": "props.plan", "map": {"x": "y"}, "unmapped": "error"}, "unmapped_value", "pro"),
        ({"template": "{items}!"}, "wrong_type", "not text"),
        ({"expr": "sum(items)"}, "expression_failed", "metadata.v (expr sum(items))"),
        ({"expr": "items[?sku > `1`].sku"}, "expression_failed", "'>' not supported between"),
    ],
)
def test_transform_failures_are_mapping_errors(spec: Any, kind: str, says: str) -> None:
    with pytest.raises(MappingError) as info:
        value_of(spec)
    assert info.value.kind == kind
    assert says in info.value.message
    assert "event.metadata.v" in info.value.message


@pytest.mark.parametrize(
    ("raw", "iso"),
    [
        (0, "1970-01-01T00:00:00.000Z"),
        (1718000000.5, "2024-06-10T06:13:20.500Z"),
        ("1718000000", "2024-06-10T06:13:20.000Z"),
        ("2024-06-10T06:13:20Z", "2024-06-10T06:13:20.000Z"),
        ("2024-06-10T06:13:20.123456-05:30", "2024-06-10T11:43:20.123Z"),
        ("2024-06-10", "2024-06-10T00:00:00.000Z"),
        ("2024-06-10T06:13:20", "2024-06-10T06:13:20.000Z"),  # no offset: UTC
    ],
)
def test_timestamps(raw: Any, iso: str) -> None:
    assert to_timestamp(raw) == iso


@pytest.mark.parametrize(
    "raw", [10**20, float("inf"), "not a date", True, None, "9999-12-31T23:59:59-05:00"]
)
def test_bad_timestamps_raise_value_error(raw: Any) -> None:
    with pytest.raises(ValueError, match=r"timestamp|ISO 8601|range"):
        to_timestamp(raw)


def test_drop_nulls_is_deep() -> None:
    assert drop_nulls({"a": [None, {"b": None}], "c": None}) == {"a": [{}]}


def test_metadata_from_with_include_and_exclude() -> None:
    doc = {"u": "c", "p": {"a": 1, "b": 2, "secret": "s", "n": None}}
    for source, expected in [
        ({"path": "p"}, {"a": 1, "b": 2, "secret": "s"}),
        ({"path": "p", "exclude": ["secret"]}, {"a": 1, "b": 2}),
        ({"path": "p", "include": ["a", "zzz"]}, {"a": 1}),
        ({"path": "absent"}, {}),
    ]:
        m = mapper(
            event={
                "customer_id": "u",
                "name": {"const": "e"},
                "metadata_from": source,
                "metadata": {"b": {"const": 9}},
            }
        )
        [op] = m.map(record(doc))
        assert op.body["events"]["e"] == {**expected, "b": 9}
    m = mapper(event={"customer_id": "u", "name": {"const": "e"}, "metadata_from": "u"})
    with pytest.raises(MappingError, match="expected an object, got string"):
        m.map(record(doc))
