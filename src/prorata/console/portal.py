"""The LP portal: what an `investor` member sees — its commitments across the organisation's
funds, each fund's capital account statement for any period, its documents and its contacts.

Every page reads through the services the API calls, as the member's principal: the investor is
always the member's own (`scoped_investor`), so another investor's anything is not there (404),
by URL too. GP members have the console instead: to them these pages are not there (404).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from prorata.accounts import sessions
from prorata.capital_accounts import service as account_service
from prorata.console import contact_forms, forms, render
from prorata.console.funds import chart_json
from prorata.console.routing import PageDb, PageRoute, SignedIn, see_other
from prorata.documents import service as document_service
from prorata.fund_metrics import service as metrics_service
from prorata.fund_metrics import statement as statement_service
from prorata.fund_metrics.schemas import StatementOut
from prorata.funds import service as fund_service
from prorata.funds.models import Commitment, Fund
from prorata.http.pagination import PageParams
from prorata.http.tenancy import scoped_investor
from prorata.investors import contacts as investor_contacts
from prorata.investors import service as investor_service
from prorata.investors.schemas import ContactCreate, ContactUpdate
from prorata.platform import errors

router = APIRouter(route_class=PageRoute)

DOCUMENTS = 100


def _investor_of(page: SignedIn) -> uuid.UUID:
    investor = scoped_investor(page.principal, None)
    if investor is None:
        raise errors.NotFound("the LP portal is for investors: the console is at /")
    return investor


async def _funds_of(db: AsyncSession, investor_id: uuid.UUID) -> list[Fund]:
    rows = await db.scalars(
        sa.select(Fund)
        .join(Commitment, Commitment.fund_id == Fund.id)
        .where(Commitment.investor_id == investor_id)
        .order_by(Fund.name)
    )
    return list(rows)


async def home(request: Request, db: AsyncSession, page: SignedIn) -> Response:
    """The portal's home (the console's `/` for an investor member): every commitment with its
    capital account balance today and the investor's own multiples."""
    investor_id = _investor_of(page)
    investor = await investor_service.get(db, investor_id=investor_id)
    today = dt.date.today()
    holdings = []
    by_currency: dict[str, list[list[dict[str, Any]]]] = {}
    for fund in await _funds_of(db, investor_id):
        metrics = await metrics_service.compute(
            db, fund_id=fund.id, as_of=today, investor_id=investor_id, fund=fund
        )
        account = await account_service.statement(
            db, fund_id=fund.id, investor_id=investor_id, start=None, end=today
        )
        holdings.append({"fund": fund, "metrics": metrics, "account": account})
        book = await account_service.investor_book(db, fund=fund, investor_id=investor_id)
        by_currency.setdefault(fund.currency, []).append(
            _over_time(book.movements[investor_id], today)
        )
    charts = [
        {
            "currency": currency,
            "points": (points := _summed(funds)),
            "chart_json": chart_json({"points": points, "nav_label": "Capital account"}),
        }
        for currency, funds in sorted(by_currency.items())
    ]
    return await render.page(
        request,
        "portal_home.html",
        investor=investor,
        holdings=holdings,
        charts=charts,
        today=today,
    )


