"""A living fund for the demo organisation, so a newcomer's first sign-in shows real numbers.

Made through the same services the API uses (every rule, ledger entry and audit entry as if a
GP had done it), in one transaction, deterministic (a seeded random): 40 investors with
commitments, 6 deals with pro rata allocations, four quarterly calls with their management fee
— most paid on time, some late, one partly — a valuation each quarter, and an exit: the first
deal sold in full at 2.5× its cost (a realisation with a gain), its proceeds paid out by a
distribution naming the realisation.
Its notices are rendered by the worker like any call's; the investors have no e-mail address,
so nothing is mailed. New calls of this fund wait for approval, as for any new fund.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from prorata.allocations import service as allocation_service
from prorata.capital_calls import service as call_service
from prorata.capital_calls.models import Purpose
from prorata.capital_calls.schemas import CallCreate, ItemIn, PaymentIn
from prorata.deals import realisations
from prorata.deals import service as deal_service
from prorata.deals.schemas import DealCreate, RealisationCreate
from prorata.distributions import service as distribution_service
from prorata.distributions.models import DistributionKind
from prorata.distributions.schemas import DistributionCreate
from prorata.funds import service as fund_service
from prorata.funds.schemas import FundCreate, FundUpdate
from prorata.http.tenancy import Principal
from prorata.investors import service as investor_service
from prorata.investors.models import InvestorKind
from prorata.investors.schemas import InvestorCreate
from prorata.valuations import service as valuation_service
from prorata.valuations.schemas import ValuationCreate

FUND_NAME = "Demo Ventures Fund I"
INVESTORS = 40
WIRE = "Demo Bank N.A., ABA 000000000, account 0000000000, reference: your notice number"
FIRST_NAMES = ["Harbor", "Summit", "Cedar", "Granite", "Meridian", "Northwind", "Lakeside",
               "Bluewater", "Ironwood", "Silverline", "Oakmont", "Redstone", "Westbrook",
               "Highland", "Riverside", "Stonegate", "Fairview", "Clearwater", "Brightpath",
               "Evergreen"]  # fmt: skip
KINDS = ["Family Office", "Endowment", "Pension Plan", "Foundation"]
DEALS = [
    ("Acme Robotics Series A", "Acme Robotics Inc."),
    ("Blue Finch Health Seed", "Blue Finch Health Ltd."),
    ("Cobalt Grid Series B", "Cobalt Grid GmbH"),
    ("Delta Ledger Series A", "Delta Ledger SAS"),
    ("Ember Foods Series A", "Ember Foods LLC"),
    ("Fjord Analytics Seed", "Fjord Analytics AS"),
]
# (notice date, deals invested that quarter, NAV at the quarter's end)
QUARTERS = [
    (dt.date(2026, 1, 12), [0, 1], (dt.date(2026, 3, 31), Decimal("8050000.00"))),
    (dt.date(2026, 4, 13), [2], (dt.date(2026, 6, 30), Decimal("12480000.00"))),
    (dt.date(2026, 7, 13), [3, 4], (dt.date(2026, 9, 30), Decimal("21150000.00"))),
    (dt.date(2026, 10, 12), [5], (dt.date(2026, 11, 30), Decimal("21300000.00"))),
]
LATE_PAYMENT = (
    "Amounts not received by the due date bear interest at 8% a year from the due date until "
    "paid. A Limited Partner who has not paid within ten business days of a notice of default "
    "is a Defaulting Limited Partner under the Partnership Agreement."
)
DEAL_SIZE = Decimal("4000000.00")
# The exit: the first deal (cost DEAL_SIZE, paid in full in the first quarter) sold in full on
# EXIT's date for its proceeds — a realised gain of 10,000,000 − 4,000,000 = 6,000,000 — all of
# them paid to the investors by the distribution naming it. The last NAV (2026-11-30) is the
# September one rolled forward by the October call's cash, the gain and the distribution, with
# no uplift: the fund's NAV stays near the deals' remaining cost, so the gross (deal-level)
# multiples, before fees, stay above the investors' net ones.
EXIT = (dt.date(2026, 11, 16), Decimal("10000000.00"))
DISTRIBUTION = dt.date(2026, 11, 20)


def _investors(rng: random.Random) -> list[InvestorCreate]:
    people = []
    for n in range(INVESTORS):
        if n % 5 == 4:
            name = f"{rng.choice(['A.', 'M.', 'J.', 'S.', 'R.'])} {FIRST_NAMES[n % 20]} Trust {n}"
            kind = InvestorKind.individual
        else:
            name = f"{FIRST_NAMES[n % 20]} {KINDS[n % 4]} {n // 20 + 1}"
            kind = InvestorKind.entity
        people.append(
            InvestorCreate(
                name=name,
                kind=kind,
                country=rng.choice(["US", "GB", "DE"]),
                attention="Investor Relations" if kind is InvestorKind.entity else None,
                address=f"{100 + n} {FIRST_NAMES[n % 20]} Street\nSpringfield",
            )
        )
    return people


def _commitment(rng: random.Random) -> Decimal:
    return Decimal(rng.choice([250, 500, 750, 1000, 1500, 2000, 2500, 5000])) * 1000


async def seed(session: AsyncSession, *, actor: Principal) -> uuid.UUID:
    """Create the demo fund in `session`'s transaction (the tenant is the actor's); its id."""
    rng = random.Random(2026)  # noqa: S311 - demo figures, not secrets
    fund = await fund_service.create(
        session,
        actor=actor,
        data=FundCreate(
            name=FUND_NAME,
            currency="USD",
            wire_instructions=WIRE,
            late_payment_terms=LATE_PAYMENT,
            notices_need_approval=False,  # the history below was sent; new calls wait (end)
        ),
    )
    for person in _investors(rng):
        investor = await investor_service.create(session, actor=actor, data=person)
        await fund_service.add_commitment(
            session,
            actor=actor,
            fund_id=fund.id,
            investor_id=investor.id,
            amount=_commitment(rng),
            committed_on=dt.date(2025, 12, 15),
        )
    deal_ids = []
    for name, company in DEALS:
        deal = await deal_service.create(
            session, actor=actor, fund_id=fund.id, data=DealCreate(name=name, company=company)
        )
        deal_ids.append(deal.id)
    for number, (notice, deals, (nav_date, nav)) in enumerate(QUARTERS):
        await _quarter(session, actor, fund.id, deal_ids, notice, deals, rng, number)
        await valuation_service.record(
            session, actor=actor, fund_id=fund.id, data=ValuationCreate(as_of=nav_date, nav=nav)
        )
    await _exit(session, actor, fund.id, deal_ids[0])
    await fund_service.update(
        session, actor=actor, fund_id=fund.id, data=FundUpdate(notices_need_approval=True)
    )
    return fund.id


async def _exit(
    session: AsyncSession, actor: Principal, fund_id: uuid.UUID, deal_id: uuid.UUID
) -> None:
    """The first deal sold in full (EXIT) and its proceeds distributed (DISTRIBUTION)."""
    day, proceeds = EXIT
    sold = await realisations.realise(
        session,
        actor=actor,
        fund_id=fund_id,
        deal_id=deal_id,
        data=RealisationCreate(date=day, proceeds=proceeds, cost_realised=DEAL_SIZE),
    )
    await distribution_service.create(
        session,
        actor=actor,
        fund_id=fund_id,
        data=DistributionCreate(
            date=DISTRIBUTION,
            amount=proceeds,
            kind=DistributionKind.return_of_capital,
            deal_id=deal_id,
            realisation_id=sold.id,
        ),
    )


async def _quarter(
    session: AsyncSession,
    actor: Principal,
    fund_id: uuid.UUID,
    deal_ids: list[uuid.UUID],
    notice: dt.date,
    deals: list[int],
    rng: random.Random,
    number: int,
) -> None:
    """One quarter's call: its deals allocated pro rata and called, the quarter's fee; then
    the payments — on time, late (a few), and in the last quarter one still partly unpaid."""
    items = [ItemIn(purpose=Purpose.management_fee, amount=Decimal("325000.00"))]
    for index in deals:
        await allocation_service.replace_prorata(
            session, actor=actor, fund_id=fund_id, deal_id=deal_ids[index], amount=DEAL_SIZE
        )
        items.append(ItemIn(purpose=Purpose.investment, amount=DEAL_SIZE, deal_id=deal_ids[index]))
    draft = await call_service.create_draft(
        session, actor=actor, fund_id=fund_id, data=CallCreate(notice_date=notice, items=items)
    )
    call = await call_service.issue(session, actor=actor, fund_id=fund_id, call_id=draft.id)
    view = await call_service.view(session, call=call)
    last = number == len(QUARTERS) - 1
    for position, line in enumerate(view.lines):
        late = rng.random() < 0.15
        received = call.due_date + dt.timedelta(days=rng.randint(3, 20) if late else -2)
        amount = line.total
        if last and position == 0:
            amount = (line.total / 2).quantize(Decimal("0.01"))  # one LP paid half so far
        elif last and position in (1, 2):
            continue  # two LPs have not paid yet: past due
        await call_service.record_payment(
            session,
            actor=actor,
            fund_id=fund_id,
            call_id=call.id,
            data=PaymentIn(investor_id=line.investor_id, amount=amount, received_on=received),
        )
