"""The body check: what is wrong with a value for a field of Gameball's request bodies.

The fields come from the operation table (`bridge.operations`: types, enums, date-times,
ranges, nested objects). `problem` is the per-field check an output makes while it builds a
body; `check_operation` validates a whole operation (a plugin's, for instance) before it is
sent. The unit tests cross-check every description against Gameball's own spec.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from bridge.errors import MappingError
from bridge.operations import TRACKING, Description, Field, Kind, Resource

_ARTICLE: Mapping[str, str] = {
    "string": "a string",
    "number": "a number",
    "integer": "an integer",
    "boolean": "a boolean",
    "datetime": "an ISO 8601 date-time string with an offset (2024-10-16T08:13:29.290Z)",
    "object": "an object",
    "array": "an array",
    "map": "an object",
}

# RFC 3339 as OpenAPI's `format: date-time` reads it: a date, a time and an offset.
_DATE_TIME = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})"
)


# What a body may hold and still be sent. orjson, which encodes bodies, refuses integers beyond
# 64 bits and nesting deeper than 254 levels (and writes NaN and infinities as null); Gameball
# reads numbers as signed 64-bit integers or doubles. A value copied whole from a record (event
# metadata, `custom`) may nest at most MAX_NESTING levels, which leaves room for the body's own.
INT_MIN = -(2**63)
INT_MAX = 2**63 - 1
MAX_NESTING = 200


def is_number(value: int | float) -> bool:
    """A number Gameball can read: finite, and an integer within signed 64 bits."""
    if isinstance(value, float):
        return math.isfinite(value)
    return INT_MIN <= value <= INT_MAX


def free_value_problem(value: Any, where: str) -> str | None:
    """What makes a free-form value (one the request table does not describe inside) unsendable:
    nesting deeper than MAX_NESTING, or a number `is_number` refuses. None when it is fine.
    Iterative, so a record nested a thousand levels costs a loop, not the stack."""
    if not isinstance(value, dict | list):
        if isinstance(value, int | float) and not isinstance(value, bool) and not is_number(value):
            return f"{where}: {_number_problem(value)}"
        return None
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        container, depth = stack.pop()
        for item in container.values() if isinstance(container, dict) else container:
            if isinstance(item, dict | list):
                if depth >= MAX_NESTING:
                    return f"{where}: nested deeper than {MAX_NESTING} levels"
                stack.append((item, depth + 1))
            elif (
                isinstance(item, int | float) and not isinstance(item, bool) and not is_number(item)
            ):
                return f"{where}: contains {_number_problem(item)}"
    return None


def _number_problem(value: int | float) -> str:
    if isinstance(value, float):
        return f"a number that is not finite ({value})"
    return "an integer beyond 64 bits"


def is_kind(kind: Kind, value: Any) -> bool:
    if kind == "string":
        return isinstance(value, str)
    if kind in ("number", "integer"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        return kind == "number" or isinstance(value, int) or value.is_integer()
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "datetime":
        return isinstance(value, str) and is_date_time(value)
    if kind in ("object", "map"):
        return isinstance(value, dict)
    return isinstance(value, list)


def is_date_time(value: str) -> bool:
    if _DATE_TIME.fullmatch(value) is None:
        return False
    try:
        datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        return False
    return True


def expected(kind: Kind) -> str:
    return _ARTICLE[kind]


def problem(spec: Field, value: Any, where: str) -> str | None:
    """What is wrong with `value` for the field `spec` at `where`, or None when it is valid.
    The value is quoted only when the field is not personal data (`is_personal`)."""
    if not is_kind(spec.kind, value):
        shown = describe_value(value, is_personal(where))
        return f"{where}: expected {_ARTICLE[spec.kind]}, got {shown}"
    if spec.non_empty and not value:
        return f"{where}: expected a non-empty {spec.kind}, got {describe_value(value)}"
    if spec.enum and value not in spec.enum:
        shown = describe_value(value, True) if is_personal(where) else repr(value)
        return f"{where}: expected one of {', '.join(spec.enum)}, got {shown}"
    if isinstance(value, int | float) and not isinstance(value, bool):
        if not is_number(value):
            return f"{where}: {_number_problem(value)}"
        if spec.minimum is not None and value < spec.minimum:
            return f"{where}: must be at least {spec.minimum:g}, got {value}"
        if spec.maximum is not None and value > spec.maximum:
            return f"{where}: must be at most {spec.maximum:g}, got {value}"
    if isinstance(value, list):
        if spec.items is None:
            return free_value_problem(value, where)
        for index, item in enumerate(value):
            found = problem(spec.items, item, f"{where}[{index}]")
            if found is not None:
                return found
    if isinstance(value, dict):
        if spec.fields is not None:
            return object_problem(spec.fields, value, where)
        if spec.kind == "map":
            for key, item in value.items():
                if not key:
                    return f"{where}: has an empty key"
                if spec.values and not any(is_kind(k, item) for k in spec.values):
                    kinds = " or ".join(_ARTICLE[k] for k in spec.values)
                    shown = describe_value(item, is_personal(key))
                    return f"{where}.{key}: expected {kinds}, got {shown}"
            # Values the table does not describe inside (`custom`, events' metadata).
            return free_value_problem(value, where)
    return None


def object_problem(fields: Mapping[str, Field], value: dict[str, Any], where: str) -> str | None:
    prefix = f"{where}." if where else ""
    for name, spec in fields.items():
        if spec.required and value.get(name) is None:
            return f"{prefix}{name}: required, and missing"
    for name, item in value.items():
        spec_ = fields.get(name)
        if spec_ is None:
            return f"{prefix}{name}: not a field of this request (known: {', '.join(fields)})"
        # Gameball reads an explicit null as absent; the bridge never sends one itself.
        if item is not None:
            found = problem(spec_, item, prefix + name)
            if found is not None:
                return found
    return None


def check_body(resource: Resource, body: Any) -> None:
    """Raise MappingError(invalid_operation) saying precisely what is wrong with `body`, a
    body for `resource`'s tracking call."""
    check_operation(TRACKING[resource], body, {}, where=resource.value)


