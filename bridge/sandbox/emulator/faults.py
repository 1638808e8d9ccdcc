"""Injected faults: scripted answers consumed one per request, and an outage mode."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

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
