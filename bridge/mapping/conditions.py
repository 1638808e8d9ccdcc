"""Compiled conditions: a `Condition` becomes a predicate ``(doc, context) -> bool``.

A test on a missing value is false (but for ``exists: false``); a comparison with a value of
the wrong type is false rather than an error, so a rule simply does not match odd records.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from bridge.mapping.context import RecordContext
from bridge.mapping.paths import MISSING
from bridge.mapping.settings import Condition
from bridge.mapping.values import Getter, compile_value

Predicate = Callable[[Any, RecordContext], bool]
Test = Callable[[Any], bool]


def compile_condition(cond: Condition, where: str = "condition") -> Predicate:
    if cond.all_ is not None:
        parts = [compile_condition(c, where) for c in cond.all_]
        return lambda doc, ctx: all(p(doc, ctx) for p in parts)
    if cond.any_ is not None:
        parts = [compile_condition(c, where) for c in cond.any_]
        return lambda doc, ctx: any(p(doc, ctx) for p in parts)
    if cond.not_ is not None:
        inner = compile_condition(cond.not_, where)
        return lambda doc, ctx: not inner(doc, ctx)
    get = compile_value(cond.subject(), where)
    tests = _tests(cond)
    if len(tests) == 1:
        test = tests[0]
        return lambda doc, ctx: test(get(doc, ctx))
    return _all_tests(get, tests)


def _all_tests(get: Getter, tests: list[Test]) -> Predicate:
    def check(doc: Any, ctx: RecordContext) -> bool:
        value = get(doc, ctx)
        return all(test(value) for test in tests)

    return check


def _present(value: Any) -> bool:
    return value is not MISSING and value is not None


def json_equal(a: Any, b: Any) -> bool:
    """JSON equality: true is not 1, 1 is 1.0."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return bool(a == b)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _tests(cond: Condition) -> list[Test]:
    tests: list[Test] = []
    if cond.given("equals"):
        expected = cond.equals
        if isinstance(expected, str):
            tests.append(lambda v: v == expected and isinstance(v, str))
        else:
            tests.append(lambda v: _present(v) and json_equal(v, expected))
    if cond.in_ is not None:
        options = cond.in_
        strings = frozenset(o for o in options if isinstance(o, str))
        others = [o for o in options if not isinstance(o, str)]

        def one_of(v: Any) -> bool:
            if isinstance(v, str):
                return v in strings
            return _present(v) and any(json_equal(v, o) for o in others)

        tests.append(one_of)
    if cond.exists is not None:
        wanted = cond.exists
        tests.append(lambda v: _present(v) == wanted)
    if cond.regex is not None:
        pattern = re.compile(cond.regex)
        tests.append(lambda v: isinstance(v, str) and pattern.search(v) is not None)
    for op, bound in (("gt", cond.gt), ("ge", cond.ge), ("lt", cond.lt), ("le", cond.le)):
        if bound is not None:
            tests.append(_compare(op, bound))
    return tests


def _compare(op: str, bound: float) -> Test:
    if op == "gt":
        return lambda v: _is_number(v) and v > bound
    if op == "ge":
        return lambda v: _is_number(v) and v >= bound
    if op == "lt":
        return lambda v: _is_number(v) and v < bound
    return lambda v: _is_number(v) and v <= bound
