"""Compiled outputs: each turns one decoded record into one Gameball operation.

Every field is checked against Gameball's request table (`request_schema`) as the body is
built, so a body leaving here is valid by construction: a value of the wrong type is
`wrong_type`, a required one absent is `missing_field`, a bad enum value, range or date is
`invalid_operation`. Plugins' bodies, built elsewhere, are checked whole by `check_body`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from bridge.errors import MappingError
from bridge.mapping.context import RecordContext
from bridge.mapping.output_spec import Each, Free, Group, Leaf, Node, Part, parse_output
from bridge.mapping.paths import MISSING, CompiledPath, parse_path
from bridge.mapping.request_schema import (
    INT_MAX,
    INT_MIN,
    describe_value,
    free_value_problem,
    is_kind,
    is_number,
    problem,
)
from bridge.mapping.settings import EventOutput, OutputSpec
from bridge.mapping.transforms import to_timestamp
from bridge.mapping.value_spec import ObjectSpec, ValueSpec
from bridge.mapping.values import Getter, compile_value, path_getter
from bridge.operations import OPERATIONS, Field
from bridge.record import Operation, Resource

Output = Callable[[Any, RecordContext], list[Operation]]


def compile_output(spec: OutputSpec) -> Output:
    if spec.event is not None:
        return compile_event(spec.event)
    if spec.plugin is not None:
        from bridge.mapping.plugins import PluginOutput

        return PluginOutput(spec.plugin)
    configured = spec.body_output()
    if configured is None:
        raise AssertionError("OutputSpec guarantees exactly one output kind")
    name, raw = configured
    parts = [compile_operation(part) for part in parse_output(name, raw)]
    if len(parts) == 1:
        return parts[0]

    def several(doc: Any, ctx: RecordContext) -> list[Operation]:
        return [operation for part in parts for operation in part(doc, ctx)]

    return several


class _FieldCheck:
    """The checks one field's values must pass, and how to name the field in messages.

    Called with a looked-up value: returns it (converted where Gameball wants another type),
    MISSING for an absent optional value, or raises MappingError.
    """

    __slots__ = ("field", "label", "required", "source", "where")

    def __init__(self, spec: ValueSpec, field: Field, where: str) -> None:
        self.field = field
        self.required = field.required
        self.label = f"{where} ({spec.describe()})"
        self.where = where
        self.source = spec.describe()

    def _joined(self, items: list[Any], separator: str) -> Any:
        """A list for a string that holds one (Gameball's tags, "vip,gamer"): its items
        joined, or MISSING for an empty list."""
        for index, item in enumerate(items):
            if type(item) is not str or not item.strip():
                shown = describe_value(item)
                raise MappingError(
                    "wrong_type",
                    f"{self.label}: item {index}: expected a non-empty string, got {shown}",
                )
            if separator in item:
                raise MappingError(
                    "invalid_operation",
                    f"{self.label}: item {index} ({item[:40]!r}) contains {separator!r}, "
                    "which separates the items Gameball reads",
                )
        return separator.join(item.strip() for item in items) if items else MISSING

    def __call__(self, value: Any) -> Any:
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
            elif type(value) is list and field.joined is not None:
                value = self._joined(value, field.joined)
                if value is MISSING:
                    return self(None)
        elif kind == "number" and (type(value) is float or type(value) is int):
            if field.minimum is None and field.maximum is None and is_number(value):
                return value
        elif kind == "datetime":
            try:
                value = to_timestamp(value)
            except ValueError as exc:
                raise MappingError("wrong_type", f"{self.label}: {exc}") from None
            # to_timestamp only returns YYYY-MM-DDTHH:MM:SS.mmmZ (datetime's years are 1 to
            # 9999), which `problem` accepts for a date-time field; only an enum could refuse it.
            if not field.enum:
                return value
        found = problem(field, value, self.where)
        if found is not None:
            if not found.startswith(self.where + ":"):  # about a part of the value
                found = f"{found} (in the value from {self.source})"
            else:
                found = self.label + found[len(self.where) :]
            wrong = not is_kind(kind, value) or (field.non_empty and not value)
            raise MappingError("wrong_type" if wrong else "invalid_operation", found)
        return value


def _field_value(spec: ValueSpec, field: Field, where: str) -> Getter:
    """The getter for one field of a body, its value checked against the request table.

    The kinds most fields have get a closure that returns a value needing no checks at once
    (what `_FieldCheck` would do with it) and hands anything else to `_FieldCheck`.
    """
    get = compile_value(spec, where)
    check = _FieldCheck(spec, field, where)
    if field.kind == "string" and not field.enum:
        if field.non_empty:

            def non_empty_string(doc: Any, ctx: RecordContext) -> Any:
                value = get(doc, ctx)
                if type(value) is str and value:
                    return value
                return check(value)

            return non_empty_string

        def string(doc: Any, ctx: RecordContext) -> Any:
            value = get(doc, ctx)
            if type(value) is str:
                return value
            return check(value)

        return string
    if field.kind == "number" and field.minimum is None and field.maximum is None:

        def number(doc: Any, ctx: RecordContext) -> Any:
            value = get(doc, ctx)
            # Floats from a record are finite (orjson refuses NaN and 1e400), and expressions
            # and coercions refuse the others; integers may still be beyond 64 bits.
            if type(value) is float or (type(value) is int and INT_MIN <= value <= INT_MAX):
                return value
            return check(value)

        return number
    items = field.items
    if (
        field.kind == "array"
        and items is not None
        and items.kind == "string"
        and not (field.enum or field.non_empty or items.enum or items.non_empty)
    ):
        # Arrays of strings (tags, categories): `problem` would only check each item's type.
        def strings(doc: Any, ctx: RecordContext) -> Any:
            value = get(doc, ctx)
            if type(value) is list and all(type(item) is str for item in value):
                return value
            return check(value)

        return strings
    return lambda doc, ctx: check(get(doc, ctx))


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
            copied = {k: v for k, v in value.items() if k in include and v is not None}
        else:
            copied = {k: v for k, v in value.items() if k not in exclude and v is not None}
        bad = free_value_problem(copied, label)
        if bad is not None:
            raise MappingError("invalid_operation", bad)
        return copied

    return copy_object


Builder = Callable[[Any, RecordContext, dict[str, Any]], None]


def _compile_node(node: Node) -> Builder:
    key = node.key
    if isinstance(node, Leaf):
        value = _field_value(node.spec, node.field, node.where)

        def leaf(doc: Any, ctx: RecordContext, out: dict[str, Any]) -> None:
            found = value(doc, ctx)
            if found is not MISSING:
                out[key] = found

        return leaf
    if isinstance(node, Group):
        # A required field of an optional object (a payment's merchant.branch.uniqueId) is
        # required only when the object is sent: its leaf is built as optional, and checked
        # once the rest of the object is known.
        required = [
            (child.key, f"{child.where} ({child.spec.describe()}) is missing")
            for child in node.children
            if isinstance(child, Leaf) and child.field.required
        ]
        children = [
            _compile_node(
                replace(child, field=replace(child.field, required=False))
                if isinstance(child, Leaf) and child.field.required
                else child
            )
            for child in node.children
        ]

        def group(doc: Any, ctx: RecordContext, out: dict[str, Any]) -> None:
            inner: dict[str, Any] = {}
            for child in children:
                child(doc, ctx, inner)
            if inner:
                for name, missing in required:
                    if name not in inner:
                        raise MappingError("missing_field", missing)
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
                # A value of a kind the object does not take, or one too deep or not a
                # sendable number.
                unsendable = free_value_problem(inner, label) is not None
                raise MappingError("invalid_operation" if unsendable else "wrong_type", found)
            out[key] = inner

    return free


def compile_operation(part: Part) -> Output:
    """An output's operation -> its path's parameters and body. An optional part (one of
    several operations of an output) whose one value is missing or empty sends nothing."""
    description = part.description
    builders = [_compile_node(node) for node in part.nodes]
    name, resource, customer = description.name, description.bucket, description.customer
    params = description.params
    if part.optional:
        (value_key,) = description.body

    def operation(doc: Any, ctx: RecordContext) -> list[Operation]:
        body: dict[str, Any] = {}
        for build in builders:
            build(doc, ctx, body)
        if part.optional and not body.get(value_key):
            return []
        customer_id = body[customer]
        if not params:
            return [Operation(resource, customer_id, body, name)]
        values = tuple((param, body.pop(param)) for param in params)
        return [Operation(resource, customer_id, body, name, values)]

    return operation


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


def compile_event(spec: EventOutput) -> Output:
    """`event` output -> a track-events body ``{"customerId", "events": {name: metadata}}``."""
    fields = OPERATIONS["event"].body
    # The customer id and the contacts are string fields without an enum: the closure below
    # passes a string (a non-empty one for the id) as is, which is what _FieldCheck would do,
    # and saves a call per field. This check keeps that true if the table changes.
    for camel, non_empty in (("customerId", True), ("email", False), ("mobile", False)):
        field = fields[camel]
        if field.kind != "string" or field.enum or field.non_empty != non_empty:
            raise AssertionError(f"events.{camel} is no longer a plain string field")
    customer_id_of = compile_value(spec.customer_id, "event.customer_id")
    check_customer_id = _FieldCheck(spec.customer_id, fields["customerId"], "event.customer_id")
    name_of = compile_value(spec.name, "event.name")
    name_label = f"event.name ({spec.name.describe()})"
    grouped_paths, rest = _group_plain_paths(spec.metadata)
    grouped = [(path_getter(parent), keys) for parent, keys in grouped_paths]
    metadata_of = [
        (key, compile_value(value, f"event.metadata.{key}")) for key, value in rest.items()
    ]
    metadata_from = (
        _object_from(spec.metadata_from, "event.metadata_from") if spec.metadata_from else None
    )
    contacts = [
        (
            camel,
            compile_value(value, f"event.{camel}"),
            _FieldCheck(value, fields[camel], f"event.{camel}"),
        )
        for camel, value in (("email", spec.email), ("mobile", spec.mobile))
        if value is not None
    ]

    def bad_name(name: Any) -> MappingError:
        if name is MISSING or name is None:
            return MappingError("missing_field", f"{name_label} is missing")
        return MappingError(
            "wrong_type",
            f"{name_label}: expected a non-empty string, got {describe_value(name)}",
        )

    metadata_labels = {key: f"event.metadata.{key}" for key in spec.metadata}

    def check_metadata(key: str, value: Any) -> None:
        # A value copied whole from the record: refuse what could not be sent.
        bad = free_value_problem(value, metadata_labels[key])
        if bad is not None:
            raise MappingError("invalid_operation", bad)

    def event(doc: Any, ctx: RecordContext) -> list[Operation]:
        customer_id = customer_id_of(doc, ctx)
        if type(customer_id) is not str or not customer_id:
            customer_id = check_customer_id(customer_id)
        name = name_of(doc, ctx)
        if type(name) is not str or not name:
            raise bad_name(name)
        metadata = metadata_from(doc, ctx) if metadata_from is not None else {}
        for parent_of, keys in grouped:
            parent = parent_of(doc, ctx)
            if type(parent) is dict:
                for key, last in keys:
                    value = parent.get(last)
                    if value is not None:
                        kind = type(value)
                        # Scalars from a record are sendable as decoded; containers may nest
                        # too deep.
                        if kind is dict or kind is list:
                            check_metadata(key, value)
                        metadata[key] = value
        for key, get in metadata_of:
            value = get(doc, ctx)
            # An optional attribute absent from one record is not an error; it is left out.
            if value is not MISSING and value is not None:
                # Expressions and coercions have checked their numbers already.
                kind = type(value)
                if kind is dict or kind is list:
                    check_metadata(key, value)
                metadata[key] = value
        body: dict[str, Any] = {"customerId": customer_id, "events": {name: metadata}}
        for key, get, check in contacts:
            value = get(doc, ctx)
            if type(value) is not str:
                value = check(value)
                if value is MISSING:
                    continue
            body[key] = value
        return [Operation(Resource.EVENTS, customer_id, body)]

    return event
