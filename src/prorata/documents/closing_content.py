"""What a subsequent close's letter says to one investor, read from the closing's view (no PDF
code here): a new investor's equalization by purpose, fee catch-up and interest (what its
equalization call asks, and the interest it wires with it); an earlier investor's rebalancing
return by purpose and the interest it receives."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from prorata.closings import service as closing_service
from prorata.closings.models import Closing
from prorata.closings.schemas import Role
from prorata.documents import letters
from prorata.funds.models import Fund
from prorata.investors.models import Investor

PURPOSES = {
    "investment": "Investments",
    "fund_expenses": "Fund expenses",
    "management_fee": "Management fees",
}


@dataclasses.dataclass(frozen=True)
class ClosingNotice:
    investor_id: uuid.UUID
    addressee: letters.Addressee
    fund_name: str
    currency: str
    number: int
    closing_date: dt.date
    due_date: dt.date
    new: bool
    commitment: Decimal
    rows: list[tuple[str, Decimal]]  # label, amount (as the investor reads it)
    total: Decimal  # a new investor: total due; an earlier one: total paid back


async def closing_notices(session: AsyncSession, *, closing: Closing) -> list[ClosingNotice]:
    view = await closing_service.view(session, closing=closing)
    fund = await session.get_one(Fund, closing.fund_id)
    investors = {
        i.id: i
        for i in (
            await session.scalars(
                sa.select(Investor).where(Investor.id.in_([x.investor_id for x in view.lines]))
            )
        ).all()
    }
    notices = []
    for line in view.lines:
        new = line.role is Role.new
        if new:
            rows = [(f"Equalization: {PURPOSES[p]}", a) for p, a in line.equalization.items()]
            rows += [
                ("Management fee catch-up since the first closing", line.fee_catch_up),
                ("Equalization interest", line.interest_paid),
            ]
            total = line.total_due
        else:
            rows = [
                (f"Return of excess contribution: {PURPOSES[p]}", a)
                for p, a in line.rebalancing_return.items()
            ]
            rows.append(("Equalization interest received", line.interest_received))
            total = line.total_returned
        notices.append(
            ClosingNotice(
                investor_id=line.investor_id,
                addressee=letters.addressee(investors[line.investor_id]),
                fund_name=fund.name,
                currency=fund.currency,
                number=closing.number or 0,
                closing_date=closing.closing_date,
                due_date=closing.due_date,
                new=new,
                commitment=line.commitment,
                rows=[(label, amount) for label, amount in rows if amount],
                total=total,
            )
        )
    return notices
