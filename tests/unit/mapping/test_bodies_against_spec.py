"""The operation table held against Gameball's own OpenAPI spec, as the bridge and the emulator
read it.

The bridge's operation table (`bridge.operations`: what a mapping may put in a body) and the
emulator's reading of it (`bridge.sandbox.emulator.validation.SCHEMAS`: what the emulator
accepts, Gameball's tolerance applied) are both compared with the spec: for every operation's
body, every field either knows (nested objects and array items included) must agree with the
spec on its JSON type, whether it is required, its enum, whether it is a date-time, its
bounds and, for free-form objects, the type of their values. Every field of the spec must be
known to both. Each operation's path and method must be the spec's, and its path's
parameters the spec's path parameters.

Where a table deliberately says more than the spec, or the spec says nothing, the difference is
listed in ALLOWED with its reason; an entry that no longer matches a difference fails too, so
the list stays as short as the truth. Not compared: non-emptiness (the spec states no
minLength or minProperties), and the mapping's `integer_ok` (an integer from the record is sent
as its digits: the body still carries a string, which is what is compared).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import pytest

from bridge import operations as mapping
from bridge.operations import OPERATIONS, Description
from bridge.sandbox.emulator import validation as emulator
from bridge.sandbox.emulator.endpoints import SERVED_BY

OPENAPI = Path(__file__).resolve().parents[3] / ".." / "shared" / "gameball" / "openapi.json"
ASPECTS = ("type", "required", "enum", "date_time", "bounds", "values")

# (side, path pattern, aspect) -> why the table may differ from the spec there. Side is
# "mapping", "emulator" or "both"; aspect is one of ASPECTS, or "field" for a field one side
# has and the other lacks. Paths read `orders.lineItems[].productId`; patterns are fnmatch
# patterns (`*` matches dots too) and must not use brackets. Paths start with the operation's
# name.
ALLOWED: Mapping[tuple[str, str, str], str] = {
    ("both", "event.email", "field"): "not in the spec's schema; API.md: accepted by "
    "Gameball (its SDKs send it) for channel merging",
    ("both", "event.mobile", "field"): "as event.email",
    ("both", "*.extra", "values"): "the spec allows any value; API.md: extra values are "
    "strings or numbers",
    ("both", "payment.cashbackConfigurations.returnWindow", "bounds"): "the spec bounds only "
    "the orders' returnWindow (0..7300); a payment's cashback configuration is the same thing",
    ("mapping", "customer.customerAttributes.dateOfBirth", "date_time"): "a string in the "
    "spec; the bridge normalises it to UTC ISO 8601 like orderDate (shapes.py says so, and "
    "the emulator takes any string there, as Gameball does)",
    ("mapping", "customer.customerAttributes.joinDate", "date_time"): "as dateOfBirth",
    ("mapping", "customer.customerAttributes.lastOrderDate", "date_time"): "as dateOfBirth",
    ("both", "cancel_order.refundAmount", "field"): "a cancellation is the refund call without "
    "an amount: a full refund (bridge/operations/table.py)",
    ("both", "cancel_order.lineItems*", "field"): "as cancel_order.refundAmount: the whole "
    "order, not some of its items",
}


@dataclass(frozen=True, slots=True)
class Facts:
    """What a description says about one field, in JSON Schema's terms."""

    type: str | None
    required: bool = False
    enum: frozenset[str] | None = None
    date_time: bool = False
    bounds: tuple[float | None, float | None] = (None, None)
    values: frozenset[str] | None = None  # a free-form object's value types; None: any


Described = dict[str, Facts]  # path -> facts


# reading the three descriptions ----------------------------------------------------------


