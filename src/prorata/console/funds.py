"""A fund's pages: its overview (figures, the capital chart, commitments, calls) and a call's
page (each investor's line, the payments board, the notices and their approval).

Every figure comes from the services the API uses; a form here calls the same service function
as its API route, so the rules (roles, four eyes, amounts, idempotency) are the API's.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Awaitable, Callable, Iterable
from decimal import Decimal
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Form, Query, Request, Response
from markupsafe import Markup
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from prorata.activity import service as activity_service
from prorata.allocations import service as allocation_service
from prorata.bank_accounts.schemas import BankDetails
from prorata.capital_accounts import service as account_service
from prorata.capital_calls import service as call_service
from prorata.capital_calls.models import CallLine, CallStatus, Purpose
from prorata.capital_calls.schemas import CallCreate, ItemIn, LineOut, PaymentIn
from prorata.carry import service as carry_service
from prorata.closings import service as closing_service
from prorata.closings.schemas import ClosingCreate
from prorata.console import bank_forms, contact_forms, forms, render
from prorata.console.routing import PageDb, PageRoute, SignedIn, see_other
from prorata.deals import realisations
from prorata.deals import service as deal_service
from prorata.deals.schemas import DealCreate
from prorata.distributions import service as distribution_service
from prorata.distributions.models import DistributionKind
from prorata.distributions.schemas import DistributionCreate
from prorata.documents.models import Document
from prorata.finance import money
from prorata.fund_metrics import service as metrics_service
from prorata.fund_metrics import statement as statement_service
from prorata.fund_metrics.schemas import StatementOut
from prorata.funds import repository as fund_repository
from prorata.funds import service as fund_service
from prorata.funds.models import DayCount, WaterfallStyle
from prorata.funds.repository import CommitmentOrder
from prorata.funds.schemas import CommitmentTermsUpdate, FundCreate, FundUpdate
from prorata.http import exports
from prorata.http.pagination import PageParams
from prorata.http.tenancy import ROLE_RANK, Role
from prorata.investors import contacts as investor_contacts
from prorata.investors import service as investor_service
from prorata.investors.models import Investor
from prorata.investors.schemas import ContactCreate, ContactUpdate
from prorata.ledger import repository as ledger
from prorata.ledger.models import EntryKind
from prorata.management_fees import calls as fee_calls
from prorata.management_fees import service as fee_service
from prorata.orgs import service as org_service
from prorata.platform import errors, events
from prorata.valuations import service as valuation_service
from prorata.valuations.models import Valuation
from prorata.valuations.schemas import ValuationCreate

router = APIRouter(route_class=PageRoute)

PAGE_SIZE = 50
FormText = Annotated[str, Form()]


async def names_of(
    session: AsyncSession, investor_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, str]:
    ids = list(investor_ids)
    if not ids:
        return {}
    rows = await session.execute(sa.select(Investor.id, Investor.name).where(Investor.id.in_(ids)))
    return {investor_id: name for investor_id, name in rows.all()}


_SERIES_KINDS = {
    EntryKind.contribution: "called",
    EntryKind.payment: "contributed",  # cash received for calls: contributed capital
    EntryKind.distribution: "distributed",
    EntryKind.recallable_distribution: "distributed",
}


async def _series(
    session: AsyncSession, fund_id: uuid.UUID, read: list[metrics_service.Flow]
) -> dict[str, Any]:
    """Month by month: cumulative capital called, contributed and distributed (the fund's flows:
    ledger sums by kind and day, never the rows themselves) and the NAV at the month's end (the
    latest valuation rolled forward) — the J-curve's data — and at each quarter's end the fund's
    DPI and TVPI from the same sums (a distribution counted once)."""
    zero = {"called": Decimal(0), "contributed": Decimal(0), "distributed": Decimal(0)}
    by_month: dict[str, dict[str, Decimal]] = {}
    for flow in read:
        cell = by_month.setdefault(flow.day.isoformat()[:7], dict(zero))
        cell[_SERIES_KINDS[flow.kind]] += flow.amount
    valued = await session.scalars(sa.select(Valuation.as_of).where(Valuation.fund_id == fund_id))
    months = sorted(set(by_month) | {day.isoformat()[:7] for day in valued.all()})
    ends = {key: _month_end(key) for key in months}
    # The NAV at each month's end: the latest valuation rolled forward (docs/fund-operations.md).
    navs = await account_service.fund_navs(session, fund_id=fund_id, days=ends.values())
    running = dict(zero)
    points, quarters = [], []
    for index, key in enumerate(months):
        for column in running:
            running[column] += by_month.get(key, zero)[column]
        nav = navs[ends[key]]
        points.append({"month": key, **running, "nav": nav})
        quarter_end = key[5:] in ("03", "06", "09", "12") or index == len(months) - 1
        if quarter_end and running["contributed"] > 0:
            paid, out = running["contributed"], running["distributed"]
            quarters.append(
                {
                    "quarter": f"{key[:4]} Q{(int(key[5:]) + 2) // 3}",
                    "dpi": (out / paid).quantize(Decimal("0.01")),
                    "tvpi": ((out + nav) / paid).quantize(Decimal("0.01")),
                }
            )
    return {"points": points, "quarters": quarters}


def _month_end(key: str) -> dt.date:
    """The last day of the month `key` (YYYY-MM)."""
    first = dt.date.fromisoformat(f"{key}-01")
    return (first + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)


def chart_json(series: dict[str, Any]) -> Markup:
    """The series for the chart script, as JSON safe inside a <script> element."""
    text = json.dumps(series, default=str).replace("<", "\\u003c")
    return Markup(text)  # noqa: S704 - JSON of our own numbers, `<` escaped


FUND_FIELDS = (
    "name",
    "currency",
    "vintage_year",
    "management_fee_rate",
    "preferred_return_rate",
    "carry_share",
    "waterfall_style",
    "notice_business_days",
    "wire_instructions",
)


async def _new_fund_page(
    request: Request,
    *,
    status: int = 200,
    values: dict[str, Any] | None = None,
    problems: dict[str, str] | None = None,
) -> Response:
    return await render.page(
        request,
        "fund_new.html",
        status=status,
        values=values or {"currency": "USD", "notices_need_approval": "on"},
        styles=[s.value for s in WaterfallStyle],
        day_counts=[d.value for d in DayCount],
        errors=problems or {},
    )


@router.get("/funds/new")
async def new_fund(request: Request, page: SignedIn) -> Response:
    return await _new_fund_page(request)


@router.post("/funds")
async def create_fund(request: Request, db: PageDb, page: SignedIn) -> Response:
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    values = forms.filled(form, FUND_FIELDS)
    try:
        data = FundCreate.model_validate(
            {**values, "notices_need_approval": form.get("notices_need_approval") == "on"}
        )
        async with db.begin_nested():
            fund = await fund_service.create(db, actor=page.principal, data=data)
    except ValidationError as refused:
        return await _new_fund_page(
            request, status=422, values=form, problems=forms.field_errors(refused)
        )
    except errors.RuleViolation as refused:
        return await _new_fund_page(
            request, status=422, values=form, problems={"form": refused.detail}
        )
    return see_other(f"/funds/{fund.id}")


@router.post("/funds/{fund_id}/deals")
async def create_deal(
    request: Request, db: PageDb, page: SignedIn, fund_id: uuid.UUID, name: FormText = ""
) -> Response:
    try:
        data = DealCreate(name=name)
        async with db.begin_nested():
            await deal_service.create(db, actor=page.principal, fund_id=fund_id, data=data)
    except (ValidationError, errors.RuleViolation, errors.Conflict) as refused:
        detail = (
            forms.field_errors(refused).get("name", "the deal needs a name")
            if isinstance(refused, ValidationError)
            else refused.detail
        )
        return await fund_page(request, db, page, fund_id, deal_error=detail, status=422)
    return see_other(f"/funds/{fund_id}#deals-heading")


@router.post("/funds/{fund_id}/deals/{deal_id}/allocate")
async def allocate_deal(
    request: Request,
    db: PageDb,
    page: SignedIn,
    fund_id: uuid.UUID,
    deal_id: uuid.UUID,
    amount: FormText = "",
) -> Response:
    """Allocate a deal across the investors pro rata to their commitments (replacing its
    allocations), as `POST …/allocations/prorata` does."""
    value = forms.money(amount)
    try:
        if value is None:
            raise errors.RuleViolation("the amount must be a number, e.g. 4000000.00")
        async with db.begin_nested():
            await allocation_service.replace_prorata(
                db, actor=page.principal, fund_id=fund_id, deal_id=deal_id, amount=value
            )
    except (errors.RuleViolation, errors.Conflict) as refused:
        return await fund_page(request, db, page, fund_id, deal_error=refused.detail, status=422)
    return see_other(f"/funds/{fund_id}#deals-heading")


async def deal_rows(db: AsyncSession, fund_id: uuid.UUID) -> list[dict[str, Any]]:
    deals = await deal_service.page(db, fund_id=fund_id, params=PageParams(limit=500, cursor=None))
    totals = await allocation_service.totals(db, fund_id=fund_id)
    held = await realisations.positions(db, fund_id=fund_id, deals=deals.items)
    return [
        {
            "deal": d,
            "allocated": totals[d.id].allocated if d.id in totals else None,
            "position": held[d.id],
        }
        for d in deals.items
    ]


async def realisation_rows(
    db: AsyncSession, fund_id: uuid.UUID, deals: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The fund's standing realisations, each with its deal's name and id: the list the fund
    page cancels from and the distribution form chooses proceeds from."""
    names = {row["deal"].id: row["deal"].name for row in deals}
    return [
        {"realisation": r, "deal": names.get(r.deal_id, "—")}
        for r in await realisations.standing(db, fund_id=fund_id)
    ]


