"""The docs' table of operations, rendered from the operation table: docs/mapping.md and the
README carry it, and a unit test checks that they carry exactly this."""

from __future__ import annotations

from bridge.operations.model import Description, Resource
from bridge.operations.table import OPERATIONS

# Gameball's names for the rate-limit rows (API.md, "Rate limits").
_BUCKET_ROWS = {
    Resource.EVENTS: "events",
    Resource.ORDERS: "orders",
    Resource.CUSTOMERS: "customers",
    Resource.PAYMENTS: "transactions, others",
}

HEADER = (
    "| output | Gameball call | what it does | rate limit | batches | also delivered on "
    "| retried for a time on |",
    "|---|---|---|---|---|---|---|",
)


def _codes(codes: frozenset[int]) -> str:
    return ", ".join(str(code) for code in sorted(codes))


def _row(d: Description) -> str:
    output = f"`{d.output}`" + (f" (`{d.part}`)" if d.part else "") if d.output else "(plugins)"
    call = f"`{d.method} {d.path}`"
    batch = f"`{d.batch_path}`" if d.batch_path else "no"
    delivered = [f"9004 (`{d.idempotency_key}` reused)"] if d.idempotency_key else []
    delivered += [_codes(d.done_codes)] if d.done_codes else []
    pending = f"{_codes(d.pending_codes)} (its order not there yet)" if d.pending_codes else ""
    cells = [output, call, d.summary, _BUCKET_ROWS[d.bucket], batch, "; ".join(delivered)]
    return "| " + " | ".join([*cells, pending]) + " |"


def markdown_table() -> str:
    """One row per operation, in the table's order."""
    return "\n".join([*HEADER, *(_row(d) for d in OPERATIONS.values())])


if __name__ == "__main__":  # python -m bridge.operations.docs: print it, to paste
    print(markdown_table())
