"""Injected faults: scripted answers consumed one per request, an outage mode, and what
goes wrong with batch jobs (whole jobs failing or never finishing, items failing)."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

import orjson

Outage: TypeAlias = int | Literal["drop"] | None
StepSpec: TypeAlias = "int | Mapping[str, Any] | FaultStep"

_STEP_KEYS = frozenset({"status", "code", "message", "retry_after", "drop", "delay_ms"})


@dataclass(frozen=True, slots=True)
class FaultStep:
    """One scripted answer.

    A status below 300 (e.g. `{"status": 200, "delay_ms": 5000}`) is not a fault: the
    request is processed normally, which lets a script put good answers between bad ones
    or slow down one request.
    """

    status: int = 200
    code: int | None = None
    message: str | None = None
    retry_after: float | None = None
    drop: bool = False
    delay_ms: float | None = None

    @property
    def passes(self) -> bool:
        return not self.drop and self.status < 300

    @classmethod
    def parse(cls, spec: StepSpec) -> FaultStep:
        if isinstance(spec, FaultStep):
            return spec
        if isinstance(spec, int) and not isinstance(spec, bool):
            return cls(status=_status(spec))
        if not isinstance(spec, Mapping):
            raise ValueError(f"a script step is a status or an object, not {spec!r}")
        unknown = set(spec) - _STEP_KEYS
        if unknown:
            raise ValueError(f"unknown script step keys: {', '.join(sorted(unknown))}")
        drop = spec.get("drop", False)
        if not isinstance(drop, bool):
            raise ValueError("'drop' must be a boolean")
        status = spec.get("status", 200)
        code = spec.get("code")
        message = spec.get("message")
        if code is not None and (not isinstance(code, int) or isinstance(code, bool)):
            raise ValueError("'code' must be an integer")
        if message is not None and not isinstance(message, str):
            raise ValueError("'message' must be a string")
        return cls(
            status=_status(status),
            code=code,
            message=message,
            retry_after=_seconds(spec.get("retry_after"), "retry_after"),
            drop=drop,
            delay_ms=_seconds(spec.get("delay_ms"), "delay_ms"),
        )


def parse_outage(value: object) -> Outage:
    if value is None:
        return None
    if value == "drop":
        return "drop"
    if isinstance(value, int) and not isinstance(value, bool):
        return _status(value)
    raise ValueError(f"outage is a status, 'drop' or null, not {value!r}")


def _status(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 200 <= value <= 599:
        raise ValueError(f"not an HTTP status: {value!r}")
    return value


def _seconds(value: object, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(f"{name!r} must be a non-negative number")
    return float(value)


class Faults:
    """Not thread-safe by itself; the router calls it under its lock."""

    def __init__(self) -> None:
        self.outage: Outage = None
        self._scripts: dict[str | None, deque[FaultStep]] = {}

    def script(self, steps: Iterable[StepSpec], resource: str | None = None) -> None:
        """Replace the script for `resource` (None: any resource). An empty list clears it."""
        parsed = deque(FaultStep.parse(step) for step in steps)
        if parsed:
            self._scripts[resource] = parsed
        else:
            self._scripts.pop(resource, None)

    def take(self, resource: str) -> FaultStep | None:
        """The fault for the next request to `resource`, consuming a script step."""
        if self.outage is not None:
            if self.outage == "drop":
                return FaultStep(drop=True)
            return FaultStep(status=self.outage)
        if not self._scripts:
            return None
        # A step scoped to this resource wins over an unscoped one.
        for scope in (resource, None):
            steps = self._scripts.get(scope)
            if steps:
                step = steps.popleft()
                if not steps:
                    del self._scripts[scope]
                return step
        return None

    def pending(self) -> dict[str, int]:
        return {scope or "*": len(steps) for scope, steps in self._scripts.items()}

    def clear(self) -> None:
        self.outage = None
        self._scripts.clear()


# batch jobs -------------------------------------------------------------------------------

ItemFaultSpec: TypeAlias = "Mapping[str, Any] | ItemFault"

_ITEM_FAULT_KEYS = frozenset(
    {"status", "code", "message", "customers", "every", "times", "resource"}
)
BATCH_RESOURCES = ("events", "orders", "customers")


@dataclass(frozen=True, slots=True)
class ItemFault:
    """A rule that fails batch items when their job completes, before they are validated.

    An item is selected when it is of `resource` (None: any) and its customerId is in
    `customers` (None: any customer); with `every` = N, only every Nth selected item fails
    (counted across jobs since the rule was set). With `times` = K, one item (the same JSON
    body) fails at most K times, so that its retry succeeds. The failure is reported as
    `status` (the item's httpStatus) and `code` (by default the status's usual code).
    """

    status: int = 500
    code: int | None = None
    message: str | None = None
    customers: frozenset[str] | None = None
    every: int | None = None
    times: int | None = None
    resource: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "code": self.code,
            "message": self.message,
            "customers": sorted(self.customers) if self.customers is not None else None,
            "every": self.every,
            "times": self.times,
            "resource": self.resource,
        }

    @classmethod
    def parse(cls, spec: ItemFaultSpec) -> ItemFault:
        if isinstance(spec, ItemFault):
            return spec
        if not isinstance(spec, Mapping):
            raise ValueError(f"a batch item fault is an object, not {spec!r}")
        unknown = set(spec) - _ITEM_FAULT_KEYS
        if unknown:
            raise ValueError(f"unknown batch item fault keys: {', '.join(sorted(unknown))}")
        code = spec.get("code")
        if code is not None and (not isinstance(code, int) or isinstance(code, bool)):
            raise ValueError("'code' must be an integer")
        message = spec.get("message")
        if message is not None and not isinstance(message, str):
            raise ValueError("'message' must be a string")
        customers = spec.get("customers")
        if customers is not None and (
            isinstance(customers, str)
            or not isinstance(customers, Iterable)
            or not all(isinstance(c, str) for c in customers)
        ):
            raise ValueError("'customers' must be a list of customerIds")
        resource = spec.get("resource")
        if resource is not None and resource not in BATCH_RESOURCES:
            raise ValueError(f"unknown batch resource: {resource!r}")
        status = _status(spec.get("status", 500))
        if status < 400:
            raise ValueError("a batch item fault's 'status' is 400 or more")
        return cls(
            status=status,
            code=code,
            message=message,
            customers=frozenset(customers) if customers is not None else None,
            every=_count(spec.get("every"), "every"),
            times=_count(spec.get("times"), "times"),
            resource=resource,
        )


def _count(value: object, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name!r} must be a positive integer")
    return value


def job_count(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name!r} must be a non-negative integer")
    return value


class _ActiveRule:
    __slots__ = ("failures", "fault", "selected")

    def __init__(self, fault: ItemFault) -> None:
        self.fault = fault
        self.selected = 0
        self.failures: dict[bytes, int] = {}


class BatchFaults:
    """What goes wrong with the next batch jobs and their items. Not thread-safe by itself;
    the router calls it under its lock."""

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self.fail_next = 0  # jobs that end `failed`, nothing applied
        self.hang_next = 0  # jobs that stay `processing` for ever, nothing applied
        self._rules: list[_ActiveRule] = []

    def set_item_faults(self, faults: Iterable[ItemFaultSpec]) -> None:
        """Replace the item rules (an empty list clears them), with fresh counters."""
        self._rules = [_ActiveRule(ItemFault.parse(spec)) for spec in faults]

    def item_faults(self) -> list[dict[str, Any]]:
        return [rule.fault.as_json() for rule in self._rules]

    def fate(self) -> str:
        """The fate of a job being created: "hang", "fail" or "normal"; consumes a count."""
        if self.hang_next:
            self.hang_next -= 1
            return "hang"
        if self.fail_next:
            self.fail_next -= 1
            return "fail"
        return "normal"

    @property
    def has_item_faults(self) -> bool:
        return bool(self._rules)

    def item_fault(self, resource: str, item: dict[str, Any]) -> ItemFault | None:
        """The rule that fails this item, counting it; None when no rule does."""
        for rule in self._rules:
            fault = rule.fault
            if fault.resource is not None and fault.resource != resource:
                continue
            if fault.customers is not None and item.get("customerId") not in fault.customers:
                continue
            rule.selected += 1
            if fault.every is not None and rule.selected % fault.every:
                continue
            if fault.times is not None:
                key = orjson.dumps(item, option=orjson.OPT_SORT_KEYS)
                failed = rule.failures.get(key, 0)
                if failed >= fault.times:
                    continue
                rule.failures[key] = failed + 1
            return fault
        return None