async def _carry(db: AsyncSession, fund_id: uuid.UUID) -> dict[str, Any]:
    """The carry panel: the position today with its clawback measure computed now (as
    `GET …/clawback` gives it: a write-down since the latest distribution counts), and beside
    it the measure stored with the latest distribution (less what a booked clawback gave
    back), so a reader sees how it moved since."""
    today = dt.date.today()
    position = await carry_service.position(db, fund_id=fund_id, as_of=today)
    stored = await distribution_service.latest_interim_clawback(db, fund_id=fund_id, as_of=today)
    return {
        "position": position,
        "at_latest_distribution": max(Decimal(0), stored - position.given_back),
    }


async def _commitment_rows(
    db: AsyncSession,
    fund_id: uuid.UUID,
    cursor: str | None,
    limit: int,
    search: str | None = None,
    order: CommitmentOrder = CommitmentOrder.made,
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of the commitments table in `order` (`search` in the investors' names): each
    investor's commitment and capital position."""
    commitments = await fund_repository.commitment_page(
        db,
        fund_id=fund_id,
        params=PageParams(limit=limit, cursor=cursor),
        search=search,
        order=order,
    )
    ids = [c.investor_id for c in commitments.items]
    balances = await ledger.balances(db, fund_id=fund_id, investor_ids=ids)
    names = await names_of(db, ids)
    rows = []
    for commitment in commitments.items:
        balance = balances.get(commitment.investor_id, ledger.Balance())
        rows.append(
            {
                "investor": names.get(commitment.investor_id, "—"),
                "investor_id": str(commitment.investor_id),
                "commitment": commitment.amount,
                "contributed": balance.contributed,
                "distributed": balance.distributed,
                "unfunded": balance.unfunded(commitment.amount),
                "called": balance.called / commitment.amount if commitment.amount else None,
            }
        )
    return rows, commitments.next_cursor


def _file_format(fmt: str) -> str:
    if fmt not in exports.MEDIA_TYPES:
        raise errors.NotFound("there is no such download: csv or xlsx")
    return fmt


def order_of(sort: str) -> CommitmentOrder:
    """The table's order from the address (anything unknown: the default)."""
    try:
        return CommitmentOrder(sort)
    except ValueError:
        return CommitmentOrder.made


@router.get("/funds/{fund_id}/commitments.{fmt}")
async def export_commitments(
    db: PageDb, page: SignedIn, fund_id: uuid.UUID, fmt: str, sort: str = ""
) -> Response:
    """The commitments table, every page, as a file (the exports mechanism of the API)."""
    fund = await fund_service.get(db, fund_id=fund_id)
    quantum = money.quantum(fund.currency)
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        rows, cursor = await _commitment_rows(
            db, fund_id, cursor, exports.PAGE, None, order_of(sort)
        )
        items += [_exported(row, quantum) for row in rows]
        if cursor is None or len(items) > exports.MAX_ROWS:
            break
    return exports.response(items, _file_format(fmt), name="commitments")


def _exported(row: dict[str, Any], quantum: Decimal) -> dict[str, Any]:
    """A table row as the API would write it: amounts as decimal strings of the currency."""

    def written(key: str, value: Any) -> Any:
        if not isinstance(value, Decimal):
            return value
        return str(value.quantize(Decimal("0.0001") if key == "called" else quantum))

    return {key: written(key, value) for key, value in row.items()}


@router.get("/funds/{fund_id}/investors/{investor_id}")
async def investor_page(
    request: Request,
    db: PageDb,
    page: SignedIn,
    fund_id: uuid.UUID,
    investor_id: uuid.UUID,
    start: Annotated[dt.date | None, Query(alias="from")] = None,
    end: Annotated[dt.date | None, Query(alias="to")] = None,
    *,
    section_error: tuple[str, str] | None = None,
    status: int = 200,
    bank_errors: dict[str, str] | None = None,
    bank_typed: dict[str, str] | None = None,
    revealed: BankDetails | None = None,
    terms_errors: dict[str, str] | None = None,
    terms_typed: dict[str, str] | None = None,
) -> Response:
    """One investor in the fund: its commitment's own terms (GP commitment, side letter), its
    capital account for a period, its performance, its bank
    account (masked; in full once when an admin revealed it), its contacts, how its letters are
    addressed and who sees it in the portal. `section_error`: (section, the API's words) of a
    form refused."""
    fund = await fund_service.get(db, fund_id=fund_id)
    end = end or dt.date.today()
    try:
        statement: StatementOut | None = await statement_service.statement(
            db, fund_id=fund_id, investor_id=investor_id, as_of=end, start=start
        )
    except errors.RuleViolation as refused:
        start, statement = None, None
        period_error: str | None = refused.detail
    else:
        period_error = None
    metrics = await metrics_service.compute(db, fund_id=fund_id, as_of=end, investor_id=investor_id)
    investor = await investor_service.get(db, investor_id=investor_id)
    contacts = await investor_contacts.listed(db, actor=page.principal, investor_id=investor_id)
    problems = {"period": period_error} if period_error else {}
    commitment = await fund_repository.commitment_of(db, fund_id=fund_id, investor_id=investor_id)
    return await render.page(
        request,
        "investor.html",
        commitment=commitment,
        terms_typed=terms_typed,
        may_edit_terms=may(page, Role.manager),
        status=status if status != 200 else (422 if period_error else 200),
        fund=fund,
        name=investor.name,
        investor_id=investor_id,
        investor_email=investor.email,
        investor=investor,
        statement=statement,
        metrics=metrics,
        start=start,
        end=end,
        contacts=[(c, contact_forms.receives(c)) for c in contacts],
        kinds=contact_forms.KINDS,
        may_edit_contacts=may(page, Role.manager),
        access=await portal_access(db, page, investor_id),
        bank=await bank_forms.section(db, actor=page.principal, investor_id=investor_id),
        bank_fields_list=bank_forms.FIELDS,
        bank_optional=bank_forms.OPTIONAL,
        bank_typed=bank_typed,
        revealed=revealed,
        may_edit_bank=may(page, Role.manager),
        may_reveal_bank=may(page, Role.admin),
        may_approve_bank=may(page, Role.admin),
        errors={
            **problems,
            **dict([section_error] if section_error else []),
            **(bank_errors or {}),
            **(terms_errors or {}),
        },
    )


TERMS_FIELDS = ("management_fee_rate", "carry_share")


@router.post("/funds/{fund_id}/investors/{investor_id}/terms")
async def change_commitment_terms(
    request: Request, db: PageDb, page: SignedIn, fund_id: uuid.UUID, investor_id: uuid.UUID
) -> Response:
    """The commitment's own terms, as `PATCH /funds/{f}/commitments/{investor_id}`: the GP's
    commitment or not, and side-letter rates (an emptied rate is the fund's again)."""
    form = {k: v.strip() for k, v in (await request.form()).items() if isinstance(v, str)}
    # Fields named terms_… (ids unique on the page); errors are shown under the same names.
    changes: dict[str, Any] = {name: form.get(f"terms_{name}") or None for name in TERMS_FIELDS}
    changes["general_partner"] = form.get("general_partner") == "on"
    problems: dict[str, str] = {}
    try:
        data = CommitmentTermsUpdate.model_validate(changes)
        async with db.begin_nested():
            await fund_service.update_commitment_terms(
                db,
                actor=page.principal,
                fund_id=fund_id,
                investor_id=investor_id,
                changes=data.model_dump(exclude_unset=True),
            )
    except ValidationError as refused:
        problems = {f"terms_{k}": v for k, v in forms.field_errors(refused).items()}
    except errors.RuleViolation as refused:
        # Beside the one field the API's words name, else above the form.
        named = [name for name in TERMS_FIELDS if name in refused.detail]
        problems = {f"terms_{named[0]}" if len(named) == 1 else "terms": refused.detail}
    if problems:
        return await investor_page(
            request,
            db,
            page,
            fund_id,
            investor_id,
            status=422,
            terms_errors=problems,
            terms_typed=form,
        )
    return see_other(f"/funds/{fund_id}/investors/{investor_id}#terms")


async def portal_access(db: AsyncSession, page: SignedIn, investor_id: uuid.UUID) -> dict[str, Any]:
    """The investor page's "Portal access": the portal members who see the investor and those
    who could (acting for other investors); shown to admins, who manage members, only."""
    if not may(page, Role.admin):
        return {"shown": False}
    members = await org_service.members_of_investor(db, investor_id=investor_id)
    return {
        "shown": True,
        "linked": [user for user, linked in members if linked],
        "others": [user for user, linked in members if not linked],
    }


@router.post("/funds/{fund_id}/investors/{investor_id}/addressee")
async def change_addressee(
    request: Request, db: PageDb, page: SignedIn, fund_id: uuid.UUID, investor_id: uuid.UUID
) -> Response:
    """The investor's address and attention line on its letters, as `PATCH /investors/{id}`
    (an emptied field is cleared)."""
    form = dict((await request.form()).items())

    async def change() -> object:
        data = contact_forms.addressee(form)
        return await investor_service.update(
            db, actor=page.principal, investor_id=investor_id, data=data
        )

    refused = await forms.attempt(db, change)
    if refused is not None:
        return await investor_page(
            request,
            db,
            page,
            fund_id,
            investor_id,
            section_error=("addressee", refused.detail),
            status=refused.status,
        )
    return see_other(f"/funds/{fund_id}/investors/{investor_id}#addressee")


async def _contact_change(
    request: Request,
    db: AsyncSession,
    page: SignedIn,
    fund_id: uuid.UUID,
    investor_id: uuid.UUID,
    change: Callable[[], Awaitable[object]],
) -> Response:
    """Back to the page, or the refusal beside the contacts in the API's words."""
    refused = await forms.attempt(db, change)
    if refused is not None:
        return await investor_page(
            request,
            db,
            page,
            fund_id,
            investor_id,
            section_error=("contact", refused.detail),
            status=refused.status,
        )
    return see_other(f"/funds/{fund_id}/investors/{investor_id}#contacts")


@router.post("/funds/{fund_id}/investors/{investor_id}/contacts")
async def add_contact(
    request: Request, db: PageDb, page: SignedIn, fund_id: uuid.UUID, investor_id: uuid.UUID
) -> Response:
    form = dict((await request.form()).items())

    async def change() -> object:
        data = ContactCreate.model_validate(contact_forms.data(form, with_address=True))
        return await investor_contacts.create(
            db, actor=page.principal, investor_id=investor_id, data=data
        )

    return await _contact_change(request, db, page, fund_id, investor_id, change)


@router.post("/funds/{fund_id}/investors/{investor_id}/contacts/{contact_id}")
async def change_contact(
    request: Request,
    db: PageDb,
    page: SignedIn,
    fund_id: uuid.UUID,
    investor_id: uuid.UUID,
    contact_id: uuid.UUID,
) -> Response:
    form = dict((await request.form()).items())

    async def change() -> object:
        data = ContactUpdate.model_validate(contact_forms.data(form, with_address=False))
        return await investor_contacts.update(
            db, actor=page.principal, investor_id=investor_id, contact_id=contact_id, data=data
        )

    return await _contact_change(request, db, page, fund_id, investor_id, change)


@router.post("/funds/{fund_id}/investors/{investor_id}/contacts/{contact_id}/remove")
async def remove_contact(
    request: Request,
    db: PageDb,
    page: SignedIn,
    fund_id: uuid.UUID,
    investor_id: uuid.UUID,
    contact_id: uuid.UUID,
) -> Response:
    async def change() -> object:
        await investor_contacts.delete(
            db, actor=page.principal, investor_id=investor_id, contact_id=contact_id
        )
        return None

    return await _contact_change(request, db, page, fund_id, investor_id, change)


STATEMENT_LINES = (
    ("beginning_balance", "Beginning balance"),
    ("contributions", "Contributions"),
    ("distributions", "Distributions"),
    ("carried_interest", "Carried interest"),
    ("management_fees", "Management fees"),
    ("expenses", "Expenses"),
    ("allocated_gains_losses", "Allocated gains and losses"),
    ("ending_balance", "Ending balance"),
    ("commitment", "Commitment"),
    ("contributed", "Contributed since inception"),
    ("unfunded", "Unfunded"),
)


@router.get("/funds/{fund_id}/investors/{investor_id}/capital-account.{fmt}")
async def export_capital_account(
    db: PageDb,
    page: SignedIn,
    fund_id: uuid.UUID,
    investor_id: uuid.UUID,
    fmt: str,
    start: Annotated[dt.date | None, Query(alias="from")] = None,
    end: Annotated[dt.date | None, Query(alias="to")] = None,
) -> Response:
    """The capital account of the page, line by line, as a file (amounts as the API writes
    them; outflows as the statement's lines are named, positive)."""
    fund = await fund_service.get(db, fund_id=fund_id)
    end = end or dt.date.today()
    account = await account_service.statement(
        db, fund_id=fund_id, investor_id=investor_id, start=start, end=end
    )
    quantum = money.quantum(fund.currency)
    items = [
        {
            "line": label,
            "amount": str(getattr(account, key).quantize(quantum)),
            "from": start.isoformat() if start else "",
            "to": end.isoformat(),
        }
        for key, label in STATEMENT_LINES
    ]
    return exports.response(items, _file_format(fmt), name="capital-account")


@router.get("/funds/{fund_id}/activity")
async def activity_page(
    request: Request, db: PageDb, page: SignedIn, fund_id: uuid.UUID, cursor: str | None = None
) -> Response:
    fund = await fund_service.get(db, fund_id=fund_id)
    entries = await activity_service.page(
        db, fund_id=fund_id, params=PageParams(limit=ACTIVITY_PAGE, cursor=cursor)
    )
    return await render.page(
        request,
        "activity.html",
        fund=fund,
        entries=entries.items,
        next_cursor=entries.next_cursor,
    )


ACTIVITY_PAGE = 100


FEE_LINES_SHOWN = 100


def _quarter_of(day: dt.date) -> tuple[dt.date, dt.date]:
    first_month = 3 * ((day.month - 1) // 3) + 1
    start = day.replace(month=first_month, day=1)
    following = start.replace(
        year=start.year + (first_month + 3 > 12), month=(first_month + 2) % 12 + 1
    )
    return start, following - dt.timedelta(days=1)


@router.get("/funds/{fund_id}/fees")
async def fees_page(
    request: Request,
    db: PageDb,
    page: SignedIn,
    fund_id: uuid.UUID,
    start: Annotated[dt.date | None, Query(alias="from")] = None,
    end: Annotated[dt.date | None, Query(alias="to")] = None,
) -> Response:
    """The management fee of a period (the current quarter unless asked), as the API
    computes it: its parts (rate × basis × year fraction under the fund's day count) and the
    largest investor shares."""
    fund = await fund_service.get(db, fund_id=fund_id)
    quarter = _quarter_of(dt.date.today())
    start, end = start or quarter[0], end or quarter[1]
    fee: fee_service.FeeCalculation | None = None
    problem: str | None = None
    called: list[tuple[fee_calls.Called, bool | None]] = []
    try:
        fee = await fee_service.calculate(db, fund_id=fund_id, start=start, end=end)
    except errors.RuleViolation as refused:
        problem = refused.detail
    else:
        standing = await fee_calls.standing(db, fund_id=fund_id, first=start, last=end)
        called = [(c, fee_calls.differs(c, fee)) for c in standing]
    largest = sorted(fee.lines.items(), key=lambda item: item[1], reverse=True) if fee else []
    shown = largest[:FEE_LINES_SHOWN]
    names = await names_of(db, [investor for investor, _ in shown])
    return await render.page(
        request,
        "fees.html",
        status=422 if problem else 200,
        fund=fund,
        fee=fee,
        called=called,
        fraction=fee_service.fraction_text,
        lines=[
            (names.get(i, str(i)), amount, *fee.reductions[i], fee.net_line(i))
            for i, amount in shown
            if fee
        ],
        more=max(0, len(largest) - len(shown)),
        start=start,
        end=end,
        errors={"period": problem} if problem else {},
    )


@router.get("/funds/{fund_id}/fees.{fmt}")
async def export_fees(
    db: PageDb,
    page: SignedIn,
    fund_id: uuid.UUID,
    fmt: str,
    start: Annotated[dt.date, Query(alias="from")],
    end: Annotated[dt.date, Query(alias="to")],
) -> Response:
    """Every investor's share of the period's management fee, largest first, as a file: its
    fee, its parts of the period's offset and waivers, and the net it owes."""
    fund = await fund_service.get(db, fund_id=fund_id)
    fee = await fee_service.calculate(db, fund_id=fund_id, start=start, end=end)
    shares = sorted(fee.lines.items(), key=lambda item: item[1], reverse=True)
    names = await names_of(db, [investor for investor, _ in shares])
    quantum = money.quantum(fund.currency)
    items = [
        {
            "investor": names.get(i, ""),
            "investor_id": str(i),
            "fee": str(amount.quantize(quantum)),
            "offset": str(fee.reductions[i][0].quantize(quantum)),
            "waived": str(fee.reductions[i][1].quantize(quantum)),
            "net": str(fee.net_line(i).quantize(quantum)),
        }
        for i, amount in shares
    ]
    return exports.response(items, _file_format(fmt), name="management-fees")


@router.post("/funds/{fund_id}/valuations")
async def record_valuation(
    request: Request,
    db: PageDb,
    page: SignedIn,
    fund_id: uuid.UUID,
    as_of: FormText = "",
    nav: FormText = "",
) -> Response:
    try:
        data = ValuationCreate(as_of=dt.date.fromisoformat(as_of), nav=forms.money(nav))
        async with db.begin_nested():
            await valuation_service.record(db, actor=page.principal, fund_id=fund_id, data=data)
    except (ValueError, errors.RuleViolation, errors.Conflict) as refused:
        detail = forms.refusal(
            refused, "give the day and the fund's NAV, e.g. 2026-06-30 and 12500000.00"
        )
        return await fund_page(request, db, page, fund_id, valuation_error=detail, status=422)
    return see_other(f"/funds/{fund_id}#valuations-heading")


@router.post("/funds/{fund_id}/closings")
async def draft_closing(
    request: Request,
    db: PageDb,
    page: SignedIn,
    fund_id: uuid.UUID,
    closing_date: FormText = "",
    due_date: FormText = "",
) -> Response:
    """Draft a subsequent close (the same service as the API): its lines are shown by the
    API's GET; the fund page lists it with its Issue button."""
    try:
        data = ClosingCreate(
            closing_date=dt.date.fromisoformat(closing_date),
            due_date=dt.date.fromisoformat(due_date) if due_date else None,
        )
        async with db.begin_nested():
            await closing_service.create_draft(db, actor=page.principal, fund_id=fund_id, data=data)
    except (ValueError, errors.RuleViolation) as refused:
        detail = forms.refusal(
            refused,
            "give the closing date, e.g. 2026-06-30 (and a due date, or none for the default)",
        )
        return await fund_page(request, db, page, fund_id, closing_error=detail, status=422)
    return see_other(f"/funds/{fund_id}#closings-heading")


@router.post("/funds/{fund_id}/closings/{closing_id}/issue")
async def issue_closing(
    request: Request, db: PageDb, page: SignedIn, fund_id: uuid.UUID, closing_id: uuid.UUID
) -> Response:
    """Issue a drafted closing: the new investors' call, the returns and the interest."""
    try:
        async with db.begin_nested():
            await closing_service.issue(
                db, actor=page.principal, fund_id=fund_id, closing_id=closing_id
            )
    except (errors.Conflict, errors.RuleViolation) as refused:
        return await fund_page(
            request, db, page, fund_id, closing_error=refused.detail, status=refused.status
        )
    return see_other(f"/funds/{fund_id}#closings-heading")


TERM_FIELDS = (
    "name",
    "management_fee_rate",
    "fee_offset_rate",
    "preferred_return_rate",
    "catch_up_share",
    "carry_share",
    "waterfall_style",
    "day_count",
    "fee_day_count",
    "notice_business_days",
    "holiday_calendar",
    "grace_days",
    "default_interest_rate",
    "carry_holdback",
    "clawback_tax_rate",
    "wire_instructions",
    "late_payment_terms",
)
# Emptied: none printed (wire, terms) or weekdays only (calendar).
CLEARABLE_TERMS = ("holiday_calendar", "wire_instructions", "late_payment_terms")


async def _terms_page(
    request: Request,
    db: AsyncSession,
    fund_id: uuid.UUID,
    *,
    status: int = 200,
    values: dict[str, Any] | None = None,
    problems: dict[str, str] | None = None,
) -> Response:
    fund = await fund_service.get(db, fund_id=fund_id)
    current = {name: getattr(fund, name) for name in TERM_FIELDS}
    current["notices_need_approval"] = "on" if fund.notices_need_approval else ""
    return await render.page(
        request,
        "fund_terms.html",
        status=status,
        fund=fund,
        values={k: ("" if v is None else str(v)) for k, v in (values or current).items()},
        styles=[s.value for s in WaterfallStyle],
        day_counts=[d.value for d in DayCount],
        errors=problems or {},
    )


@router.get("/funds/{fund_id}/terms")
async def fund_terms(request: Request, db: PageDb, page: SignedIn, fund_id: uuid.UUID) -> Response:
    return await _terms_page(request, db, fund_id)


@router.post("/funds/{fund_id}/terms")
async def update_terms(
    request: Request, db: PageDb, page: SignedIn, fund_id: uuid.UUID
) -> Response:
    """Change the fund's terms with the API's rules (its model, its service, its audit)."""
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    changes: dict[str, Any] = {name: form.get(name, "").strip() or None for name in TERM_FIELDS}
    changes["notices_need_approval"] = form.get("notices_need_approval") == "on"
    try:
        data = FundUpdate.model_validate(
            {k: v for k, v in changes.items() if v is not None or k in CLEARABLE_TERMS}
        )
        async with db.begin_nested():
            await fund_service.update(db, actor=page.principal, fund_id=fund_id, data=data)
    except ValidationError as refused:
        return await _terms_page(
            request, db, fund_id, status=422, values=form, problems=forms.field_errors(refused)
        )
    except errors.RuleViolation as refused:
        return await _terms_page(
            request, db, fund_id, status=422, values=form, problems={"form": refused.detail}
        )
    return see_other(f"/funds/{fund_id}")


@router.get("/funds/{fund_id}")
async def fund_page(
    request: Request,
    db: PageDb,
    page: SignedIn,
    fund_id: uuid.UUID,
    cursor: str | None = None,
    q: str = "",
    sort: str = "",
    *,
    deal_error: str | None = None,
    valuation_error: str | None = None,
    closing_error: str | None = None,
    form_errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    fund = await fund_service.get(db, fund_id=fund_id)
    read = await metrics_service.flows(db, fund_id=fund_id)
    summary = await metrics_service.summary(
        db, fund=fund, as_of=dt.date.today(), read=read, gross=True
    )
    search = q.strip()[:100] or None
    order = order_of(sort)
    rows, next_cursor = await _commitment_rows(db, fund_id, cursor, PAGE_SIZE, search, order)
    calls = await call_service.page(
        db, fund_id=fund_id, params=PageParams(limit=PAGE_SIZE, cursor=None)
    )
    series = await _series(db, fund_id, read)
    distributions = await distribution_service.page(
        db, fund_id=fund_id, params=PageParams(limit=PAGE_SIZE, cursor=None)
    )
    deals = await deal_rows(db, fund_id)
    return await render.page(
        request,
        "fund.html",
        status=status,
        deals=deals,
        realisations=await realisation_rows(db, fund_id, deals),
        form_errors=form_errors or {},
        today=dt.date.today().isoformat(),
        deal_error=deal_error,
        valuation_error=valuation_error,
        valuations=sorted(
            (
                await valuation_service.page(
                    db, fund_id=fund_id, params=PageParams(limit=PAGE_SIZE, cursor=None)
                )
            ).items,
            key=lambda v: v.as_of,
            reverse=True,
        ),
        fund=fund,
        summary=summary,
        rows=rows,
        next_cursor=next_cursor,
        calls=sorted(calls.items, key=lambda c: c.notice_date, reverse=True),
        series=series,
        chart_json=chart_json(
            {**series, "called": summary.called, "uncalled": summary.committed - summary.called}
        ),
        may_call=may(page, Role.manager),
        search=search or "",
        order=order.value,
        distributions=sorted(distributions.items, key=lambda d: d.distributed_on, reverse=True),
        closings=sorted(
            (
                await closing_service.page(
                    db, fund_id=fund_id, params=PageParams(limit=PAGE_SIZE, cursor=None)
                )
            ).items,
            key=lambda x: (x.closing_date, x.created_at),
            reverse=True,
        ),
        closing_error=closing_error,
        carry=await _carry(db, fund_id) if distributions.items else None,
        idempotency_key=str(uuid.uuid4()),
    )


async def _draft_preview(
    db: AsyncSession, fund_id: uuid.UUID, lines: list[LineOut]
) -> dict[uuid.UUID, dict[str, Decimal | None]]:
    """For a draft, what each line means to its investor: the share of the commitment this
    call takes and all calls so far will have taken, and the unfunded commitment before and
    after it. Read for the page's investors only (a fund's whole capacity took ~48 ms on
    10,000 investors, bench/console); unfunded as the call's split counts it, never below 0."""
    investors = [line.investor_id for line in lines]
    commitments = await fund_repository.commitments_of(db, fund_id=fund_id, investor_ids=investors)
    balances = await ledger.balances(db, fund_id=fund_id, investor_ids=investors)
    preview: dict[uuid.UUID, dict[str, Decimal | None]] = {}
    for line in lines:
        commitment = commitments.get(line.investor_id, Decimal(0))
        balance = balances.get(line.investor_id, ledger.Balance())
        before = balance.called
        unfunded = max(balance.unfunded(commitment), Decimal(0))
        preview[line.investor_id] = {
            "this_call": line.total / commitment if commitment else None,
            "cumulative": (before + line.total) / commitment if commitment else None,
            "unfunded_before": unfunded,
            "unfunded_after": unfunded - line.total,
        }
    return preview


def may(page: SignedIn, role: Role) -> bool:
    return ROLE_RANK[page.principal.role] >= ROLE_RANK[role]


async def render_call_page(
    request: Request,
    db: AsyncSession,
    page: SignedIn,
    fund_id: uuid.UUID,
    call_id: uuid.UUID,
    *,
    status: int = 200,
    errors_by_investor: dict[str, str] | None = None,
    approve_error: str | None = None,
    schedule_error: str | None = None,
    send_at: str = "",
    after: uuid.UUID | None = None,
    reverse_errors: dict[str, str] | None = None,
    close_error: str | None = None,
    default_errors: dict[str, str] | None = None,
) -> Response:
    live_after = await events.last_number(db, fund_id=fund_id)  # before the data it shows
    fund = await fund_service.get(db, fund_id=fund_id)
    call = await call_service.get(db, fund_id=fund_id, call_id=call_id)
    board = await call_service.board(db, call=call, after=after, limit=PAGE_SIZE)
    investors = [line.investor_id for line in board.lines]
    names = await names_of(db, investors)
    documents = {
        d.investor_id: d
        for d in await db.scalars(
            sa.select(Document).where(
                Document.call_id == call_id, Document.investor_id.in_(investors)
            )
        )
    }
    rendered = await db.scalar(
        sa.select(sa.func.count()).select_from(Document).where(Document.call_id == call_id)
    )
    lines_total = await db.scalar(
        sa.select(sa.func.count(sa.distinct(CallLine.investor_id))).where(
            CallLine.fund_id == fund_id, CallLine.call_id == call_id
        )
    )
    preview = (
        await _draft_preview(db, fund_id, board.lines) if call.status is CallStatus.draft else {}
    )
    today = dt.date.today()
    overdue = (
        call.status in (CallStatus.issued, CallStatus.partially_paid) and call.due_date < today
    )
    totals = {
        "total": board.total,
        "paid": board.paid,
        "credit_applied": board.credit_applied,
        "released": board.released,
        "outstanding": board.total - board.credit_applied - board.paid - board.released,
    }
    payments = [payment for line in board.lines for payment in line.payments]
    try:
        first_default = call_service.first_default_day(fund, call)
    except OverflowError:
        first_default = dt.date.max
    return await render.page(
        request,
        "call.html",
        status=status,
        live_after=live_after,
        fund=fund,
        call=call,
        lines=board.lines,
        next_after=board.next_after,
        request_after=after,
        rendered=rendered or 0,
        lines_total=lines_total or 0,
        names=names,
        documents=documents,
        overdue=overdue,
        totals=totals,
        today=today.isoformat(),
        purposes=board.purposes,
        preview=preview,
        may_pay=may(page, Role.manager),
        may_approve=may(page, Role.admin) and call.issued_by != page.principal.user_id,
        issued_by_me=call.issued_by == page.principal.user_id,
        payment_errors=errors_by_investor or {},
        approve_error=approve_error,
        schedule_error=schedule_error,
        send_at=send_at,
        payments=payments,
        # Credit columns only where there is credit (most calls have none).
        show_credit=bool(board.credit_applied) or any(line.credit_kept for line in board.lines),
        reverse_errors=reverse_errors or {},
        close_error=close_error,
        # Defaults: the columns only where a line is in default; the action once grace ended.
        show_default=any(line.defaulted_on for line in board.lines),
        show_interest=any(payment.interest for payment in payments),
        may_default=may(page, Role.manager)
        and call.status in (CallStatus.issued, CallStatus.partially_paid, CallStatus.closed)
        and today >= first_default,
        first_default=first_default,
        default_errors=default_errors or {},
        idempotency_key=str(uuid.uuid4()),
        # Issued, and the worker is still rendering its notices: the page refreshes itself.
        rendering=call.status is not CallStatus.draft
        and call.status is not CallStatus.cancelled
        and (rendered or 0) < (lines_total or 0),
    )


ITEM_ROWS = 4  # item rows the new-call form offers (empty rows are ignored)


async def _form_with_deals(
    request: Request,
    db: AsyncSession,
    fund_id: uuid.UUID,
    template: str,
    *,
    status: int,
    values: dict[str, Any],
    errors: dict[str, str],
    **extra: Any,
) -> Response:
    """A wizard's first form: the fund, its deals to choose from, what was typed, the error."""
    fund = await fund_service.get(db, fund_id=fund_id)
    deals = await deal_service.page(db, fund_id=fund_id, params=PageParams(limit=500, cursor=None))
    return await render.page(
        request,
        template,
        status=status,
        fund=fund,
        deals=deals.items,
        values=values,
        errors=errors,
        **extra,
    )


async def _new_call_page(
    request: Request,
    db: AsyncSession,
    fund_id: uuid.UUID,
    *,
    status: int = 200,
    values: dict[str, Any] | None = None,
    error: str | None = None,
) -> Response:
    return await _form_with_deals(
        request,
        db,
        fund_id,
        "call_new.html",
        status=status,
        values=values or {"notice_date": dt.date.today().isoformat()},
        errors={"items": error} if error else {},
        purposes=[p.value for p in Purpose],
        rows=range(ITEM_ROWS),
    )


@router.get("/funds/{fund_id}/calls/new")
async def new_call(request: Request, db: PageDb, page: SignedIn, fund_id: uuid.UUID) -> Response:
    return await _new_call_page(request, db, fund_id)


def _items(form: dict[str, Any]) -> list[ItemIn]:
    """The filled rows of the form's item table (a row with no amount is no item)."""
    items = []
    for row in range(ITEM_ROWS):
        amount = str(form.get(f"amount_{row}", "")).strip()
        if not amount:
            continue
        deal = str(form.get(f"deal_{row}", "")).strip()
        items.append(
            ItemIn(
                purpose=Purpose(str(form.get(f"purpose_{row}", ""))),
                amount=forms.money(amount),
                deal_id=uuid.UUID(deal) if deal else None,
            )
        )
    return items


@router.post("/funds/{fund_id}/calls")
async def create_call(request: Request, db: PageDb, page: SignedIn, fund_id: uuid.UUID) -> Response:
    """The wizard's first step: a draft, computed for real; its page is the preview."""
    form = dict(await request.form())
    try:
        data = CallCreate(
            notice_date=dt.date.fromisoformat(str(form.get("notice_date", ""))),
            items=_items(form),
        )
        async with db.begin_nested():
            call = await call_service.create_draft(
                db, actor=page.principal, fund_id=fund_id, data=data
            )
    except (ValueError, errors.RuleViolation) as refused:
        detail = (
            refused.detail if isinstance(refused, errors.Problem) else _call_form_error(refused)
        )
        return await _new_call_page(request, db, fund_id, status=422, values=form, error=detail)
    return see_other(f"/funds/{fund_id}/calls/{call.id}")


def _call_form_error(error: ValueError) -> str:
    text = str(error)
    if "notice_date" in text or "isoformat" in text:
        return "the notice date must be a day, e.g. 2026-03-02"
    if "items" in text and "at least 1" in text:
        return "give at least one item with an amount"
    if "amount" in text:
        return "each amount must be a number, e.g. 250000.00"
    return "each item needs a purpose and an amount; an investment needs its deal"


@router.post("/funds/{fund_id}/calls/{call_id}/issue")
async def issue_call(
    request: Request, db: PageDb, page: SignedIn, fund_id: uuid.UUID, call_id: uuid.UUID
) -> Response:
    """The wizard's last step: issue the draft (its contributions are booked, notices render)."""
    try:
        async with db.begin_nested():
            await call_service.issue(db, actor=page.principal, fund_id=fund_id, call_id=call_id)
    except (errors.Conflict, errors.RuleViolation) as refused:
        return await render_call_page(
            request, db, page, fund_id, call_id, status=refused.status, approve_error=refused.detail
        )
    return see_other(f"/funds/{fund_id}/calls/{call_id}")


async def _new_distribution_page(
    request: Request,
    db: AsyncSession,
    fund_id: uuid.UUID,
    *,
    status: int = 200,
    values: dict[str, Any] | None = None,
    error: str | None = None,
) -> Response:
    deals = await deal_service.page(db, fund_id=fund_id, params=PageParams(limit=500, cursor=None))
    names = {d.id: d.name for d in deals.items}
    # A refusal about the realisation is shown next to its choice; any other below the form.
    where = "realisation_id" if error and "realisation" in error else "distribution"
    return await _form_with_deals(
        request,
        db,
        fund_id,
        "distribution_new.html",
        status=status,
        values=values or {"date": dt.date.today().isoformat()},
        errors={where: error} if error else {},
        kinds=[k.value for k in DistributionKind],
        # The realisations with proceeds to distribute, the choice that fills realisation_id.
        realisations=[
            {"realisation": r, "deal": names.get(r.deal_id, "—")}
            for r in await realisations.standing(db, fund_id=fund_id)
            if r.undistributed > 0
        ],
    )


@router.get("/funds/{fund_id}/distributions/new")
async def new_distribution(
    request: Request, db: PageDb, page: SignedIn, fund_id: uuid.UUID
) -> Response:
    return await _new_distribution_page(request, db, fund_id)


def _distribution_data(form: dict[str, Any]) -> DistributionCreate:
    deal = str(form.get("deal_id", "")).strip()
    realisation = str(form.get("realisation_id", "")).strip()
    return DistributionCreate(
        date=dt.date.fromisoformat(str(form.get("date", ""))),
        amount=forms.money(str(form.get("amount", ""))),
        kind=DistributionKind(str(form.get("kind", ""))),
        deal_id=uuid.UUID(deal) if deal else None,
        realisation_id=uuid.UUID(realisation) if realisation else None,
    )


def _distribution_refusal(error: Exception) -> str:
    """Why the distribution form was refused: the service's words, or the form's."""
    if isinstance(error, errors.Problem):
        return error.detail
    text = str(error)
    if "date" in text and "amount" not in text:
        return "the date must be a day, e.g. 2026-11-20"
    if "amount" in text:
        return "the amount must be a number, e.g. 2500000.00"
    return "choose the kind of distribution"


@router.post("/funds/{fund_id}/distributions/preview")
async def preview_distribution(
    request: Request, db: PageDb, page: SignedIn, fund_id: uuid.UUID
) -> Response:
    """The real computation, undone: the distribution is made in a savepoint, read, and rolled
    back, so the preview is exactly what confirming will book (unless the fund changes)."""
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    try:
        data = _distribution_data(form)
        savepoint = await db.begin_nested()
        try:
            made = await distribution_service.create(
                db, actor=page.principal, fund_id=fund_id, data=data
            )
            preview = await distribution_service.view(db, made)
        finally:
            await savepoint.rollback()
    except (ValueError, errors.RuleViolation, errors.Conflict, errors.NotFound) as refused:
        return await _new_distribution_page(
            request, db, fund_id, status=422, values=form, error=_distribution_refusal(refused)
        )
    fund = await fund_service.get(db, fund_id=fund_id)
    names = await names_of(db, [line.investor_id for line in preview.lines])
    return await render.page(
        request,
        "distribution_preview.html",
        fund=fund,
        preview=preview,
        names=names,
        values=form,
        idempotency_key=str(uuid.uuid4()),
    )


@router.post("/funds/{fund_id}/distributions")
async def create_distribution(
    request: Request, db: PageDb, page: SignedIn, fund_id: uuid.UUID
) -> Response:
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    try:
        async with db.begin_nested():
            await distribution_service.create(
                db, actor=page.principal, fund_id=fund_id, data=_distribution_data(form)
            )
    except (ValueError, errors.RuleViolation, errors.Conflict, errors.NotFound) as refused:
        return await _new_distribution_page(
            request, db, fund_id, status=422, values=form, error=_distribution_refusal(refused)
        )
    return see_other(f"/funds/{fund_id}#distributions-heading")


@router.get("/funds/{fund_id}/calls/{call_id}/lines.{fmt}")
async def export_call_lines(
    db: PageDb, page: SignedIn, fund_id: uuid.UUID, call_id: uuid.UUID, fmt: str
) -> Response:
    """The payments board as a file: each investor's amounts by purpose, paid, outstanding."""
    call = await call_service.get(db, fund_id=fund_id, call_id=call_id)
    view = await call_service.view(db, call=call)
    names = await names_of(db, [line.investor_id for line in view.lines])
    items = [
        {
            "investor": names.get(line.investor_id, ""),
            **line.model_dump(mode="json", exclude={"payments"}),
        }
        for line in view.lines
    ]
    return exports.response(items, _file_format(fmt), name=f"call-{call.notice_date}")


@router.get("/funds/{fund_id}/calls/{call_id}")
async def call_page(
    request: Request,
    db: PageDb,
    page: SignedIn,
    fund_id: uuid.UUID,
    call_id: uuid.UUID,
    after: uuid.UUID | None = None,
) -> Response:
    return await render_call_page(request, db, page, fund_id, call_id, after=after)


@router.post("/funds/{fund_id}/calls/{call_id}/payments")
async def record_payment(
    request: Request,
    db: PageDb,
    page: SignedIn,
    fund_id: uuid.UUID,
    call_id: uuid.UUID,
    investor_id: FormText = "",
    amount: FormText = "",
    received_on: FormText = "",
) -> Response:
    """One payment from the board. The form's idempotency key (checked by PageRoute) makes a
    double click or a resubmitted form record it once."""
    try:
        data = PaymentIn(
            investor_id=uuid.UUID(investor_id),
            amount=forms.money(amount),
            received_on=dt.date.fromisoformat(received_on),
        )
        async with db.begin_nested():  # a refusal undoes this payment only, not the page
            await call_service.record_payment(
                db, actor=page.principal, fund_id=fund_id, call_id=call_id, data=data
            )
    except (ValueError, errors.RuleViolation, errors.Conflict) as refused:
        detail = refused.detail if isinstance(refused, errors.Problem) else _form_error(refused)
        return await render_call_page(
            request,
            db,
            page,
            fund_id,
            call_id,
            status=422,
            errors_by_investor={investor_id: detail},
        )
    return see_other(f"/funds/{fund_id}/calls/{call_id}#payments")


@router.post("/funds/{fund_id}/calls/{call_id}/payments/{payment_id}/reverse")
async def reverse_payment(
    request: Request,
    db: PageDb,
    page: SignedIn,
    fund_id: uuid.UUID,
    call_id: uuid.UUID,
    payment_id: uuid.UUID,
    reversed_on: FormText = "",
    reason: FormText = "",
) -> Response:
    """A bounced payment reversed from the board (once: the form's idempotency key, and the
    service's 409 for a second reversal)."""
    try:
        day = dt.date.fromisoformat(reversed_on)
        if not reason.strip():
            raise errors.RuleViolation("reason: say why the payment is reversed")
        async with db.begin_nested():
            await call_service.reverse_payment(
                db,
                actor=page.principal,
                fund_id=fund_id,
                call_id=call_id,
                payment_id=payment_id,
                reversed_on=day,
                reason=reason.strip()[:500],
            )
    except (ValueError, errors.RuleViolation, errors.Conflict, errors.NotFound) as refused:
        detail = forms.refusal(refused, "the date must be a day, e.g. 2026-03-25")
        return await render_call_page(
            request,
            db,
            page,
            fund_id,
            call_id,
            status=422,
            reverse_errors={str(payment_id): detail},
        )
    return see_other(f"/funds/{fund_id}/calls/{call_id}#received")


@router.post("/funds/{fund_id}/calls/{call_id}/close")
async def close_call(
    request: Request,
    db: PageDb,
    page: SignedIn,
    fund_id: uuid.UUID,
    call_id: uuid.UUID,
    closed_on: FormText = "",
) -> Response:
    """Close out the call: the unpaid rest of every line released."""
    try:
        day = dt.date.fromisoformat(closed_on)
        async with db.begin_nested():
            await call_service.close(
                db, actor=page.principal, fund_id=fund_id, call_id=call_id, closed_on=day
            )
    except (ValueError, errors.RuleViolation, errors.Conflict) as refused:
        detail = forms.refusal(refused, "the date must be a day, e.g. 2026-04-30")
        return await render_call_page(
            request, db, page, fund_id, call_id, status=422, close_error=detail
        )
    return see_other(f"/funds/{fund_id}/calls/{call_id}#payments")


@router.post("/funds/{fund_id}/calls/{call_id}/lines/{investor_id}/default")
async def declare_default(
    request: Request,
    db: PageDb,
    page: SignedIn,
    fund_id: uuid.UUID,
    call_id: uuid.UUID,
    investor_id: uuid.UUID,
    declared_on: FormText = "",
) -> Response:
    """Declare a line in default from the board (the API's rules: grace days, once a line)."""
    try:
        day = dt.date.fromisoformat(declared_on)
        async with db.begin_nested():
            await call_service.declare_default(
                db,
                actor=page.principal,
                fund_id=fund_id,
                call_id=call_id,
                investor_id=investor_id,
                declared_on=day,
            )
    except (ValueError, errors.RuleViolation, errors.Conflict, errors.NotFound) as refused:
        detail = forms.refusal(refused, "the date must be a day, e.g. 2026-04-30")
        return await render_call_page(
            request,
            db,
            page,
            fund_id,
            call_id,
            status=422,
            default_errors={str(investor_id): detail},
        )
    return see_other(f"/funds/{fund_id}/calls/{call_id}#payments")


def _form_error(error: ValueError) -> str:
    text = str(error)
    if "amount" in text:
        return "the amount must be a number, e.g. 1250.00"
    if "received_on" in text or "isoformat" in text:
        return "the date must be a day, e.g. 2026-03-20"
    return "the payment does not match what this form expects"


@router.post("/funds/{fund_id}/calls/{call_id}/notices/approve")
async def approve_notices(
    request: Request, db: PageDb, page: SignedIn, fund_id: uuid.UUID, call_id: uuid.UUID
) -> Response:
    try:
        async with db.begin_nested():
            await call_service.approve_notices(
                db, actor=page.principal, fund_id=fund_id, call_id=call_id
            )
    except (errors.Forbidden, errors.Conflict) as refused:
        return await render_call_page(
            request, db, page, fund_id, call_id, status=refused.status, approve_error=refused.detail
        )
    return see_other(f"/funds/{fund_id}/calls/{call_id}#notices")
