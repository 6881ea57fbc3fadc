"""Shared request types: money as decimal strings, text without control characters."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from pydantic import ValidationError

from prorata.http.schemas import MONEY_PATTERN, DecimalString, RequestModel


class Payment(RequestModel):
    amount: DecimalString
    note: str | None = None


@pytest.mark.parametrize("value", [1.5, 100, True, None, [1]])
def test_money_refuses_json_numbers(value: object) -> None:
    with pytest.raises(ValidationError, match="decimal strings"):
        Payment.model_validate_json(json.dumps({"amount": value}))


@pytest.mark.parametrize("text", ["1234.56", "0.1", "-5", "100000000000000.000001"])
def test_money_parses_decimal_strings_exactly(text: str) -> None:
    payment = Payment.model_validate_json(json.dumps({"amount": text}))
    assert payment.amount == Decimal(text)
    assert json.loads(payment.model_dump_json())["amount"] == text


@pytest.mark.parametrize(
    "text", ["1e50", "1E+2", "1000000000000000", "0.0000001", "+5", " 5", "5.", ".5", "NaN"]
)
def test_money_outside_its_declared_pattern_is_refused(text: str) -> None:
    # The schema's pattern is the contract (15 integer digits, 6 decimals written): an
    # exponent would otherwise let 10^50 through to NUMERIC columns and Decimal arithmetic.
    with pytest.raises(ValidationError, match="decimal string"):
        Payment.model_validate_json(json.dumps({"amount": text}))


def test_money_is_a_string_in_the_schema() -> None:
    schema = Payment.model_json_schema()["properties"]["amount"]
    assert schema["type"] == "string"
    assert schema["pattern"] == MONEY_PATTERN
    assert schema["maxLength"] == 23


@pytest.mark.parametrize("note", ["nul\x00byte", "bell\x07", "c1\x9b"])
def test_text_with_control_characters_is_refused(note: str) -> None:
    with pytest.raises(ValidationError, match="control characters"):
        Payment.model_validate({"amount": "1", "note": note})


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        Payment.model_validate({"amount": "1", "org_id": "x"})
