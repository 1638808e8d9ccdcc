"""Request body schemas for the four tracked resources, and the checks Gameball makes.

The tables are data so that a test can hold them against Gameball's OpenAPI spec. Fields
outside the tables are accepted unchecked, and an optional field sent as null is accepted:
the emulator should reject what Gameball rejects, not be stricter than it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

STRING = "string"
NUMBER = "number"
INTEGER = "integer"
BOOLEAN = "boolean"
OBJECT = "object"
ARRAY = "array"

CHANNELS = ("mobile", "pos", "web", "callcenter")


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_integer(value: object) -> bool:
    if isinstance(value, float):
        return value.is_integer()
    return isinstance(value, int) and not isinstance(value, bool)


_TYPE_CHECKS: dict[str, Callable[[object], bool]] = {
    STRING: lambda v: isinstance(v, str),
    NUMBER: _is_number,
    INTEGER: _is_integer,
    BOOLEAN: lambda v: isinstance(v, bool),
    OBJECT: lambda v: isinstance(v, dict),
    ARRAY: lambda v: isinstance(v, list),
}

_ARTICLE = {STRING: "a string", NUMBER: "a number", INTEGER: "an integer"}
_ARTICLE |= {BOOLEAN: "a boolean", OBJECT: "an object", ARRAY: "an array"}


@dataclass(frozen=True, slots=True)
class Field:
    type: str
    enum: tuple[str, ...] | None = None
    date_time: bool = False
    minimum: float | None = None
    maximum: float | None = None
    non_empty: bool = False
    items: Field | None = None  # for arrays
    values: tuple[str, ...] | None = None  # allowed value types of a free-form object
    schema: Schema | None = None  # known properties of an object


@dataclass(frozen=True, slots=True)
class Schema:
    fields: Mapping[str, Field]
    required: tuple[str, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class Problem:
    status: int
    code: int
    message: str


_S = Field(STRING)
_N = Field(NUMBER)
_STRINGS = Field(ARRAY, items=_S)
_ID = Field(STRING, non_empty=True)
_DATE = Field(STRING, date_time=True)
_CHANNEL = Field(STRING, enum=CHANNELS)
_FREE = Field(OBJECT)
_SCALAR_MAP = Field(OBJECT, values=(STRING, NUMBER))

_BRANCH = Schema({"uniqueId": _S, "name": _S})
_MERCHANT = Field(
    OBJECT, schema=Schema({"uniqueId": _S, "name": _S, "branch": Field(OBJECT, schema=_BRANCH)})
)
# Gameball's spec requires a payment's branch to name its uniqueId (an order's need not).
_PAYMENT_BRANCH = Schema({"uniqueId": _S, "name": _S}, required=("uniqueId",))
_PAYMENT_MERCHANT = Field(
    OBJECT,
    schema=Schema({"uniqueId": _S, "name": _S, "branch": Field(OBJECT, schema=_PAYMENT_BRANCH)}),
)
_REDEMPTION = Field(
    OBJECT,
    schema=Schema({"pointsHoldReference": _S, "couponsLockReference": _S, "couponCodes": _STRINGS}),
)
_CASHBACK = Field(OBJECT, schema=Schema({"returnWindow": Field(INTEGER, minimum=0, maximum=7300)}))

_LINE_ITEM = Schema(
    {
        "productId": _S,
        "quantity": _N,
        "price": _N,
        "sku": _S,
        "tags": _STRINGS,
        "category": _STRINGS,
        "weight": _N,
        "vendor": _S,
        "collection": _STRINGS,
        "title": _S,
        "taxes": _N,
        "discount": _N,
        "extra": _SCALAR_MAP,
    }
)

_PAYMENT_DETAIL = Schema(
    {
        "serviceId": _S,
        "serviceName": _S,
        "serviceProvider": _S,
        "amount": _N,
        "tax": _N,
        "discount": _N,
        "tags": _STRINGS,
        "category": _STRINGS,
        "extra": _SCALAR_MAP,
    }
)

_CUSTOMER_ATTRIBUTES = Schema(
    {
        **dict.fromkeys(
            (
                "displayName",
                "firstName",
                "lastName",
                "email",
                "gender",
                "mobile",
                "dateOfBirth",
                "joinDate",
                "country",
                "city",
                "zip",
                "preferredLanguage",
                "source",
                "lastOrderDate",
            ),
            _S,
        ),
        "utms": Field(ARRAY),
        "devices": Field(ARRAY),
        "paymentMethods": Field(ARRAY),
        "totalSpent": _N,
        "totalOrders": Field(INTEGER),
        "avgOrderAmount": _N,
        "channel": _CHANNEL,
        "custom": _FREE,
    }
)

SCHEMAS: Mapping[str, Schema] = {
    "events": Schema(
        {
            "customerId": _ID,
            # Event name -> metadata object; at least one event per call.
            "events": Field(OBJECT, values=(OBJECT,), non_empty=True),
            "email": _S,
            "mobile": _S,
        },
        required=("customerId", "events"),
    ),
    "orders": Schema(
        {
            "customerId": _ID,
            "email": _S,
            "mobile": _S,
            "orderId": _ID,
            "orderDate": _DATE,
            "totalPaid": _N,
            "totalPrice": _N,
            "totalDiscount": _N,
            "totalShipping": _N,
            "totalTax": _N,
            "lineItems": Field(ARRAY, items=Field(OBJECT, schema=_LINE_ITEM)),
            "redemption": _REDEMPTION,
            "extra": _SCALAR_MAP,
            "merchant": _MERCHANT,
            "guest": Field(BOOLEAN),
            "channel": _CHANNEL,
            "cartId": _S,
            "cashbackConfigurations": _CASHBACK,
        },
        required=("customerId", "orderId", "orderDate", "totalPaid"),
    ),
    "customers": Schema(
        {
            "customerId": _ID,
            "email": _S,
            "mobile": _S,
            "deviceToken": _S,
            "osType": _S,
            "referrerCode": _S,
            "guest": Field(BOOLEAN),
            "customerAttributes": Field(OBJECT, schema=_CUSTOMER_ATTRIBUTES),
        },
        required=("customerId",),
    ),
    "payments": Schema(
        {
            "customerId": _ID,
            "email": _S,
            "mobile": _S,
            "paymentId": _ID,
            "paymentDate": _DATE,
            "totalPaid": _N,
            "totalAmount": _N,
            "totalDiscount": _N,
            "totalProcessingFees": _N,
            "totalTax": _N,
            "paymentDetails": Field(ARRAY, items=Field(OBJECT, schema=_PAYMENT_DETAIL)),
            "redemption": _REDEMPTION,
            "extra": _SCALAR_MAP,
            "merchant": _PAYMENT_MERCHANT,
            "guest": Field(BOOLEAN),
            "channel": _CHANNEL,
            "cashbackConfigurations": _CASHBACK,
        },
        required=("customerId", "paymentId", "paymentDate", "totalPaid"),
    ),
}


def validate(resource: str, body: dict[str, Any]) -> Problem | None:
    """Check a parsed body against the resource's schema; None means acceptable."""
    return _check_object(SCHEMAS[resource], body, "")


