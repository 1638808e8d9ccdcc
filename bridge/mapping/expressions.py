"""JMESPath expressions compiled once into closures ``value -> result``.

`jmespath.search` walks the parsed tree for every record, dispatching on each node's type by
name. The node types mapping rules use most (fields, sub-expressions, ``||``, ``&&``, ``!``,
``[a, b]``, indexes, ``[*]`` projections, literals, function calls) become closures here,
each doing what jmespath's `TreeInterpreter` (1.x) does for that node. Any other node is
handed, with its subtree, to the interpreter itself, so a result is jmespath's in every case;
the unit tests compare the two on a table of expressions and documents.
"""

from __future__ import annotations

from collections.abc import Callable
from numbers import Number
from typing import TYPE_CHECKING, Any

import jmespath
import jmespath.functions
import jmespath.visitor

if TYPE_CHECKING:
    from jmespath.visitor import _TreeNode  # the stubs' name for a parsed node

Search = Callable[[Any], Any]

# Owned here so function calls can go straight to it; the interpreter (for the other node
# types) uses the same one. Neither keeps state between searches.
_FUNCTIONS = jmespath.functions.Functions()
_INTERPRETER = jmespath.visitor.TreeInterpreter(jmespath.Options(custom_functions=_FUNCTIONS))


def compile_expression(expression: str) -> Search:
    """The closure for `expression`; raises jmespath's errors as `jmespath.search` would."""
    return _compile(jmespath.compile(expression).parsed)


def is_false(value: Any) -> bool:
    """JMESPath's falsy values: empty string, array and object, null, false (not 0)."""
    return value == "" or value == [] or value == {} or value is None or value is False


def _compile(node: _TreeNode) -> Search:
    kind = node["type"]
    if kind == "field":
        key = node["value"]
        return lambda value: value.get(key) if isinstance(value, dict) else None
    if kind in ("subexpression", "index_expression", "pipe"):
        return _chain([_compile(child) for child in node["children"]])
    if kind == "or_expression":
        left, right = (_compile(child) for child in node["children"])

        def either(value: Any) -> Any:
            matched = left(value)
            return right(value) if is_false(matched) else matched

        return either
    if kind == "and_expression":
        left, right = (_compile(child) for child in node["children"])

        def both(value: Any) -> Any:
            matched = left(value)
            return matched if is_false(matched) else right(value)

        return both
    if kind == "not_expression":
        inner = _compile(node["children"][0])

        def negation(value: Any) -> bool:
            found = inner(value)
            # Numbers are never falsy in JMESPath, 0 included: !0 is false, as !5 is.
            if isinstance(found, Number) and not isinstance(found, bool):
                return False
            return not found

        return negation
    if kind == "multi_select_list":
        parts = [_compile(child) for child in node["children"]]
        return lambda value: None if value is None else [part(value) for part in parts]
    if kind == "index":
        index = node["value"]

        def item(value: Any) -> Any:
            if not isinstance(value, list):
                return None
            try:
                return value[index]
            except IndexError:
                return None

        return item
    if kind == "projection":
        base, each = (_compile(child) for child in node["children"])

        def projection(value: Any) -> Any:
            found = base(value)
            if not isinstance(found, list):
                return None
            return [x for x in (each(element) for element in found) if x is not None]

        return projection
    if kind == "function_expression":
        name = node["value"]
        arguments = [_compile(child) for child in node["children"]]
        call = _FUNCTIONS.call_function
        return lambda value: call(name, [argument(value) for argument in arguments])
    if kind == "literal":
        literal = node["value"]
        return lambda _value: literal
    if kind in ("current", "identity"):
        return lambda value: value
    visit = _INTERPRETER.visit
    return lambda value: visit(node, value)


def _chain(steps: list[Search]) -> Search:
    if len(steps) == 2:
        first, second = steps
        return lambda value: second(first(value))

    def chain(value: Any) -> Any:
        for step in steps:
            value = step(value)
        return value

    return chain
