"""Compiled values: a `ValueSpec` becomes a getter ``(doc, context) -> value``.

A getter returns MISSING when the value is absent, and raises MappingError when a transform
or an expression cannot be applied; the message names the field (`where`) and the source.
Getters without transforms are a bare lookup, so path-only rules stay close to hand-written
code.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import jmespath.exceptions

from bridge.errors import MappingError
from bridge.mapping.context import RecordContext
from bridge.mapping.expressions import compile_expression
from bridge.mapping.paths import MISSING, CompiledPath, lookup, parse_path, parse_template
from bridge.mapping.request_schema import describe_value, free_value_problem, is_personal
from bridge.mapping.transforms import COERCIONS, drop_nulls, to_string, to_timestamp
from bridge.mapping.value_spec import ValueSpec

Getter = Callable[[Any, RecordContext], Any]


def compile_value(spec: ValueSpec, where: str) -> Getter:
    """The getter for `spec`; `where` names the field in error messages."""
    label = f"{where} ({spec.describe()})"
    get = _source(spec, label)
    if spec.default is None and spec.map is None and spec.type is None and not spec.drop_nulls:
        return get
    return _with_transforms(spec, get, label, is_personal(where))


def _source(spec: ValueSpec, label: str) -> Getter:
    if spec.path is not None:
        return path_getter(parse_path(spec.path))
    if spec.expr is not None:
        return _expr_getter(spec.expr, label)
    if spec.template is not None:
        return _template_getter(spec.template, label)
    if spec.header is not None:
        name = spec.header
        return lambda _doc, ctx: ctx.headers.get(name, MISSING)
    if spec.kafka is not None:
        return _kafka_getter(spec.kafka)
    const = spec.const
    if isinstance(const, dict | list):
        # A fresh copy per record: an operation's body must not share a list with the config.
        return lambda _doc, _ctx: copy.deepcopy(const)
    return lambda _doc, _ctx: const


def path_getter(path: CompiledPath) -> Getter:
    """The getter for a parsed path; one or two keys (the usual case) skip `lookup`'s loop."""
    if len(path) == 1 and isinstance(path[0], str):
        key = path[0]
        return lambda doc, _ctx: doc.get(key, MISSING) if type(doc) is dict else MISSING
    if len(path) == 2 and isinstance(path[0], str) and isinstance(path[1], str):
        first, second = path

        def two(doc: Any, _ctx: RecordContext) -> Any:
            inner = doc.get(first) if type(doc) is dict else None
            return inner.get(second, MISSING) if type(inner) is dict else MISSING

        return two
    return lambda doc, _ctx: lookup(doc, path)


def _expr_getter(expression: str, label: str) -> Getter:
    # Compiled once into closures; each record only runs them.
    compiled = compile_expression(expression)

    def search(doc: Any, _ctx: RecordContext) -> Any:
        try:
            found = compiled(doc)
        # jmespath raises TypeError for an ordering comparison of a string with a number (a
        # filter such as items[?sku > `1`] on string skus), OverflowError for floor(Infinity),
        # ValueError and RecursionError from its functions on odd or very deep values: like a
        # function's type error, facts about this record, not reasons to let an exception out
        # of the mapper. (The stack below here is the expression's, so a RecursionError is
        # caught close to where it was raised.)
        except (
            jmespath.exceptions.JMESPathError,
            TypeError,
            ValueError,
            OverflowError,
            RecursionError,
        ) as exc:
            raise MappingError("expression_failed", f"{label}: {exc}") from None
        # JMESPath answers null for "not there"; the bridge treats it as missing.
        if found is None:
            return MISSING
        # to_number('NaN'), sum() past the largest double, to_number of a 30-digit string, a
        # very deep object: a result orjson would write as null or refuse.
        if type(found) is not str:
            bad = free_value_problem(found, label)
            if bad is not None:
                raise MappingError("expression_failed", f"{bad} (the expression's result)")
        return found

    return search


