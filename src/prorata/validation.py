"""Domain checks on well-formed input, answered as rule violations (422)."""

from __future__ import annotations

from decimal import Decimal

from prorata import errors, money


def amount(value: Decimal, currency: str, *, field: str, allow_zero: bool = False) -> Decimal:
    """`value` as an amount of `currency`: within its minor unit, positive (or zero)."""
    try:
        checked = money.check_amount(value, currency)
    except ValueError as exc:
        raise errors.RuleViolation(f"{field}: {exc}") from None
    if checked < 0 or (checked == 0 and not allow_zero):
        raise errors.RuleViolation(f"{field} must be {'zero or ' if allow_zero else ''}positive")
    return checked