def check_operation(
    description: Description, body: Any, params: Mapping[str, Any], where: str | None = None
) -> None:
    """Raise MappingError(invalid_operation) saying precisely what is wrong with an
    operation: its body against the description's fields, and its path's parameters (each a
    non-empty string)."""
    where = where or description.name
    if not isinstance(body, dict):
        raise MappingError(
            "invalid_operation", f"{where} body: expected an object, got {describe_value(body)}"
        )
    for name in description.params:
        value = params.get(name)
        if not isinstance(value, str) or not value:
            raise MappingError(
                "invalid_operation",
                f"{where} path parameter {name}: expected a non-empty string, "
                f"got {describe_value(value)}",
            )
    unknown = sorted(params.keys() - set(description.params))
    if unknown:
        raise MappingError(
            "invalid_operation", f"{where}: {unknown[0]!r} is not a parameter of its path"
        )
    found = object_problem(description.body, body, "")
    if found is not None:
        raise MappingError("invalid_operation", f"{where} body: {found}")


# Field names that hold personal data: an error about such a field names the value's type and
# never the value, which goes into logs and dead-letter headers that logging.pii does not see
# (it hashes log keys, not text inside messages).
_PERSONAL = re.compile(r"e-?mail|mobile|phone", re.IGNORECASE)


def is_personal(where: str) -> bool:
    """Whether the field `where` (``customer.customer_attributes.email``) is personal data:
    its own name, the last part, says email, mobile or phone."""
    return _PERSONAL.search(where.rsplit(".", 1)[-1]) is not None


def describe_value(value: Any, personal: bool = False) -> str:
    """JSON's name for the value's type, with a short rendering of scalars unless `personal`."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    name = {int: "integer", float: "number", str: "string", list: "array", dict: "object"}.get(
        type(value), type(value).__name__
    )
    if personal:
        return name
    if isinstance(value, str | int | float):
        text = repr(value)
        return f"{name} {text[:40]}{'...' if len(text) > 40 else ''}"
    return name
