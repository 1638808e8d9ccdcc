"""Error messages go into logs and dead-letter headers, where logging.pii cannot reach them (it
hashes log keys, not text): an error about an email, mobile or phone field names the value's
type, never the value."""

from __future__ import annotations

from typing import Any

import pytest

from bridge.errors import MappingError

from .helpers import record, rules_mapper

SECRET_NUMBER = 201001234567
SECRET_TEXT = "jane.doe@example.com"


def map_error(output: dict[str, Any], value: dict[str, Any]) -> MappingError:
    with pytest.raises(MappingError) as caught:
        rules_mapper({"outputs": [output]}).map(record(value))
    return caught.value


def customer(**fields: Any) -> dict[str, Any]:
    return {"customer": {"customer_id": "id", **fields}}


@pytest.mark.parametrize(
    ("output", "value"),
    [
        (customer(email="mail"), {"id": "c", "mail": SECRET_NUMBER}),
        (customer(email="mail"), {"id": "c", "mail": [SECRET_TEXT]}),
        (customer(mobile="phone"), {"id": "c", "phone": 2010012345.5}),
        (customer(mobile="phone"), {"id": "c", "phone": True}),
        (
            customer(customer_attributes={"email": "mail"}),
            {"id": "c", "mail": SECRET_NUMBER},
        ),
        (
            customer(mobile={"path": "phone", "type": "integer"}),
            {"id": "c", "phone": SECRET_TEXT},
        ),
        (
            customer(email={"path": "mail", "map": {"x": "y"}, "unmapped": "error"}),
            {"id": "c", "mail": SECRET_TEXT},
        ),
        (
            {"event": {"customer_id": "id", "name": {"const": "e"}, "email": "mail"}},
            {"id": "c", "mail": SECRET_NUMBER},
        ),
    ],
)
def test_errors_about_personal_fields_never_quote_the_value(
    output: dict[str, Any], value: dict[str, Any]
) -> None:
    error = map_error(output, value)
    assert str(SECRET_NUMBER) not in error.message
    assert SECRET_TEXT not in error.message
    assert "2010012345" not in error.message
    assert "got" in error.message or "cannot make" in error.message or "not in" in error.message


def test_other_fields_still_quote_the_value() -> None:
    error = map_error(customer(os_type="os"), {"id": "c", "os": 12345})
    assert "integer 12345" in error.message


@pytest.mark.parametrize(
    "output",
    [
        customer(mobile="phone"),
        customer(customer_attributes={"mobile": "phone"}),
        {"event": {"customer_id": "id", "name": {"const": "e"}, "mobile": "phone"}},
        {
            "order": {
                "customer_id": "id",
                "order_id": "id",
                "order_date": {"const": "2024-01-01T00:00:00Z"},
                "total_paid": {"const": 1},
                "mobile": "phone",
            }
        },
    ],
)
def test_an_integer_mobile_is_sent_as_its_digits(output: dict[str, Any]) -> None:
    (operation,) = rules_mapper({"outputs": [output]}).map(
        record({"id": "c", "phone": SECRET_NUMBER})
    )
    body = operation.body
    mobile = body.get("mobile") or body["customerAttributes"]["mobile"]
    assert mobile == "201001234567"
