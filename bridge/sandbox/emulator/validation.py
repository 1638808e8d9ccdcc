"""Request body schemas, read from the bridge's operation table, and the checks Gameball makes.

The schemas are the table's (`bridge.operations`, held against Gameball's OpenAPI spec by a
unit test, as these are); the checks are the emulator's own code, answering as Gameball does
(3000 for a missing argument, 3001 for a null one, 3003 for an invalid value). Fields outside
a schema are accepted unchecked, and an optional field sent as null is accepted: the emulator
should reject what Gameball rejects, not be stricter than it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bridge import operations

from .endpoints import ENDPOINTS

STRING = "string"
NUMBER = "number"
INTEGER = "integer"
BOOLEAN = "boolean"
OBJECT = "object"
ARRAY = "array"


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_integer(value: object) -> bool:
    if isinstance(value, float):
        return value.is_integer()
    return isinstance(value, int) and not isinstance(value, bool)


_TYPE_CHECKS: dict[str, Callable[[object], bool]] = {
    STRING: lambda v: isinstance(v, str),
    NUMBER: _is_number,
    INTEGER: _is_integer,
    BOOLEAN: lambda v: isinstance(v, bool),
    OBJECT: lambda v: isinstance(v, dict),
    ARRAY: lambda v: isinstance(v, list),
}

_ARTICLE = {STRING: "a string", NUMBER: "a number", INTEGER: "an integer"}
_ARTICLE |= {BOOLEAN: "a boolean", OBJECT: "an object", ARRAY: "an array"}


@dataclass(frozen=True, slots=True)
class Field:
    type: str
    enum: tuple[str, ...] | None = None
    date_time: bool = False
    minimum: float | None = None
    maximum: float | None = None
    non_empty: bool = False
    items: Field | None = None  # for arrays
    values: tuple[str, ...] | None = None  # allowed value types of a free-form object
    schema: Schema | None = None  # known properties of an object


@dataclass(frozen=True, slots=True)
class Schema:
    fields: Mapping[str, Field]
    required: tuple[str, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class Problem:
    status: int
    code: int
    message: str


def _field(spec: operations.Field) -> Field:
    """The emulator's reading of one field of the operation table: what Gameball accepts
    there (a field the bridge normalises more strictly than the spec asks, such as a date of
    birth it sends as ISO 8601, takes any string)."""
    kind = spec.kind
    return Field(
        type=_TYPES.get(kind, kind),
        enum=spec.enum or None,
        date_time=kind == "datetime" and not spec.stricter_than_gameball,
        minimum=spec.minimum,
        maximum=spec.maximum,
        non_empty=spec.non_empty,
        items=_field(spec.items) if spec.items is not None else None,
        values=tuple(_TYPES.get(k, k) for k in spec.values) or None,
        schema=schema_of(spec.fields) if spec.fields is not None else None,
    )


def schema_of(fields: Mapping[str, operations.Field]) -> Schema:
    return Schema(
        {name: _field(spec) for name, spec in fields.items()},
        required=tuple(name for name, spec in fields.items() if spec.required),
    )


_TYPES = {"datetime": STRING, "map": OBJECT}

# Per endpoint (endpoints.py): its body's schema, from the operation table.
SCHEMAS: Mapping[str, Schema] = {e.name: schema_of(e.description.body) for e in ENDPOINTS}


def validate(resource: str, body: dict[str, Any]) -> Problem | None:
    """Check a parsed body against the resource's schema; None means acceptable."""
    return _check_object(SCHEMAS[resource], body, "")


def _check_object(schema: Schema, body: dict[str, Any], prefix: str) -> Problem | None:
    missing = [name for name in schema.required if name not in body]
    if missing:
        names = ", ".join(prefix + name for name in missing)
        return Problem(400, 3000, f"Missing required argument(s): {names}")
    for name in schema.required:
        if body[name] is None:
            return Problem(422, 3001, f"'{prefix}{name}' must not be null")
    for name, value in body.items():
        spec = schema.fields.get(name)
        if spec is not None and value is not None:
            problem = _check_value(spec, value, prefix + name)
            if problem is not None:
                return problem
    return None


def _check_value(spec: Field, value: object, where: str) -> Problem | None:
    if not _TYPE_CHECKS[spec.type](value):
        return _invalid(f"'{where}' must be {_ARTICLE[spec.type]}")
    if spec.non_empty and not value:
        return _invalid(f"'{where}' must not be empty")
    if spec.enum is not None and value not in spec.enum:
        return _invalid(f"'{where}' must be one of {', '.join(spec.enum)}")
    if spec.date_time and not _is_date_time(value):
        return _invalid(f"'{where}' must be an ISO 8601 date-time")
    if isinstance(value, int | float):
        if spec.minimum is not None and value < spec.minimum:
            return _invalid(f"'{where}' must be at least {spec.minimum:g}")
        if spec.maximum is not None and value > spec.maximum:
            return _invalid(f"'{where}' must be at most {spec.maximum:g}")
    if isinstance(value, list) and spec.items is not None:
        for index, item in enumerate(value):
            problem = _check_value(spec.items, item, f"{where}[{index}]")
            if problem is not None:
                return problem
    if isinstance(value, dict):
        if spec.schema is not None:
            return _check_object(spec.schema, value, where + ".")
        if spec.values is not None:
            return _check_map_values(spec.values, value, where)
    return None


def _check_map_values(types: tuple[str, ...], value: dict[str, Any], where: str) -> Problem | None:
    checks = [_TYPE_CHECKS[t] for t in types]
    for key, item in value.items():
        if not key:
            return _invalid(f"'{where}' has an empty key")
        if not any(check(item) for check in checks):
            kinds = " or ".join(_ARTICLE[t] for t in types)
            return _invalid(f"'{where}.{key}' must be {kinds}")
    return None


def _is_date_time(value: object) -> bool:
    if not isinstance(value, str) or len(value) < 10:
        return False
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def _invalid(message: str) -> Problem:
    return Problem(422, 3003, message)
