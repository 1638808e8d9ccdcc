"""The parts several bodies share: identifiers, merchants, line items, customer attributes.
From API.md and Gameball's OpenAPI spec (the unit tests hold every body against the spec)."""

from __future__ import annotations

from bridge.operations.model import Field

CHANNELS = ("mobile", "pos", "web", "callcenter")

STRING = Field("string")
NUMBER = Field("number")
BOOLEAN = Field("boolean")
# A required identifier: numeric ids in the source are sent as their digits.
ID = Field("string", required=True, non_empty=True, integer_ok=True)
REFERENCE = Field("string", integer_ok=True)
STRINGS = Field("array", items=STRING)
# A mobile number often arrives as a JSON number (201001234567); its digits are the number, so
# it is sent as their string, as ids are. (A leading + or 0 was lost before the record was
# written; the bridge cannot restore it either way.)
MOBILE = Field("string", integer_ok=True)
CHANNEL = Field("string", enum=CHANNELS)
REQUIRED_DATE_TIME = Field("datetime", required=True)
REQUIRED_NUMBER = Field("number", required=True)
# API.md: `extra` values are strings or numbers.
EXTRA = Field("map", values=("string", "number"))
BRANCH = Field("object", fields={"uniqueId": REFERENCE, "name": STRING})
MERCHANT = Field("object", fields={"uniqueId": REFERENCE, "name": STRING, "branch": BRANCH})
# Gameball's spec makes a payment's (and a refund's) branch name its uniqueId (an order's
# does not).
BRANCH_WITH_ID = Field("object", fields={"uniqueId": ID, "name": STRING})
MERCHANT_BRANCH_WITH_ID = Field(
    "object", fields={"uniqueId": REFERENCE, "name": STRING, "branch": BRANCH_WITH_ID}
)
REDEMPTION = Field(
    "object",
    fields={"pointsHoldReference": STRING, "couponsLockReference": STRING, "couponCodes": STRINGS},
)
CASHBACK = Field("object", fields={"returnWindow": Field("integer", minimum=0, maximum=7300)})

LINE_ITEM = Field(
    "object",
    fields={
        "productId": REFERENCE,
        "quantity": NUMBER,
        "price": NUMBER,
        "sku": REFERENCE,
        "tags": STRINGS,
        "category": STRINGS,
        "weight": NUMBER,
        "vendor": STRING,
        "collection": STRINGS,
        "title": STRING,
        "taxes": NUMBER,
        "discount": NUMBER,
        "extra": EXTRA,
    },
)
PAYMENT_DETAIL = Field(
    "object",
    fields={
        "serviceId": REFERENCE,
        "serviceName": STRING,
        "serviceProvider": STRING,
        "amount": NUMBER,
        "tax": NUMBER,
        "discount": NUMBER,
        "tags": STRINGS,
        "category": STRINGS,
        "extra": EXTRA,
    },
)
# Strings in the spec; the bridge normalises them to UTC ISO 8601 like orderDate.
_NORMALISED_DATE = Field("datetime", stricter_than_gameball=True)
CUSTOMER_ATTRIBUTES = Field(
    "object",
    fields={
        **dict.fromkeys(
            (
                "displayName",
                "firstName",
                "lastName",
                "email",
                "gender",
                "country",
                "city",
                "zip",
                "preferredLanguage",
                "source",
            ),
            STRING,
        ),
        "mobile": MOBILE,
        "dateOfBirth": _NORMALISED_DATE,
        "joinDate": _NORMALISED_DATE,
        "lastOrderDate": _NORMALISED_DATE,
        "utms": Field("array"),
        "devices": Field("array"),
        "paymentMethods": Field("array"),
        "totalSpent": NUMBER,
        "totalOrders": Field("integer"),
        "avgOrderAmount": NUMBER,
        "channel": CHANNEL,
        "custom": Field("map"),
    },
)
