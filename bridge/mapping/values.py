"""Compiled value getters: a `ValueSpec` from the config becomes `record value -> value`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bridge.mapping.paths import lookup, parse_path
from bridge.mapping.schema import ValueSpec

Getter = Callable[[Any], Any]


def compile_value(spec: ValueSpec) -> Getter:
    """Return a getter that yields the value, or MISSING when the path is absent."""
    if spec.path is not None:
        path = parse_path(spec.path)
        return lambda doc: lookup(doc, path)
    const = spec.const
    return lambda _doc: const


def describe(spec: ValueSpec) -> str:
    """How the value is found, for error messages: ``path user.id`` or ``constant 'x'``."""
    return f"path {spec.path}" if spec.path is not None else f"constant {spec.const!r}"


def type_name(value: Any) -> str:
    """JSON's name for a decoded value's type, for error messages."""
    if value is None:
        return "null"
    return {
        bool: "boolean",
        int: "integer",
        float: "number",
        str: "string",
        list: "array",
        dict: "object",
    }.get(type(value), type(value).__name__)
