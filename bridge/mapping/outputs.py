"""Compiled outputs: each turns one decoded record into one Gameball operation."""

from __future__ import annotations

from typing import Any

from bridge.errors import MappingError
from bridge.mapping.paths import MISSING
from bridge.mapping.schema import EventOutput, ValueSpec
from bridge.mapping.values import compile_value, describe, type_name
from bridge.record import Operation, Resource


class _Field:
    """One output field: where it comes from, and the checks every value must pass."""

    __slots__ = ("get", "name", "source")

    def __init__(self, name: str, spec: ValueSpec) -> None:
        self.name = name
        self.get = compile_value(spec)
        self.source = describe(spec)

    def required(self, doc: Any) -> Any:
        value = self.get(doc)
        if value is MISSING or value is None:
            raise MappingError("missing_field", f"{self.name} ({self.source}) is missing")
        return value

    def string(self, value: Any, *, allow_int: bool) -> str:
        if isinstance(value, str) and value:
            return value
        # A customer id is often numeric in the source; Gameball wants a string.
        if allow_int and isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        expected = "a non-empty string or an integer" if allow_int else "a non-empty string"
        raise MappingError(
            "wrong_type",
            f"{self.name} ({self.source}): expected {expected}, got {type_name(value)}",
        )


class EventOperation:
    """`event` output -> a track-events body ``{"customerId", "events": {name: metadata}}``."""

    def __init__(self, spec: EventOutput) -> None:
        self._customer_id = _Field("customer_id", spec.customer_id)
        self._name = _Field("event name", spec.name)
        self._metadata = [(key, compile_value(value)) for key, value in spec.metadata.items()]
        self._contacts = [
            _Field(key, value)
            for key, value in (("email", spec.email), ("mobile", spec.mobile))
            if value is not None
        ]

    def __call__(self, doc: Any) -> Operation:
        customer_id = self._customer_id.string(self._customer_id.required(doc), allow_int=True)
        name = self._name.string(self._name.required(doc), allow_int=False)
        metadata: dict[str, Any] = {}
        for key, get in self._metadata:
            value = get(doc)
            # An optional attribute absent from one record is not an error; it is left out.
            if value is not MISSING and value is not None:
                metadata[key] = value
        body: dict[str, Any] = {"customerId": customer_id, "events": {name: metadata}}
        for contact in self._contacts:
            value = contact.get(doc)
            if value is not MISSING and value is not None:
                body[contact.name] = contact.string(value, allow_int=False)
        return Operation(Resource.EVENTS, customer_id, body)
