"""Paths and the minimal event mapping: plain dicts in, operations or MappingError out."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from bridge.errors import MappingError
from bridge.mapping.mapper import Mapper
from bridge.mapping.paths import MISSING, lookup, parse_path
from bridge.mapping.settings import MappingConfig
from bridge.record import Operation, Resource, SourceRecord


@pytest.mark.parametrize(
    ("path", "parts"),
    [
        ("user", ("user",)),
        ("user.id", ("user", "id")),
        ("items[0].sku", ("items", 0, "sku")),
        ("a[1][-1]", ("a", 1, -1)),
        ("weird-key_1.x", ("weird-key_1", "x")),
    ],
)
def test_parse_path(path: str, parts: tuple[Any, ...]) -> None:
    assert parse_path(path) == parts


@pytest.mark.parametrize("path", ["", "a..b", ".a", "a.", "a[x]", "a[0", "[0]", " a"])
def test_bad_paths_are_refused_with_the_reason(path: str) -> None:
    with pytest.raises(ValueError, match="bad path"):
        parse_path(path)


DOC = {"user": {"id": "c1", "tags": ["a", "b"]}, "items": [{"sku": "S1"}], "n": None}


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("user.id", "c1"),
        ("user.tags[1]", "b"),
        ("user.tags[-1]", "b"),
        ("items[0].sku", "S1"),
        ("n", None),
        ("user.missing", MISSING),
        ("user.tags[5]", MISSING),
        ("user.id.deeper", MISSING),
        ("items.sku", MISSING),
        ("user[0]", MISSING),
    ],
)
def test_lookup(path: str, value: Any) -> None:
    assert lookup(DOC, parse_path(path)) == value


def mapper(**event: Any) -> Mapper:
    spec = {"customer_id": "user.id", "name": {"path": "type"}, **event}
    config = MappingConfig.model_validate(
        {"name": "app", "topics": ["app", "^shop\\."], "event": spec}
    )
    return Mapper([config], max_record_bytes=1000)


def record(value: Any, topic: str = "app") -> SourceRecord:
    raw = value if isinstance(value, bytes) or value is None else orjson.dumps(value)
    return SourceRecord(topic=topic, partition=0, offset=7, value=raw)


def test_event_with_metadata_email_and_mobile() -> None:
    m = mapper(
        metadata={"product": "p.id", "rating": "p.rating", "absent": "p.nope"},
        email="user.email",
        mobile="user.phone",
    )
    doc = {
        "type": "review",
        "user": {"id": "c9", "email": "e@x.io"},
        "p": {"id": "P1", "rating": 5},
    }
    assert m.map(record(doc)) == [
        Operation(
            Resource.EVENTS,
            "c9",
            {
                "customerId": "c9",
                "events": {"review": {"product": "P1", "rating": 5}},
                "email": "e@x.io",
            },
        )
    ]


def test_fixed_event_name_and_integer_customer_id() -> None:
    m = mapper(name={"const": "profile_completed"})
    [op] = m.map(record({"user": {"id": 42}}))
    assert op.body == {"customerId": "42", "events": {"profile_completed": {}}}
    assert op.customer_id == "42"


def test_topic_patterns_route_records() -> None:
    m = mapper()
    assert m.map(record({"type": "t", "user": {"id": "c"}}, topic="shop.orders"))
    with pytest.raises(MappingError) as info:
        m.map(record({"type": "t", "user": {"id": "c"}}, topic="other"))
    assert info.value.kind == "no_mapping"
    assert "'other'" in info.value.message


@pytest.mark.parametrize(
    ("value", "kind", "says"),
    [
        (b"{not json", "invalid_json", "not valid JSON"),
        (b"\xff\xfe", "invalid_json", "not valid JSON"),
        (None, "no_value", "no value"),
        (b"[1, 2]", "wrong_type", "not an object"),
        (b'"text"', "wrong_type", "not an object"),
        ({"type": "t"}, "missing_field", "event.customer_id (path user.id) is missing"),
        ({"type": "t", "user": {"id": None}}, "missing_field", "customer_id"),
        ({"type": "t", "user": {"id": ""}}, "wrong_type", "got string ''"),
        ({"type": "t", "user": {"id": True}}, "wrong_type", "got boolean"),
        ({"type": "t", "user": {"id": {"x": 1}}}, "wrong_type", "got object"),
        ({"user": {"id": "c"}}, "missing_field", "event.name (path type) is missing"),
        (
            {"type": 5, "user": {"id": "c"}},
            "wrong_type",
            "event.name (path type): expected a non-empty string, got integer",
        ),
        (b"x" * 1001, "too_large", "over dead_letter.max_record_bytes"),
    ],
)
def test_bad_records_are_mapping_errors_naming_the_place(value: Any, kind: str, says: str) -> None:
    with pytest.raises(MappingError) as info:
        mapper().map(record(value))
    assert info.value.kind == kind
    assert says in info.value.message


def test_wrong_type_of_optional_contact_is_an_error() -> None:
    with pytest.raises(MappingError, match=r"event.email \(path user.email\)"):
        mapper(email="user.email").map(record({"type": "t", "user": {"id": "c", "email": 5}}))
