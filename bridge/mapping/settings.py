"""The mapping section of the configuration: the rules language, as pydantic models.

    mappings[]: name, topics, mode (first | all), unmatched (skip | error), rules[]
      rules[]: name, match {topics, headers, when}, outputs[] | plugin
        outputs[]: exactly one of event | plugin | an output of the operation table
                   (order, customer, payment, ...: bridge.operations)

A mapping may instead give `event:` directly: shorthand for one rule, matching every record,
with that one event output (the form the bridge started with). Everything is checked here,
at load time, so errors come out through `bridge.config.loading`'s formatter, naming the file
and key path; `bridge.mapping.mapper` compiles the checked models into callables. See
docs/mapping.md.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    Field,
    ValidationInfo,
    create_model,
    field_validator,
    model_validator,
)

from bridge.decoding.settings import Format, KeyFormat
from bridge.mapping.output_spec import BODY_OUTPUTS, parse_output
from bridge.mapping.plugins import load_plugin
from bridge.mapping.value_spec import KafkaField, ObjectSpec, Strict, ValueSpec
from bridge.settings import TopicSpec


def _check_plugin(ref: str) -> str:
    load_plugin(ref)  # imports it now: a typo must stop start-up, not fail every record
    return ref


PluginRef = Annotated[str, Field(min_length=1), AfterValidator(_check_plugin)]

_SUBJECTS = ("path", "expr", "header", "kafka")
_TESTS = ("equals", "in", "exists", "regex", "gt", "ge", "lt", "le")
_COMBINATORS = ("all", "any", "not")


class Condition(Strict):
    """A test on one value (`path`/`expr`/`header`/`kafka` plus tests, all of which must
    hold), or a combination (`all`, `any`, `not`) of conditions."""

    path: str | None = None
    expr: str | None = None
    header: str | None = None
    kafka: KafkaField | None = None
    equals: Any = None
    in_: tuple[Any, ...] | None = Field(default=None, alias="in")
    exists: bool | None = None
    regex: str | None = None
    gt: float | None = None
    ge: float | None = None
    lt: float | None = None
    le: float | None = None
    all_: tuple[Condition, ...] | None = Field(default=None, alias="all")
    any_: tuple[Condition, ...] | None = Field(default=None, alias="any")
    not_: Condition | None = Field(default=None, alias="not")

    @classmethod
    def _what(cls) -> str:
        return "a condition"

    @classmethod
    def _normalise(cls, data: Any) -> Any:
        if isinstance(data, list):  # a list of conditions: all of them
            return {"all": data}
        return data

    def given(self, name: str) -> bool:
        field = {"in": "in_", "all": "all_", "any": "any_", "not": "not_"}.get(name, name)
        return field in self.model_fields_set

    def subject(self) -> ValueSpec:
        return ValueSpec.model_validate(
            {s: getattr(self, s) for s in _SUBJECTS if getattr(self, s) is not None}
        )

    @model_validator(mode="after")
    def _shape(self) -> Condition:
        subjects = [s for s in _SUBJECTS if self.given(s)]
        tests = [t for t in _TESTS if self.given(t)]
        combinators = [c for c in _COMBINATORS if self.given(c)]
        if combinators:
            if len(combinators) > 1 or subjects or tests:
                raise ValueError(
                    f"{' and '.join(combinators + subjects + tests)} cannot be combined in one "
                    "condition: nest them, as in {all: [{path: a, equals: 1}, {not: ...}]}"
                )
            return self
        if len(subjects) != 1:
            raise ValueError(
                "a condition tests exactly one of "
                + ", ".join(_SUBJECTS)
                + " (or combines conditions with "
                + ", ".join(_COMBINATORS)
                + ")"
            )
        if not tests:
            raise ValueError(f"give at least one test: {', '.join(_TESTS)}")
        self.subject()  # checks the path or expression
        if self.regex is not None:
            try:
                re.compile(self.regex)
            except re.error as exc:
                raise ValueError(f"bad regex {self.regex!r}: {exc}") from None
        if self.in_ is not None and not self.in_:
            raise ValueError("'in' needs at least one value")
        return self


class Match(Strict):
    """Which records a rule takes. Every part given must hold; an empty match takes all."""

    # Names, or patterns starting with "^", narrowing the mapping's own topics.
    topics: tuple[TopicSpec, ...] = ()
    # Header name -> the value (or any of the values) it must have.
    headers: dict[str, str | tuple[str, ...]] = Field(default_factory=dict)
    when: Condition | None = None

    @classmethod
    def _what(cls) -> str:
        return "match"


class EventOutput(Strict):
    """A track-events body: ``{"customerId", "events": {name: metadata}, "email", "mobile"}``."""

    customer_id: ValueSpec
    name: ValueSpec
    # Gameball metadata key -> value. Missing and null values are left out.
    metadata: dict[str, ValueSpec] = Field(default_factory=dict)
    # A whole object copied into the metadata (explicit `metadata` keys win).
    metadata_from: ObjectSpec | None = None
    email: ValueSpec | None = None
    mobile: ValueSpec | None = None

    @classmethod
    def _what(cls) -> str:
        return "event output"


class OutputBase(Strict):
    """One output: `event`, `plugin`, or one of the operation table's outputs, each a field
    of `OutputSpec` (below) holding its config, checked against its description."""

    event: EventOutput | None = None
    plugin: PluginRef | None = None

    @classmethod
    def _what(cls) -> str:
        return "an output"

    @field_validator("*")
    @classmethod
    def _fields_valid(cls, raw: Any, info: ValidationInfo) -> Any:
        if raw is not None and info.field_name in BODY_OUTPUTS:
            parse_output(info.field_name, raw)
        return raw

    @model_validator(mode="after")
    def _exactly_one(self) -> OutputBase:
        given = self.kind()
        if len(given) != 1:
            raise ValueError(
                f"an output is exactly one of {', '.join(OUTPUT_NAMES)}"
                + (f" (got {', '.join(given)})" if given else "")
            )
        return self

    def kind(self) -> list[str]:
        return [k for k in OUTPUT_NAMES if getattr(self, k) is not None]

    def body_output(self) -> tuple[str, dict[str, Any]] | None:
        """The table output configured here, and its config (None for event and plugin)."""
        for name in BODY_OUTPUTS:
            raw = getattr(self, name)
            if raw is not None:
                return name, raw
        return None


# Every output's name, in the order messages list them.
OUTPUT_NAMES = ("event", *BODY_OUTPUTS, "plugin")

if TYPE_CHECKING:
    OutputSpec = OutputBase
else:
    # A field per output of the operation table: adding an operation to the table adds its
    # output here, and the error paths name it (outputs[0].refund.customer_id).
    OutputSpec = create_model(
        "OutputSpec",
        __base__=OutputBase,
        __module__=__name__,
        **dict.fromkeys(BODY_OUTPUTS, (dict[str, Any] | None, None)),
    )


class Rule(Strict):
    name: str | None = Field(default=None, min_length=1)
    match: Match = Match()
    outputs: tuple[OutputSpec, ...] = ()
    # Shorthand for `outputs: [{plugin: ...}]`.
    plugin: PluginRef | None = None

    @classmethod
    def _what(cls) -> str:
        return "a rule"

    @model_validator(mode="after")
    def _has_output(self) -> Rule:
        if not self.outputs and self.plugin is None:
            raise ValueError(
                f"rule {self.name or '(unnamed)'} has no output: give 'outputs' (a list of "
                f"outputs: {', '.join(OUTPUT_NAMES)}) or 'plugin'"
            )
        if self.outputs and self.plugin is not None:
            raise ValueError("give 'outputs' or 'plugin', not both (a plugin can be an output)")
        return self


class MappingConfig(Strict):
    name: str = Field(min_length=1)
    topics: tuple[TopicSpec, ...] = Field(min_length=1)
    # What the records' values are: json, or avro | protobuf | json_schema with a schema
    # registry id in their framing (needs the config's `schema_registry`). bridge.decoding.
    format: Format = "json"
    # What their keys are, for {kafka: key} and {kafka: key.<path>}: text unless given.
    key_format: KeyFormat = "string"
    # first: the first matching rule wins. all: every matching rule applies, in order.
    mode: Literal["first", "all"] = "first"
    # skip: a record no rule matches is skipped on purpose (counted, committed).
    # error: it is dead-lettered with kind no_matching_rule.
    unmatched: Literal["skip", "error"] = "skip"
    rules: tuple[Rule, ...] = ()
    # Shorthand for a single rule matching every record with this one event output.
    event: EventOutput | None = None

    @classmethod
    def _what(cls) -> str:
        return "a mapping"

    @model_validator(mode="after")
    def _rules_or_event(self) -> MappingConfig:
        if bool(self.rules) == (self.event is not None):
            raise ValueError(
                f"mapping {self.name!r}: give 'rules' (a list) or the 'event' shorthand, "
                "exactly one of them"
            )
        names = [r.name for r in self.rules if r.name is not None]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"mapping {self.name!r}: two rules are named {duplicates[0]!r}")
        return self

    def effective_rules(self) -> tuple[Rule, ...]:
        """The rules, with the `event:` shorthand written out as one rule."""
        if self.event is not None:
            return (Rule(name="event", outputs=(OutputSpec(event=self.event),)),)
        return self.rules
