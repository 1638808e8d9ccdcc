"""Compiled outputs: each turns one decoded record into one Gameball operation.

Every field is checked against Gameball's request table (`request_schema`) as the body is
built, so a body leaving here is valid by construction: a value of the wrong type is
`wrong_type`, a required one absent is `missing_field`, a bad enum value, range or date is
`invalid_operation`. Plugins' bodies, built elsewhere, are checked whole by `check_body`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bridge.errors import MappingError
from bridge.mapping.context import RecordContext
from bridge.mapping.output_spec import OUTPUT_RESOURCES, Each, Free, Group, Leaf, Node, parse_output
from bridge.mapping.paths import MISSING, CompiledPath, lookup, parse_path
from bridge.mapping.request_schema import Field, describe_value, is_kind, problem
from bridge.mapping.schema import EventOutput, OutputSpec
from bridge.mapping.transforms import to_timestamp
from bridge.mapping.value_spec import ObjectSpec, ValueSpec
from bridge.mapping.values import compile_value
from bridge.record import Operation, Resource

Output = Callable[[Any, RecordContext], list[Operation]]


def compile_output(spec: OutputSpec) -> Output:
    if spec.event is not None:
        event = EventOperation(spec.event)
        return lambda doc, ctx: [event(doc, ctx)]
    if spec.plugin is not None:
        from bridge.mapping.plugins import PluginOutput

        return PluginOutput(spec.plugin)
    for kind, resource in OUTPUT_RESOURCES.items():
        raw = getattr(spec, kind)
        if raw is not None:
            body = BodyOperation(resource, parse_output(kind, raw))
            return lambda doc, ctx: [body(doc, ctx)]
    raise AssertionError("OutputSpec guarantees exactly one output kind")


class _Value:
    """One field: its getter, the checks its values must pass, and how to name it."""

    __slots__ = ("field", "get", "label", "required", "source", "where")

    def __init__(self, spec: ValueSpec, field: Field, where: str) -> None:
        self.get = compile_value(spec, where)
        self.field = field
        self.required = field.required
        self.label = f"{where} ({spec.describe()})"
        self.where = where
        self.source = spec.describe()

    def __call__(self, doc: Any, ctx: RecordContext) -> Any:
        value = self.get(doc, ctx)
        if value is MISSING or value is None:
            if self.required:
                raise MappingError("missing_field", f"{self.label} is missing")
            return MISSING
        field = self.field
        kind = field.kind
        # Fast path for the common case: a plain string or number that needs no checks.
        if kind == "string":
            if type(value) is str and (value or not field.non_empty) and not field.enum:
                return value
            # Ids are often numeric in the source; Gameball wants strings.
            if type(value) is int and field.integer_ok:
                value = str(value)
        elif kind == "number" and (type(value) is float or type(value) is int):
            if field.minimum is None and field.maximum is None:
                return value
        elif kind == "datetime":
            try:
                value = to_timestamp(value)
            except ValueError as exc:
                raise MappingError("wrong_type", f"{self.label}: {exc}") from None
        found = problem(field, value, self.where)
        if found is not None:
            if not found.startswith(self.where + ":"):  # about a part of the value
                found = f"{found} (in the value from {self.source})"
            else:
                found = self.label + found[len(self.where) :]
            wrong = not is_kind(kind, value) or (field.non_empty and not value)
            raise MappingError("wrong_type" if wrong else "invalid_operation", found)
        return value


def _object_from(spec: ObjectSpec, where: str) -> Callable[[Any, RecordContext], dict[str, Any]]:
    get = compile_value(spec, where)
    include = frozenset(spec.include)
    exclude = frozenset(spec.exclude)
    label = f"{where} ({spec.describe()})"

    def copy_object(doc: Any, ctx: RecordContext) -> dict[str, Any]:
        value = get(doc, ctx)
        if value is MISSING or value is None:
            return {}
        if not isinstance(value, dict):
            raise MappingError(
                "wrong_type", f"{label}: expected an object, got {describe_value(value)}"
            )
        if include:
            return {k: v for k, v in value.items() if k in include and v is not None}
        return {k: v for k, v in value.items() if k not in exclude and v is not None}

    return copy_object


Builder = Callable[[Any, RecordContext, dict[str, Any]], None]


def _compile_node(node: Node) -> Builder:
    key = node.key
    if isinstance(node, Leaf):
        value = _Value(node.spec, node.field, node.where)

        def leaf(doc: Any, ctx: RecordContext, out: dict[str, Any]) -> None:
            found = value(doc, ctx)
            if found is not MISSING:
                out[key] = found

        return leaf
    if isinstance(node, Group):
        children = [_compile_node(child) for child in node.children]

        def group(doc: Any, ctx: RecordContext, out: dict[str, Any]) -> None:
            inner: dict[str, Any] = {}
            for child in children:
                child(doc, ctx, inner)
            if inner:
                out[key] = inner

        return group
    if isinstance(node, Each):
        return _compile_each(node)
    return _compile_free(node)


def _compile_each(node: Each) -> Builder:
    key = node.key
    items = compile_value(node.source, f"{node.where}.each")
    children = [_compile_node(child) for child in node.children]
    label = f"{node.where}.each ({node.source.describe()})"

    def each(doc: Any, ctx: RecordContext, out: dict[str, Any]) -> None:
        found = items(doc, ctx)
        if found is MISSING or found is None:
            return
        if not isinstance(found, list):
            raise MappingError(
                "wrong_type", f"{label}: expected an array, got {describe_value(found)}"
            )
        built = []
        for index, item in enumerate(found):
            inner: dict[str, Any] = {}
            try:
                for child in children:
                    child(item, ctx, inner)
            except MappingError as exc:
                raise MappingError(exc.kind, f"item {index}: {exc.message}") from None
            built.append(inner)
        out[key] = built

    return each


def _compile_free(node: Free) -> Builder:
    key = node.key
    field = node.field
    entries = [(k, compile_value(spec, f"{node.where}.{k}")) for k, spec in node.entries]
    source = _object_from(node.source, f"{node.where}_from") if node.source else None
    label = node.where

    def free(doc: Any, ctx: RecordContext, out: dict[str, Any]) -> None:
        inner = source(doc, ctx) if source is not None else {}
        for name, get in entries:
            value = get(doc, ctx)
            if value is not MISSING and value is not None:
                inner[name] = value
        if inner:
            found = problem(field, inner, label)
            if found is not None:
                raise MappingError("wrong_type", found)
            out[key] = inner

    return free


class BodyOperation:
    """An `order`, `customer` or `payment` output -> its Gameball body."""

    def __init__(self, resource: Resource, nodes: tuple[Node, ...]) -> None:
        self._resource = resource
        self._builders = [_compile_node(node) for node in nodes]

    def __call__(self, doc: Any, ctx: RecordContext) -> Operation:
        body: dict[str, Any] = {}
        for build in self._builders:
            build(doc, ctx, body)
        return Operation(self._resource, body["customerId"], body)


def _group_plain_paths(
    entries: dict[str, ValueSpec],
) -> tuple[list[tuple[CompiledPath, list[tuple[str, str]]]], dict[str, ValueSpec]]:
    """Split plain keyed paths (no transforms) by their parent, so a record's shared parent
    (``properties`` in ``properties.a``, ``properties.b``) is looked up once, not per key."""
    groups: dict[CompiledPath, list[tuple[str, str]]] = {}
    rest: dict[str, ValueSpec] = {}
    plain = {"path"}
    for key, spec in entries.items():
        path = parse_path(spec.path) if spec.path is not None else ()
        if spec.model_fields_set <= plain and len(path) > 1 and isinstance(path[-1], str):
            groups.setdefault(path[:-1], []).append((key, path[-1]))
        else:
            rest[key] = spec
    return list(groups.items()), rest


class EventOperation:
    """`event` output -> a track-events body ``{"customerId", "events": {name: metadata}}``."""

    def __init__(self, spec: EventOutput) -> None:
        from bridge.mapping.request_schema import BODIES

        fields = BODIES[Resource.EVENTS].fields
        self._customer_id = _Value(spec.customer_id, fields["customerId"], "event.customer_id")
        self._name = compile_value(spec.name, "event.name")
        self._name_label = f"event.name ({spec.name.describe()})"
        self._grouped, rest = _group_plain_paths(spec.metadata)
        self._metadata = [
            (key, compile_value(value, f"event.metadata.{key}")) for key, value in rest.items()
        ]
        self._metadata_from = (
            _object_from(spec.metadata_from, "event.metadata_from") if spec.metadata_from else None
        )
        self._contacts = [
            (camel, _Value(value, fields[camel], f"event.{camel}"))
            for camel, value in (("email", spec.email), ("mobile", spec.mobile))
            if value is not None
        ]

    def __call__(self, doc: Any, ctx: RecordContext) -> Operation:
        customer_id = self._customer_id(doc, ctx)
        name = self._name(doc, ctx)
        if name is MISSING or name is None:
            raise MappingError("missing_field", f"{self._name_label} is missing")
        if type(name) is not str or not name:
            raise MappingError(
                "wrong_type",
                f"{self._name_label}: expected a non-empty string, got {describe_value(name)}",
            )
        metadata = self._metadata_from(doc, ctx) if self._metadata_from is not None else {}
        for parent_path, keys in self._grouped:
            parent = lookup(doc, parent_path)
            if type(parent) is dict:
                for key, last in keys:
                    value = parent.get(last)
                    if value is not None:
                        metadata[key] = value
        for key, get in self._metadata:
            value = get(doc, ctx)
            # An optional attribute absent from one record is not an error; it is left out.
            if value is not MISSING and value is not None:
                metadata[key] = value
        body: dict[str, Any] = {"customerId": customer_id, "events": {name: metadata}}
        for key, contact in self._contacts:
            value = contact(doc, ctx)
            if value is not MISSING:
                body[key] = value
        return Operation(Resource.EVENTS, customer_id, body)