def _template_getter(template: str, label: str) -> Getter:
    parts = parse_template(template)

    def render(doc: Any, _ctx: RecordContext) -> Any:
        out = []
        for part in parts:
            if isinstance(part, str):
                out.append(part)
                continue
            value = lookup(doc, part)
            if value is MISSING or value is None:
                return MISSING
            if isinstance(value, dict | list):
                raise MappingError(
                    "wrong_type", f"{label}: a placeholder is {describe_value(value)}, not text"
                )
            out.append(to_string(value))
        return "".join(out)

    return render


def _kafka_getter(name: str) -> Getter:
    if name.startswith("key."):
        key_path = parse_path(name.removeprefix("key."))

        def get_in_key(_doc: Any, ctx: RecordContext) -> Any:
            return lookup(ctx.key, key_path)

        return get_in_key

    def get(_doc: Any, ctx: RecordContext) -> Any:
        value = getattr(ctx, "timestamp_ms" if name == "timestamp" else name)
        return MISSING if value is None else value

    return get


def _with_transforms(spec: ValueSpec, get: Getter, label: str, personal: bool) -> Getter:
    transform = _transform(spec, label, personal)
    mapping = spec.map
    if (
        mapping is not None
        and spec.unmapped == "keep"
        and spec.default is None
        and spec.type is None
        and not spec.drop_nulls
    ):
        # A value map alone (event names, typically): a string is looked up directly, which is
        # what `transform` does with it; anything else takes the general way.
        def mapped(doc: Any, ctx: RecordContext) -> Any:
            value = get(doc, ctx)
            if type(value) is str:
                return mapping.get(value, value)
            return transform(value)

        return mapped
    coerce = COERCIONS.get(spec.type) if spec.type is not None else None
    if coerce is not None and spec.default is None and mapping is None and not spec.drop_nulls:
        # A type coercion alone (`{path: price, type: number}`): what `transform` does with it.
        def coerced(doc: Any, ctx: RecordContext) -> Any:
            value = get(doc, ctx)
            if value is MISSING or value is None:
                return value
            try:
                return coerce(value)
            except ValueError as exc:
                raise _coercion_failed(label, exc, value, spec.type, personal) from None

        return coerced
    return lambda doc, ctx: transform(get(doc, ctx))


def _transform(spec: ValueSpec, label: str, personal: bool) -> Callable[[Any], Any]:
    default = spec.default
    mapping = spec.map
    unmapped = spec.unmapped
    coerce = COERCIONS.get(spec.type) if spec.type is not None else None
    timestamp = spec.type == "timestamp"
    unit = spec.unit or "auto"
    nulls = spec.drop_nulls

    def transform(value: Any) -> Any:
        if value is MISSING or value is None:
            if default is None:
                return value
            value = copy.deepcopy(default)
        if mapping is not None:
            key = value if isinstance(value, str) else _map_key(value)
            if key is not None and key in mapping:
                value = mapping[key]
            elif unmapped == "drop":
                return MISSING
            elif unmapped == "error":
                raise MappingError(
                    "unmapped_value",
                    f"{label}: {describe_value(value, personal)} is not in the value map "
                    f"(known: {', '.join(list(mapping)[:10])})",
                )
        try:
            if coerce is not None:
                value = coerce(value)
            elif timestamp:
                value = to_timestamp(value, unit)
        except ValueError as exc:
            raise _coercion_failed(label, exc, value, spec.type, personal) from None
        if not nulls:
            return value
        try:
            return drop_nulls(value)
        except ValueError as exc:
            raise MappingError("invalid_operation", f"{label}: {exc}") from None

    return transform


def _map_key(value: Any) -> str | None:
    try:
        return to_string(value)
    except ValueError:
        return None


def _coercion_failed(
    label: str, exc: ValueError, value: Any, to: str | None, personal: bool
) -> MappingError:
    if personal:  # the transform's reason quotes the value
        reason = f"cannot make {'a ' + to if to else 'a value'} of {describe_value(value, True)}"
        return MappingError("wrong_type", f"{label}: {reason}")
    return MappingError("wrong_type", f"{label}: {exc}")
