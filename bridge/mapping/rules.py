"""Compiled rules and mappings: match a decoded record, run the outputs, in config order."""

from __future__ import annotations

import re
from typing import Any

from bridge.errors import MappingError
from bridge.mapping.conditions import Predicate, compile_condition
from bridge.mapping.context import RecordContext
from bridge.mapping.outputs import Output, compile_output
from bridge.mapping.settings import MappingConfig, OutputSpec, Rule
from bridge.record import Operation


class TopicFilter:
    """Topic names and ``^`` patterns, as librdkafka's subscribe reads them."""

    def __init__(self, topics: tuple[str, ...]) -> None:
        self._names = frozenset(t for t in topics if not t.startswith("^"))
        self._patterns = [re.compile(t) for t in topics if t.startswith("^")]

    def __call__(self, topic: str) -> bool:
        return topic in self._names or any(p.match(topic) for p in self._patterns)


class CompiledRule:
    def __init__(self, rule: Rule, index: int, *, shorthand: bool = False) -> None:
        # The `event:` shorthand has one implicit rule: naming it in messages would confuse.
        self.label = (
            "" if shorthand else f"rule {rule.name!r}: " if rule.name else f"rule #{index}: "
        )
        match = rule.match
        self._topics = TopicFilter(match.topics) if match.topics else None
        self._headers = [
            (name, frozenset((want,) if isinstance(want, str) else want))
            for name, want in match.headers.items()
        ]
        self._when: Predicate | None = (
            compile_condition(match.when, f"{self.label}match") if match.when else None
        )
        outputs = rule.outputs or (OutputSpec(plugin=rule.plugin),)
        self._outputs: list[Output] = [compile_output(o) for o in outputs]
        self.unconditional = self._topics is None and not self._headers and self._when is None
        # One output (the common case) is the rule's whole work: call it directly.
        self.apply: Output = self._outputs[0] if len(self._outputs) == 1 else self._apply_all

    def matches(self, doc: Any, ctx: RecordContext) -> bool:
        if self._topics is not None and not self._topics(ctx.topic):
            return False
        if self._headers:
            headers = ctx.headers
            for name, wanted in self._headers:
                if headers.get(name) not in wanted:
                    return False
        return self._when is None or self._when(doc, ctx)

    def _apply_all(self, doc: Any, ctx: RecordContext) -> list[Operation]:
        operations: list[Operation] = []
        for output in self._outputs:
            operations.extend(output(doc, ctx))
        return operations


class CompiledMapping:
    def __init__(self, spec: MappingConfig) -> None:
        self.name = spec.name
        self.matches_topic = TopicFilter(spec.topics)
        shorthand = spec.event is not None
        self._rules = [
            CompiledRule(r, i, shorthand=shorthand) for i, r in enumerate(spec.effective_rules())
        ]
        self._first = spec.mode == "first"
        self._unmatched_is_error = spec.unmatched == "error"
        # One rule that takes every record (the common case): no matching loop, and the
        # rule's outputs are called directly; the mapper's error prefix then names the rule.
        self.apply: Output = self._apply_rules
        self.error_prefix = f"mapping {self.name!r}: "
        if len(self._rules) == 1 and self._rules[0].unconditional:
            self.apply = self._rules[0].apply
            self.error_prefix += self._rules[0].label

    def _apply_rules(self, doc: Any, ctx: RecordContext) -> list[Operation]:
        """The operations for a record; [] when no rule matches (and that is allowed)."""
        operations: list[Operation] = []
        matched = False
        for rule in self._rules:
            try:
                if not (rule.unconditional or rule.matches(doc, ctx)):
                    continue
                matched = True
                found = rule.apply(doc, ctx)
            except MappingError as exc:
                raise MappingError(exc.kind, f"{rule.label}{exc.message}") from None
            if self._first:
                return found
            operations.extend(found)
        if not matched and self._unmatched_is_error:
            raise MappingError("no_matching_rule", "no rule matches the record")
        return operations
