"""Shared API model bases.

Request models forbid unknown fields (OWASP API3, mass assignment): a client cannot slip in
`org_id`, ids, statuses or computed amounts; they are never fields of a request model.
They also refuse control characters in text (PostgreSQL cannot store NUL, and no name or
email legitimately holds a control character).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
    field_validator,
)

# C0 and C1 controls except tab, line feed and carriage return; plus lone surrogates.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def _check_text(value: Any) -> Any:
    if isinstance(value, str) and _CONTROL.search(value):
        raise ValueError("control characters are not allowed")
    if isinstance(value, list):
        return [_check_text(item) for item in value]
    return value


# The same rule as JSON-schema patterns, so clients and tools see it: free text, and a label
# (free text with at least one visible character).
_TEXT_CHAR = r"[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]"
NO_CONTROL = rf"^{_TEXT_CHAR}*$"
LABEL = rf"^{_TEXT_CHAR}*[^\s\x00-\x1f\x7f-\x9f]{_TEXT_CHAR}*$"


class RequestModel(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, regex_engine="python-re")

    @field_validator("*", mode="after")
    @classmethod
    def _no_control_characters(cls, value: Any) -> Any:
        return _check_text(value)


class ResponseModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


def _decimal_string(pattern: str, max_length: int = 23) -> Callable[[Any], Any]:
    """Money crosses the API as a decimal string: a JSON number would pass through a float
    in most clients, so numbers are refused rather than silently rounded. The string must
    match the pattern the schema declares: that is the bound (an exponent such as "1e50"
    would otherwise reach NUMERIC columns and Decimal arithmetic sized for real amounts)."""
    shape = re.compile(pattern)

    def check(value: Any) -> Any:
        if isinstance(value, Decimal):
            return value
        if isinstance(value, str) and len(value) <= max_length and shape.fullmatch(value):
            return value
        if isinstance(value, str):
            raise ValueError(
                f"not a decimal string of at most {max_length} characters matching {pattern}"
            )
        raise ValueError('amounts are decimal strings, e.g. "1234.56", never numbers')

    return check


MONEY_PATTERN = r"^-?[0-9]{1,15}(\.[0-9]{1,6})?$"


# An amount: a string in JSON, `Decimal` in Python, `NUMERIC` in SQL. Its currency's minor
# unit is checked where the currency is known (`prorata.finance.money.check_amount`).
DecimalString = Annotated[
    Decimal,
    BeforeValidator(_decimal_string(MONEY_PATTERN)),
    PlainSerializer(str, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "pattern": MONEY_PATTERN, "maxLength": 23}),
]

RATE_PATTERN = r"^(0(\.[0-9]{1,10})?|1(\.0{1,10})?)$"

# A rate or share between 0 and 1 (0.08 = 8 %): a decimal string too, for the same reason.
RateString = Annotated[
    Decimal,
    BeforeValidator(_decimal_string(RATE_PATTERN)),
    Field(ge=0, le=1, decimal_places=10),
    PlainSerializer(str, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "pattern": RATE_PATTERN, "maxLength": 12}),
]

# A computed figure (a multiple, a rate, a share): a decimal string rounded to at most 10
# decimals, with as many integer digits as it has (an IRR of absurd flows can have thousands:
# `prorata.finance.performance`). Written in positional notation, never with an exponent
# (str(Decimal) would write a rate of 0 rounded to 10 places as "0E-10").
FIGURE_PATTERN = r"^-?[0-9]+(\.[0-9]{1,10})?$"


def _positional(value: Decimal) -> str:
    return format(value, "f")


Figure = Annotated[
    Decimal,
    PlainSerializer(_positional, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "pattern": FIGURE_PATTERN}),
]

# An IRR: a fraction a year (0.1 = 10 %), rounded half-even to 10 decimals, in (−1, ∞).
Irr = Annotated[
    Decimal,
    PlainSerializer(_positional, return_type=str, when_used="json"),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": FIGURE_PATTERN,
            "description": "A fraction a year (0.1 = 10 %), ACT/365, rounded to 10 decimals; "
            "greater than -1, with as many integer digits as it has.",
        }
    ),
]


# Strictly positive decimal (a weight): some digit is not zero. No look-ahead, so every
# schema-driven tool can use it.
POSITIVE_PATTERN = r"^([0-9]*[1-9][0-9]*(\.[0-9]{1,6})?|[0-9]+\.[0-9]*[1-9][0-9]*)$"

PositiveDecimalString = Annotated[
    Decimal,
    BeforeValidator(_decimal_string(POSITIVE_PATTERN)),
    Field(gt=0),
    PlainSerializer(str, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "pattern": POSITIVE_PATTERN, "maxLength": 23}),
]


def _known_currency(code: str) -> str:
    from prorata.finance import money

    if not money.is_currency(code):
        raise ValueError(f"{code!r} is not an active ISO 4217 currency code")
    return code


def _currency_schema() -> dict[str, Any]:
    from prorata.finance import money

    return {"type": "string", "enum": sorted(money.ISO_4217_MINOR_UNITS)}


# An ISO 4217 code; the schema lists them, so clients see which are accepted.
Currency = Annotated[str, AfterValidator(_known_currency), WithJsonSchema(_currency_schema())]


# An e-mail address: something@something.something, no spaces or control characters.
_ADDRESS_PART = r"[^@\s\x00-\x1f\x7f-\x9f]+"
Email = Annotated[
    str,
    Field(
        min_length=3,
        max_length=320,
        pattern=rf"^{_ADDRESS_PART}@{_ADDRESS_PART}\.{_ADDRESS_PART}$",
    ),
]