def _check_object(schema: Schema, body: dict[str, Any], prefix: str) -> Problem | None:
    missing = [name for name in schema.required if name not in body]
    if missing:
        names = ", ".join(prefix + name for name in missing)
        return Problem(400, 3000, f"Missing required argument(s): {names}")
    for name in schema.required:
        if body[name] is None:
            return Problem(422, 3001, f"'{prefix}{name}' must not be null")
    for name, value in body.items():
        spec = schema.fields.get(name)
        if spec is not None and value is not None:
            problem = _check_value(spec, value, prefix + name)
            if problem is not None:
                return problem
    return None


def _check_value(spec: Field, value: object, where: str) -> Problem | None:
    if not _TYPE_CHECKS[spec.type](value):
        return _invalid(f"'{where}' must be {_ARTICLE[spec.type]}")
    if spec.non_empty and not value:
        return _invalid(f"'{where}' must not be empty")
    if spec.enum is not None and value not in spec.enum:
        return _invalid(f"'{where}' must be one of {', '.join(spec.enum)}")
    if spec.date_time and not _is_date_time(value):
        return _invalid(f"'{where}' must be an ISO 8601 date-time")
    if isinstance(value, int | float):
        if spec.minimum is not None and value < spec.minimum:
            return _invalid(f"'{where}' must be at least {spec.minimum:g}")
        if spec.maximum is not None and value > spec.maximum:
            return _invalid(f"'{where}' must be at most {spec.maximum:g}")
    if isinstance(value, list) and spec.items is not None:
        for index, item in enumerate(value):
            problem = _check_value(spec.items, item, f"{where}[{index}]")
            if problem is not None:
                return problem
    if isinstance(value, dict):
        if spec.schema is not None:
            return _check_object(spec.schema, value, where + ".")
        if spec.values is not None:
            return _check_map_values(spec.values, value, where)
    return None


def _check_map_values(types: tuple[str, ...], value: dict[str, Any], where: str) -> Problem | None:
    checks = [_TYPE_CHECKS[t] for t in types]
    for key, item in value.items():
        if not key:
            return _invalid(f"'{where}' has an empty key")
        if not any(check(item) for check in checks):
            kinds = " or ".join(_ARTICLE[t] for t in types)
            return _invalid(f"'{where}.{key}' must be {kinds}")
    return None


def _is_date_time(value: object) -> bool:
    if not isinstance(value, str) or len(value) < 10:
        return False
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def _invalid(message: str) -> Problem:
    return Problem(422, 3003, message)
