"""Domain checks on well-formed input, answered as rule violations (422)."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from prorata.finance import money
from prorata.platform import errors
from prorata.platform.db import Base


def amount(value: Decimal, currency: str, *, field: str, allow_zero: bool = False) -> Decimal:
    """`value` as an amount of `currency`: within its minor unit, positive (or zero)."""
    try:
        checked = money.check_amount(value, currency)
    except ValueError as exc:
        raise errors.RuleViolation(f"{field}: {exc}") from None
    if checked < 0 or (checked == 0 and not allow_zero):
        raise errors.RuleViolation(f"{field} must be {'zero or ' if allow_zero else ''}positive")
    return checked


def apply_changes(row: Base, changes: Mapping[str, Any]) -> None:
    """PATCH semantics: set each field the client sent; null only where the column allows it
    (the table says which, so no list of required fields can drift from the schema)."""
    table = row.__table__
    assert isinstance(table, sa.Table)
    for name, value in changes.items():
        if value is None and not table.c[name].nullable:
            raise errors.RuleViolation(f"{name} cannot be null")
        setattr(row, name, value)
