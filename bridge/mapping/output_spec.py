"""The outputs the operation table describes (`order`, `customer`, `payment`, ...: every
output but `event` and `plugin`): their config is read against the operation's description
(`bridge.operations`), so every field name, nesting and requirement comes from one place.

Config keys are the snake_case of Gameball's camelCase keys (`total_paid` -> `totalPaid`),
the path's parameters included (`customer_id` for ``customers/{customerId}``). An output of
several operations (`customer_tags`) takes the parameters they share, and one key per
operation (`add`, `remove`) holding the value of that operation's one body field; an
operation whose key is not given, or whose value is missing or empty, is not sent.
A field is one of:

- a value (any `ValueSpec` form), checked against the field's type when the record is mapped;
- for an object field (`merchant`, `customer_attributes`, ...): a mapping of its own fields;
- for an array of objects (`line_items`, `payment_details`): ``{each: <array value>,
  fields: {...}}``, whose field values are read relative to each item;
- for a free-form object (`extra`, `custom`): a mapping of Gameball key -> value, plus
  ``<name>_from: {path: ..., include/exclude: [...]}`` to copy a whole object.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from pydantic import ValidationError

from bridge.mapping.value_spec import ObjectSpec, ValueSpec, unknown_key
from bridge.operations import OUTPUTS, Description, Field

# The outputs built from their description's fields (`event` has a shape of its own).
BODY_OUTPUTS: tuple[str, ...] = tuple(name for name in OUTPUTS if name != "event")


def snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


@dataclass(frozen=True, slots=True)
class Leaf:
    key: str
    field: Field
    spec: ValueSpec
    where: str


@dataclass(frozen=True, slots=True)
class Group:
    key: str
    field: Field
    children: tuple[Node, ...]
    where: str


@dataclass(frozen=True, slots=True)
class Each:
    key: str
    field: Field
    source: ValueSpec
    children: tuple[Node, ...]
    where: str


@dataclass(frozen=True, slots=True)
class Free:
    key: str
    field: Field
    entries: tuple[tuple[str, ValueSpec], ...]
    source: ObjectSpec | None
    where: str


Node = Leaf | Group | Each | Free

_VALUE_KEYS = frozenset(ValueSpec.model_fields)


@dataclass(frozen=True, slots=True)
class Part:
    """One operation of an output, and the nodes that build its path's parameters and body.
    `optional`: an operation of a several-operation output, sent only when its value is."""

    description: Description
    nodes: tuple[Node, ...]
    optional: bool = False


def parse_output(output: str, raw: Any) -> tuple[Part, ...]:
    """Read an output's config into its operations' nodes; raise ValueError naming the
    field."""
    descriptions = OUTPUTS[output]
    if len(descriptions) > 1:
        return _parse_parts(output, descriptions, raw)
    description = descriptions[0]
    fields = description.fields()
    nodes = _parse_fields(fields, raw, output)
    configured = {node.key for node in nodes}
    missing = [snake(k) for k, f in fields.items() if f.required and k not in configured]
    if missing:
        raise ValueError(
            f"{output} output: {', '.join(missing)} required (Gameball refuses a "
            f"{output} without {' and '.join(missing)})"
        )
    return (Part(description, nodes),)


def _parse_parts(output: str, descriptions: tuple[Description, ...], raw: Any) -> tuple[Part, ...]:
    """An output of several operations: the parameters they share, and a key per part."""
    if not isinstance(raw, dict):
        raise ValueError(f"{output}: expected a mapping of fields, got {type(raw).__name__}")
    params = descriptions[0].params
    shared = {snake(p): p for p in params}
    by_part = {d.part: d for d in descriptions if d.part is not None}
    valid = [*shared, *by_part]
    for name in raw:
        if name not in valid:
            raise ValueError(unknown_key(name, valid, output))
    missing = [name for name in shared if name not in raw]
    if missing:
        raise ValueError(f"{output} output: {', '.join(missing)} required")
    given = [part for part in by_part if part in raw]
    if not given:
        raise ValueError(f"{output} output: give at least one of {', '.join(by_part)}")
    parts = []
    for part in given:
        description = by_part[part]
        (body_key,) = description.body
        fields = description.fields()
        nodes = [_parse_field(p, fields[p], raw[snake(p)], f"{output}.{snake(p)}") for p in params]
        # Built as optional: a part whose value is missing or empty is not sent at all.
        optional = replace(description.body[body_key], required=False, non_empty=False)
        nodes.append(_parse_field(body_key, optional, raw[part], f"{output}.{part}"))
        parts.append(Part(description, tuple(nodes), optional=True))
    return tuple(parts)


def _value(raw: Any, where: str, cls: type[ValueSpec] = ValueSpec) -> Any:
    try:
        return cls.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors(include_url=False, include_input=False)[0]
        inner = ".".join(str(p) for p in err["loc"] if "[" not in str(p))
        msg = err["msg"].removeprefix("Value error, ")
        raise ValueError(f"{where}{'.' + inner if inner else ''}: {msg}") from None


def _parse_fields(fields: Mapping[str, Field], raw: Any, where: str) -> tuple[Node, ...]:
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: expected a mapping of fields, got {type(raw).__name__}")
    by_snake = {snake(k): k for k in fields}
    frees = {f"{snake(k)}_from": k for k, f in fields.items() if f.kind == "map"}
    valid = [*by_snake, *frees]
    nodes: list[Node] = []
    sources: dict[str, ObjectSpec] = {}
    for name, value in raw.items():
        if name in frees:
            sources[frees[name]] = _value(value, f"{where}.{name}", ObjectSpec)
            continue
        key = by_snake.get(name)
        if key is None:
            raise ValueError(unknown_key(name, valid, f"{where}"))
        nodes.append(_parse_field(key, fields[key], value, f"{where}.{name}"))
    for key, source in sources.items():
        existing = next((n for n in nodes if n.key == key), None)
        if existing is None:
            nodes.append(Free(key, fields[key], (), source, f"{where}.{snake(key)}"))
        else:
            assert isinstance(existing, Free)
            nodes[nodes.index(existing)] = Free(
                key, existing.field, existing.entries, source, existing.where
            )
    return tuple(nodes)


def _is_value(raw: Any) -> bool:
    return not isinstance(raw, dict) or (bool(raw) and raw.keys() <= _VALUE_KEYS)


def _parse_field(key: str, field: Field, raw: Any, where: str) -> Node:
    if field.kind == "map":
        if not isinstance(raw, dict):
            raise ValueError(
                f"{where}: expected a mapping of key -> value (use {snake(key)}_from "
                "to copy a whole object)"
            )
        entries = tuple((k, _value(v, f"{where}.{k}")) for k, v in raw.items())
        return Free(key, field, entries, None, where)
    if field.kind == "object" and field.fields is not None and not _is_value(raw):
        children = _parse_fields(field.fields, raw, where)
        configured = {child.key for child in children}
        missing = [snake(k) for k, f in field.fields.items() if f.required and k not in configured]
        if missing:
            raise ValueError(
                f"{where}: {', '.join(missing)} required (Gameball refuses a {snake(key)} "
                f"without {' and '.join(missing)})"
            )
        return Group(key, field, children, where)
    if field.kind == "array" and isinstance(raw, dict) and "each" in raw:
        item = field.items
        if item is None or item.fields is None:
            raise ValueError(f"{where}: 'each' builds arrays of objects; give a value instead")
        extra = sorted(raw.keys() - {"each", "fields"})
        if extra:
            raise ValueError(unknown_key(extra[0], ["each", "fields"], where))
        source = _value(raw["each"], f"{where}.each")
        children = _parse_fields(item.fields, raw.get("fields", {}), f"{where}.fields")
        if not children:
            raise ValueError(f"{where}.fields: give at least one field of each item")
        return Each(key, field, source, children, where)
    return Leaf(key, field, _value(raw, where), where)