def _summed(funds: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Several funds' monthly figures (each cumulative, from `_over_time`) added month by month:
    a fund with no movement in a month counts with its figures of the month before."""
    months = sorted({point["month"] for points in funds for point in points})
    latest: list[dict[str, Any]] = [{} for _ in funds]
    summed = []
    for month in months:
        for n, points in enumerate(funds):
            latest[n] = next((p for p in points if p["month"] == month), latest[n])
        summed.append(
            {
                "month": month,
                **{
                    key: sum((figures.get(key, Decimal(0)) for figures in latest), Decimal(0))
                    for key in ("contributed", "distributed", "nav")
                },
            }
        )
    return summed


@router.get("/portal/funds/{fund_id}")
async def fund_statement(
    request: Request,
    db: PageDb,
    page: SignedIn,
    fund_id: uuid.UUID,
    start: Annotated[dt.date | None, Query(alias="from")] = None,
    end: Annotated[dt.date | None, Query(alias="to")] = None,
) -> Response:
    investor_id = _investor_of(page)
    fund = await fund_service.get(db, fund_id=fund_id)
    end = end or dt.date.today()
    problem: str | None = None
    statement: StatementOut | None = None
    try:
        statement = await statement_service.statement(
            db, fund_id=fund_id, investor_id=investor_id, as_of=end, start=start
        )
    except errors.RuleViolation as refused:
        problem = refused.detail
    metrics = await metrics_service.compute(
        db, fund_id=fund_id, as_of=end, investor_id=investor_id, fund=fund
    )
    book = await account_service.investor_book(db, fund=fund, investor_id=investor_id)
    points = _over_time(book.movements[investor_id], end)
    return await render.page(
        request,
        "portal_fund.html",
        points=points,
        chart_json=chart_json({"points": points, "nav_label": "Capital account"}),
        status=422 if problem else 200,
        fund=fund,
        statement=statement,
        metrics=metrics,
        start=start,
        end=end,
        errors={"period": problem} if problem else {},
    )


def _over_time(movements: list[account_service.Movement], end: dt.date) -> list[dict[str, Any]]:
    """Month by month to `end`: cumulative contributions and distributions, and the capital
    account's balance at the month's end (its movements and allocated gains)."""
    running = {"contributed": Decimal(0), "distributed": Decimal(0), "nav": Decimal(0)}
    by_month: dict[str, dict[str, Decimal]] = {}
    for movement in sorted((m for m in movements if m.day <= end), key=lambda m: m.day):
        running["nav"] += movement.effect
        if movement.line == "contributions":
            running["contributed"] += movement.amount
        elif movement.line == "distributions":
            running["distributed"] += movement.amount
        by_month[movement.day.isoformat()[:7]] = dict(running)
    return [{"month": month, **figures} for month, figures in by_month.items()]


@router.post("/portal/investor")
async def switch_investor(request: Request, db: PageDb, page: SignedIn) -> Response:
    """The switcher in the header: act for another of the member's linked investors."""
    chosen = (await request.form()).get("investor_id")
    try:
        investor_id = uuid.UUID(str(chosen))
    except ValueError:
        raise errors.NotFound("not found") from None
    await sessions.switch_investor(db, principal=page.principal, investor_id=investor_id)
    return see_other("/")


@router.get("/portal/documents")
async def documents(request: Request, db: PageDb, page: SignedIn) -> Response:
    investor_id = _investor_of(page)
    found = await document_service.page(
        db,
        params=PageParams(limit=DOCUMENTS, cursor=None),
        fund_id=None,
        call_id=None,
        investor_id=investor_id,
        released_only=True,  # notices held for approval: not yet the LP's
    )
    funds = {f.id: f.name for f in await _funds_of(db, investor_id)}
    return await render.page(request, "portal_documents.html", documents=found.items, funds=funds)


async def _contacts_page(
    request: Request,
    db: AsyncSession,
    page: SignedIn,
    *,
    error: tuple[str, str] | None = None,
    status: int = 200,
) -> Response:
    """The investor's contacts and how its letters are addressed. `error`: (section, the
    API's words) of a form refused."""
    investor_id = _investor_of(page)
    investor = await investor_service.get(db, investor_id=investor_id)
    contacts = await investor_contacts.listed(db, actor=page.principal, investor_id=investor_id)
    return await render.page(
        request,
        "portal_contacts.html",
        status=status,
        investor=investor,
        contacts=[(c, contact_forms.receives(c)) for c in contacts],
        kinds=contact_forms.KINDS,
        errors=dict([error] if error else []),
    )


@router.get("/portal/contacts")
async def contacts(request: Request, db: PageDb, page: SignedIn) -> Response:
    return await _contacts_page(request, db, page)


@router.post("/portal/contacts")
async def add_contact(request: Request, db: PageDb, page: SignedIn) -> Response:
    form = dict((await request.form()).items())
    return await _change(
        request,
        db,
        page,
        lambda: investor_contacts.create(
            db,
            actor=page.principal,
            investor_id=_investor_of(page),
            data=ContactCreate.model_validate(contact_forms.data(form, with_address=True)),
        ),
    )


@router.post("/portal/contacts/{contact_id}")
async def change_contact(
    request: Request, db: PageDb, page: SignedIn, contact_id: uuid.UUID
) -> Response:
    form = dict((await request.form()).items())
    return await _change(
        request,
        db,
        page,
        lambda: investor_contacts.update(
            db,
            actor=page.principal,
            investor_id=_investor_of(page),
            contact_id=contact_id,
            data=ContactUpdate.model_validate(contact_forms.data(form, with_address=False)),
        ),
    )


@router.post("/portal/contacts/{contact_id}/remove")
async def remove_contact(
    request: Request, db: PageDb, page: SignedIn, contact_id: uuid.UUID
) -> Response:
    return await _change(
        request,
        db,
        page,
        lambda: investor_contacts.delete(
            db, actor=page.principal, investor_id=_investor_of(page), contact_id=contact_id
        ),
    )


@router.post("/portal/addressee")
async def change_addressee(request: Request, db: PageDb, page: SignedIn) -> Response:
    """The LP keeps its letters' address and attention line current (audited, as the GP's)."""
    form = dict((await request.form()).items())
    return await _change(
        request,
        db,
        page,
        lambda: investor_service.update(
            db,
            actor=page.principal,
            investor_id=_investor_of(page),
            data=contact_forms.addressee(form),
        ),
        section="addressee",
    )


async def _change(
    request: Request,
    db: AsyncSession,
    page: SignedIn,
    change: Callable[[], Awaitable[object]],
    *,
    section: str = "contact",
) -> Response:
    refused = await forms.attempt(db, change)
    if refused is not None:
        return await _contacts_page(
            request, db, page, error=(section, refused.detail), status=refused.status
        )
    return see_other(f"/portal/contacts#{section}")
