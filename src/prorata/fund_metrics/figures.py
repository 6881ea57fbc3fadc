"""Computed figures (multiples, rates) as the API gives them: rounded to 10 decimals."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Context, Decimal

_FIGURE = Decimal("1E-10")


def figure(value: Decimal | None) -> Decimal | None:
    """`value` rounded half-even to 10 decimals (an IRR is already: `performance.IRR_PLACES`)."""
    if value is None:
        return None
    # A rate earned in days can have more digits before the point than the default context
    # holds (1.5× in a day is 65 digits a year): quantizing there raised InvalidOperation.
    wide = Context(prec=max(28, value.adjusted() + 12))
    return value.quantize(_FIGURE, rounding=ROUND_HALF_EVEN, context=wide)
