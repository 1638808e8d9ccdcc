"""Value transforms: type coercion, UTC timestamps, dropping nulls.

Each function takes a decoded JSON value and returns the transformed value, or raises
`ValueError` with a short reason; `bridge.mapping.values` turns that into a MappingError that
names the field and where its value came from.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

from bridge.mapping.request_schema import INT_MAX, INT_MIN, MAX_NESTING, describe_value

CoerceTo = Literal["string", "integer", "number", "boolean", "timestamp"]
EpochUnit = Literal["seconds", "milliseconds", "auto"]

# Epoch values at or above this are milliseconds when the unit is "auto": 1e11 seconds is the
# year 5138, 1e11 milliseconds is March 1973.
_AUTO_MS_THRESHOLD = 100_000_000_000
_INTEGER = re.compile(r"[+-]?\d{1,18}")
_TRUE = frozenset({"true", "yes", "y", "1", "on"})
_FALSE = frozenset({"false", "no", "n", "0", "off"})


def to_string(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return str(int(value)) if value.is_integer() else repr(value)
    raise ValueError(f"cannot make a string of {describe_value(value)}")


def to_integer(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        return int(value.strip())  # at most 18 digits: within 64 bits
    else:
        raise ValueError(f"cannot make an integer of {describe_value(value)}")
    if not INT_MIN <= number <= INT_MAX:
        raise ValueError(f"{describe_value(value)} is beyond a 64-bit integer")
    return number


def to_number(value: Any) -> int | float:
    if isinstance(value, float) and math.isfinite(value):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        if not INT_MIN <= value <= INT_MAX:
            raise ValueError(f"{describe_value(value)} is beyond a 64-bit integer")
        return value
    if isinstance(value, str):
        text = value.strip()
        if _INTEGER.fullmatch(text):
            return int(text)
        try:
            number = float(text)
        except ValueError:
            pass
        else:
            if math.isfinite(number):
                return number
    raise ValueError(f"cannot make a number of {describe_value(value)}")


def to_boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise ValueError(f"cannot make a boolean of {describe_value(value)}")


def to_timestamp(value: Any, unit: EpochUnit = "auto") -> str:
    """UTC ISO 8601 with milliseconds and a Z, from epoch seconds or milliseconds (numbers or
    numeric strings) or an ISO 8601 string (any offset; none means UTC)."""
    if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        value = int(value.strip())
    if isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise ValueError(f"cannot make a timestamp of {describe_value(value)}")
        millis = unit == "milliseconds" or (unit == "auto" and abs(value) >= _AUTO_MS_THRESHOLD)
        seconds = value / 1000 if millis else value
        try:
            moment = datetime.fromtimestamp(seconds, tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise ValueError(f"epoch value {value} is out of range") from None
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(
                f"expected an ISO 8601 date-time or epoch seconds/milliseconds, got "
                f"{describe_value(value)}"
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        try:
            moment = moment.astimezone(UTC)
        except (OverflowError, ValueError):
            raise ValueError(f"date-time {value!r} is out of range") from None
    else:
        raise ValueError(f"cannot make a timestamp of {describe_value(value)}")
    m = moment
    return (
        f"{m.year:04d}-{m.month:02d}-{m.day:02d}T{m.hour:02d}:{m.minute:02d}:{m.second:02d}."
        f"{m.microsecond // 1000:03d}Z"
    )


COERCIONS: dict[str, Callable[[Any], Any]] = {
    "string": to_string,
    "integer": to_integer,
    "number": to_number,
    "boolean": to_boolean,
}


def drop_nulls(value: Any, depth: int = 1) -> Any:
    """The value with every null removed from its objects and arrays, at any depth up to
    MAX_NESTING (deeper could not be sent anyway); ValueError beyond."""
    if isinstance(value, dict | list):
        if depth > MAX_NESTING:
            raise ValueError(f"nested deeper than {MAX_NESTING} levels")
        if isinstance(value, dict):
            return {k: drop_nulls(v, depth + 1) for k, v in value.items() if v is not None}
        return [drop_nulls(v, depth + 1) for v in value if v is not None]
    return value
