"""Compiled JMESPath expressions give jmespath's own results, errors included."""

from __future__ import annotations

from typing import Any

import jmespath
import jmespath.exceptions
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.mapping.expressions import compile_expression

DOCS: list[Any] = [
    {
        "a": {"b": {"c": 1}, "list": [1, 2, 3], "empty": [], "zero": 0, "f": False, "s": ""},
        "items": [
            {"sku": "A", "price": 2, "tags": ["x"], "discount": 1},
            {"sku": "B", "price": 3, "tags": [], "discount": None},
            {"price": "9"},
            "not an object",
            None,
        ],
        "obj": {},
        "n": None,
        "t": True,
        "num": 2.5,
        "text": "hi",
    },
    {"a": [1, 2], "items": {"sku": "A"}, "obj": None},
    {},
]

EXPRESSIONS = [
    "a",
    "a.b.c",
    "a.b.missing",
    "missing.b",
    "text.b",
    "a.list[0]",
    "a.list[-1]",
    "a.list[7]",
    "a[0]",
    "items[1].sku",
    "items[*].sku",
    "items[*].tags",
    "items[*].price",
    "a.list[*]",
    "obj[*].x",
    "a.zero || a.list",
    "a.f || a.s || a.empty || obj || n || `7`",
    "a.s || text",
    "missing || a.b",
    "a.zero && text",
    "a.f && text",
    "a.empty && text",
    "obj && text",
    "t && [t, num]",
    "n && [n]",
    "[a.b, missing]",
    "missing.x && [missing.x]",
    "!a.zero",
    "!num",
    "!a.f",
    "!a.s",
    "!a.empty",
    "!obj",
    "!n",
    "!text",
    "!t",
    "@",
    "a.b | c",
    "items[0] | sku",
    "`[1, 2]`",
    '`"lit"`',
    "'raw'",
    "sum(items[:2].price)",
    "sum(items[*].discount)",
    "length(items)",
    "length(text)",
    "max(a.list)",
    "to_number(items[2].price)",
    "items[?price > `2`].sku | [0]",
    "items[].tags[]",
    "a.*",
    "{s: items[0].sku, n: num}",
    "sort_by(items[:2], &price)[*].sku",
    "items[?sku == 'A'] | length(@)",
    "sum(items[*].sku)",
    "length(n)",
    "abs(text)",
]


def _outcome(run: Any, doc: Any) -> Any:
    try:
        result = run(doc)
    # jmespath raises TypeError comparing a string with a number in a filter.
    except (jmespath.exceptions.JMESPathError, TypeError) as exc:
        return ("error", type(exc), str(exc))
    # JSON equality is not enough: True must not pass for 1, nor 1.0 for 1.
    return ("value", result, repr(result))


@pytest.mark.parametrize("expression", EXPRESSIONS)
def test_compiled_expression_matches_jmespath(expression: str) -> None:
    compiled = compile_expression(expression)
    reference = jmespath.compile(expression)
    for doc in DOCS:
        assert _outcome(compiled, doc) == _outcome(reference.search, doc), (expression, doc)


def test_a_bad_expression_fails_to_compile_as_in_jmespath() -> None:
    with pytest.raises(jmespath.exceptions.ParseError):
        compile_expression("a.[")


# Arbitrary JSON, with keys drawn from the names the expressions use so that paths hit.
_KEYS = st.sampled_from(["a", "b", "c", "list", "items", "sku", "price", "tags", "obj", "n", "t"])
_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.floats(-3, 3, allow_nan=False)
    | st.sampled_from(["", "A", "B", "9"]),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_KEYS, children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=st.dictionaries(_KEYS, _JSON, max_size=6))
def test_compiled_expressions_match_jmespath_on_arbitrary_documents(doc: dict[str, Any]) -> None:
    for expression in EXPRESSIONS:
        compiled, reference = compile_expression(expression), jmespath.compile(expression)
        assert _outcome(compiled, doc) == _outcome(reference.search, doc), (expression, doc)
