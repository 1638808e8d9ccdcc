"""The table: one description per Gameball operation the bridge can send.

Everything else about an operation is read from here: the mapping's outputs and their keys
(`bridge.mapping.output_spec`), the body check (`bridge.mapping.request_schema`), the request
itself (`bridge.gameball.client`: method, path, escaped parameters), the rate-limit bucket
and batch endpoint the sender uses (`Operation.resource`, `Operation.batchable`), the retry
table's reading of "already exists" and "not there yet", the emulator's routes and
validation, and the docs' table (`bridge.operations.docs`, checked by a unit test). Adding an
operation is an entry here, its emulator behaviour if it has any beyond validation, a shipped
mapping and the docs.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from bridge.operations.model import Description, Field, Resource
from bridge.operations.shapes import (
    BOOLEAN,
    CASHBACK,
    CHANNEL,
    CUSTOMER_ATTRIBUTES,
    EXTRA,
    ID,
    LINE_ITEM,
    MERCHANT,
    MERCHANT_BRANCH_WITH_ID,
    MOBILE,
    NUMBER,
    PAYMENT_DETAIL,
    REDEMPTION,
    REFERENCE,
    REQUIRED_DATE_TIME,
    REQUIRED_NUMBER,
    STRING,
)

# A refund's order not found (9005 "reversed transaction not found", 9002 "transaction not
# found", 4004 "not found": Gameball's error page gives an invalid transactionId as 4004's
# example): the order may still be on its way on another topic or partition.
_ORDER_NOT_THERE_YET = frozenset({4004, 9002, 9005})
# What a refund and a cancellation (a refund of everything) both carry.
_REVERSAL: Mapping[str, Field] = {
    "customerId": ID,
    "email": STRING,
    "mobile": MOBILE,
    "refundTransactionId": ID,
    # The order's orderId (Gameball's Refund tutorial: it must match one).
    "reverseTransactionId": ID,
    "transactionTime": REQUIRED_DATE_TIME,
    "merchant": MERCHANT_BRANCH_WITH_ID,
}
# The spec's CustomerTagsUpdateRequest: one string, "a comma-separated list of tags".
_TAGS = Field("string", required=True, non_empty=True, joined=",")

_TABLE = (
    Description(
        "event",
        "track events (event name -> metadata)",
        "POST",
        "events",
        Resource.EVENTS,
        body={
            "customerId": ID,
            # Event name -> metadata object; at least one event per call.
            "events": Field("map", required=True, non_empty=True, values=("object",)),
            # Not in the spec's schema; accepted by Gameball for channel merging (API.md).
            "email": STRING,
            "mobile": MOBILE,
        },
        output="event",
        batch_path="batch/events",
    ),
    Description(
        "order",
        "track an order: rewards its customer",
        "POST",
        "orders",
        Resource.ORDERS,
        body={
            "customerId": ID,
            "email": STRING,
            "mobile": MOBILE,
            "orderId": ID,
            "orderDate": REQUIRED_DATE_TIME,
            "totalPaid": REQUIRED_NUMBER,
            "totalPrice": NUMBER,
            "totalDiscount": NUMBER,
            "totalShipping": NUMBER,
            "totalTax": NUMBER,
            "lineItems": Field("array", items=LINE_ITEM),
            "redemption": REDEMPTION,
            "extra": EXTRA,
            "merchant": MERCHANT,
            "guest": BOOLEAN,
            "channel": CHANNEL,
            "cartId": REFERENCE,
            "cashbackConfigurations": CASHBACK,
        },
        output="order",
        batch_path="batch/orders",
        idempotency_key="orderId",
        secret_key=True,
    ),
    Description(
        "customer",
        "create or update a customer (upsert by customerId)",
        "POST",
        "customers",
        Resource.CUSTOMERS,
        body={
            "customerId": ID,
            "email": STRING,
            "mobile": MOBILE,
            "deviceToken": STRING,
            "osType": STRING,
            "referrerCode": STRING,
            "guest": BOOLEAN,
            "customerAttributes": CUSTOMER_ATTRIBUTES,
        },
        output="customer",
        batch_path="batch/customers",
    ),
    Description(
        "payment",
        "track a payment (bills, services)",
        "POST",
        "payments",
        Resource.PAYMENTS,
        body={
            "customerId": ID,
            "email": STRING,
            "mobile": MOBILE,
            "paymentId": ID,
            "paymentDate": REQUIRED_DATE_TIME,
            "totalPaid": REQUIRED_NUMBER,
            "totalAmount": NUMBER,
            "totalDiscount": NUMBER,
            "totalProcessingFees": NUMBER,
            "totalTax": NUMBER,
            "paymentDetails": Field("array", items=PAYMENT_DETAIL),
            "redemption": REDEMPTION,
            "extra": EXTRA,
            "merchant": MERCHANT_BRANCH_WITH_ID,
            "guest": BOOLEAN,
            "channel": CHANNEL,
            "cashbackConfigurations": CASHBACK,
        },
        output="payment",
        idempotency_key="paymentId",
        secret_key=True,
    ),
    Description(
        "refund",
        "take back an order's reward, in full or in part (`refundAmount`, `lineItems`)",
        "POST",
        "transactions/refund",
        Resource.PAYMENTS,
        body={
            **_REVERSAL,
            # Left out: a full refund (the spec).
            "refundAmount": NUMBER,
            # Left out: Gameball refunds by amount, the cashback only (the tutorial).
            "lineItems": Field("array", items=LINE_ITEM),
        },
        output="refund",
        idempotency_key="refundTransactionId",
        pending_codes=_ORDER_NOT_THERE_YET,
        secret_key=True,
    ),
    # A cancellation is a full refund: Gameball's Refund tutorial ("when a customer returns
    # items or cancels an order, use the Refund API"). The spec's DELETE
    # orders/{orderId}/transactions is not used: its entry is Delete Customer's, copied (its
    # description, a customerId parameter its path does not have, a sample deleting a
    # customer), with no answer or idempotency documented. Should Gameball document it, this
    # entry's method and path are the one place to change.
    Description(
        "cancel_order",
        "cancel an order: its whole reward taken back (a refund without an amount)",
        "POST",
        "transactions/refund",
        Resource.PAYMENTS,
        body=_REVERSAL,
        output="cancel_order",
        idempotency_key="refundTransactionId",
        pending_codes=_ORDER_NOT_THERE_YET,
        # 9001 "transaction already cancelled": what it asks is done.
        done_codes=frozenset({9001}),
        secret_key=True,
    ),
    Description(
        "add_customer_tags",
        "attach tags to a customer (a list, or Gameball's comma-separated text)",
        "POST",
        "customers/{customerId}/tags",
        Resource.CUSTOMERS,
        body={"tags": _TAGS},
        output="customer_tags",
        part="add",
        secret_key=True,
    ),
    Description(
        "remove_customer_tags",
        "remove tags from a customer",
        "DELETE",
        "customers/{customerId}/tags",
        Resource.CUSTOMERS,
        body={"tags": _TAGS},
        output="customer_tags",
        part="remove",
        secret_key=True,
    ),
    Description(
        "delete_customer",
        "erase a customer, after every earlier operation of theirs",
        "DELETE",
        "customers/{customerId}",
        Resource.CUSTOMERS,
        output="delete_customer",
        # 7000 "customer not found": erased already (a retry of one that landed).
        done_codes=frozenset({7000}),
        erases_customer=True,
        secret_key=True,
    ),
)

OPERATIONS: Mapping[str, Description] = MappingProxyType({d.name: d for d in _TABLE})

# Each resource's tracking call (POST /integrations/<resource>): what an `Operation` built
# with a resource and no name is.
TRACKING: Mapping[Resource, Description] = MappingProxyType(
    {d.bucket: d for d in _TABLE if d.method == "POST" and d.path == d.bucket.value}
)

# Mapping output name -> its operations, in table order.
OUTPUTS: Mapping[str, tuple[Description, ...]] = MappingProxyType(
    {
        output: tuple(d for d in _TABLE if d.output == output)
        for output in dict.fromkeys(d.output for d in _TABLE if d.output is not None)
    }
)


def _check(table: tuple[Description, ...]) -> None:
    """What the rest of the bridge relies on; a mistake here fails at import, in every test."""
    names = [d.name for d in table]
    if len(set(names)) != len(names):
        raise AssertionError(f"two operations share a name: {names}")
    if set(TRACKING) != set(Resource):
        raise AssertionError("every resource needs its tracking call")
    for d in table:
        if d.customer not in d.params and d.body.get(d.customer) != ID:
            raise AssertionError(f"{d.name}: its customer {d.customer!r} is no required id")
        if (d.part is not None) != (d.output is not None and len(OUTPUTS[d.output]) > 1):
            raise AssertionError(f"{d.name}: an output of several operations names their parts")
        if d.part is not None and len(d.body) != 1:
            raise AssertionError(f"{d.name}: a part's key holds its one body field")
        if d.idempotency_key is not None and d.idempotency_key not in d.body:
            raise AssertionError(f"{d.name}: idempotency key {d.idempotency_key!r} not in body")


_check(_TABLE)