def _resolve(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = spec
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def spec_call(spec: dict[str, Any], description: Description) -> dict[str, Any]:
    call: dict[str, Any] = spec["paths"][f"/api/v4.0/integrations/{description.path}"][
        description.method.lower()
    ]
    return call


def spec_body(spec: dict[str, Any], description: Description) -> dict[str, Any]:
    call = spec_call(spec, description)
    if "requestBody" not in call:
        return {}
    return _resolve(spec, call["requestBody"]["content"]["application/json"]["schema"])


def from_spec(spec: dict[str, Any], schema: dict[str, Any], where: str, out: Described) -> None:
    """The facts of the properties (and array items, recursively) of `schema`."""
    required = set(schema.get("required", ()))
    for name, node in schema.get("properties", {}).items():
        _spec_field(spec, node, f"{where}.{name}", name in required, out)


def _spec_field(
    spec: dict[str, Any], node: dict[str, Any], path: str, required: bool, out: Described
) -> None:
    node = _resolve(spec, node)
    extra = node.get("additionalProperties")
    values = None
    if isinstance(extra, dict) and "type" in _resolve(spec, extra):
        values = frozenset({_resolve(spec, extra)["type"]})
    out[path] = Facts(
        type=node.get("type"),
        required=required,
        enum=frozenset(node["enum"]) if "enum" in node else None,
        date_time=node.get("format") == "date-time",
        bounds=(node.get("minimum"), node.get("maximum")),
        values=values,
    )
    from_spec(spec, node, path, out)
    if "items" in node:
        _spec_field(spec, node["items"], f"{path}[]", False, out)


_KIND_TYPES = {"datetime": "string", "map": "object"}


def from_mapping(fields: Mapping[str, mapping.Field], where: str, out: Described) -> None:
    for name, field in fields.items():
        _mapping_field(field, f"{where}.{name}", out)


def _mapping_field(field: mapping.Field, path: str, out: Described) -> None:
    out[path] = Facts(
        type=_KIND_TYPES.get(field.kind, field.kind),
        required=field.required,
        enum=frozenset(field.enum) if field.enum else None,
        date_time=field.kind == "datetime",
        bounds=(field.minimum, field.maximum),
        values=frozenset(_KIND_TYPES.get(k, k) for k in field.values) if field.values else None,
    )
    if field.fields is not None:
        from_mapping(field.fields, path, out)
    if field.items is not None:
        _mapping_field(field.items, f"{path}[]", out)


def from_emulator(schema: emulator.Schema, where: str, out: Described) -> None:
    for name, field in schema.fields.items():
        _emulator_field(field, f"{where}.{name}", name in schema.required, out)


def _emulator_field(field: emulator.Field, path: str, required: bool, out: Described) -> None:
    out[path] = Facts(
        type=field.type,
        required=required,
        enum=frozenset(field.enum) if field.enum is not None else None,
        date_time=field.date_time,
        bounds=(field.minimum, field.maximum),
        values=frozenset(field.values) if field.values is not None else None,
    )
    if field.schema is not None:
        from_emulator(field.schema, path, out)
    if field.items is not None:
        _emulator_field(field.items, f"{path}[]", False, out)


def described(side: str, description: Description) -> Described:
    out: Described = {}
    name = description.name
    if side == "mapping":
        from_mapping(description.body, name, out)
    else:
        schema = emulator.SCHEMAS[SERVED_BY[name]]
        # Two operations of one call: the endpoint takes the wider body (a cancellation is a
        # refund without an amount); this operation's fields are compared.
        fields = {k: v for k, v in schema.fields.items() if k in description.body}
        required = tuple(k for k in schema.required if k in description.body)
        from_emulator(emulator.Schema(fields, required), name, out)
    return out


# comparing -------------------------------------------------------------------------------


def _allowed(side: str, path: str, aspect: str, used: set[tuple[str, str, str]]) -> bool:
    for key in ALLOWED:
        sides, pattern, allowed_aspect = key
        if sides in (side, "both") and allowed_aspect == aspect and fnmatchcase(path, pattern):
            used.add(key)
            return True
    return False


def differences(
    side: str, ours: Described, theirs: Described, used: set[tuple[str, str, str]]
) -> list[str]:
    """Where `ours` (one side's description) departs from the spec's, unless ALLOWED."""
    found = []
    for path in sorted(ours.keys() | theirs.keys()):
        if path not in theirs or path not in ours:
            if not _allowed(side, path, "field", used):
                where = "the spec" if path not in theirs else f"the {side} table"
                found.append(f"{side}: {path}: not in {where}")
            continue
        mine, spec = ours[path], theirs[path]
        for aspect in ASPECTS:
            a, b = getattr(mine, aspect), getattr(spec, aspect)
            if a != b and not _allowed(side, path, aspect, used):
                found.append(f"{side}: {path}: {aspect} is {a!r}, the spec says {b!r}")
    return found


@pytest.fixture(scope="module")
def openapi() -> dict[str, Any]:
    if not OPENAPI.exists():
        pytest.skip(f"Gameball's spec is not at {OPENAPI}")
    spec: dict[str, Any] = json.loads(OPENAPI.read_text())
    return spec


def spec_described(spec: dict[str, Any], description: Description) -> Described:
    out: Described = {}
    from_spec(spec, spec_body(spec, description), description.name, out)
    return out


# the tests -------------------------------------------------------------------------------


@pytest.mark.parametrize("side", ["mapping", "emulator"])
def test_each_table_agrees_with_gameballs_spec(openapi: dict[str, Any], side: str) -> None:
    used: set[tuple[str, str, str]] = set()
    found = []
    for description in OPERATIONS.values():
        theirs = spec_described(openapi, description)
        found += differences(side, described(side, description), theirs, used)
    assert found == [], "\n".join(found)
    stale = [key for key in ALLOWED if key[0] in (side, "both") and key not in used]
    assert stale == [], "ALLOWED entries that no longer match a difference"


def test_both_tables_know_the_same_fields(openapi: dict[str, Any]) -> None:
    # Implied by the test above; said directly so that a failure reads plainly.
    for description in OPERATIONS.values():
        assert set(described("mapping", description)) == set(described("emulator", description))


@pytest.mark.parametrize("description", OPERATIONS.values(), ids=list(OPERATIONS))
def test_each_operations_call_is_the_specs(
    openapi: dict[str, Any], description: Description
) -> None:
    call = spec_call(openapi, description)  # the path and method exist
    in_path = {
        p["name"] for p in call.get("parameters", []) if _resolve(openapi, p).get("in") == "path"
    }
    assert set(description.params) == in_path
    assert description.has_body == ("requestBody" in call)


def test_the_check_sees_a_drifted_field(openapi: dict[str, Any]) -> None:
    """Break one nested field of the emulator's table and one required flag of the mapping's,
    and the comparison must name both."""
    orders = emulator.SCHEMAS["orders"]
    order = OPERATIONS["order"]
    line_items = orders.fields["lineItems"]
    assert line_items.items is not None
    assert line_items.items.schema is not None
    item_fields = dict(line_items.items.schema.fields, productId=emulator.Field(emulator.NUMBER))
    item = dataclasses.replace(
        line_items.items,
        schema=dataclasses.replace(line_items.items.schema, fields=item_fields),
    )
    broken = dataclasses.replace(
        orders,
        fields=dict(orders.fields, lineItems=dataclasses.replace(line_items, items=item)),
    )
    ours: Described = {}
    from_emulator(broken, "order", ours)
    found = differences("emulator", ours, spec_described(openapi, order), set())
    assert found == [
        "emulator: order.lineItems[].productId: type is 'number', the spec says 'string'"
    ]

    payment = OPERATIONS["payment"]
    fields = dict(payment.body)
    fields["totalPaid"] = dataclasses.replace(fields["totalPaid"], required=False)
    ours = {}
    from_mapping(fields, "payment", ours)
    found = differences("mapping", ours, spec_described(openapi, payment), set())
    assert found == ["mapping: payment.totalPaid: required is False, the spec says True"]
