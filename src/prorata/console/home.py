"""The console's home: the organisation's funds at a glance, and what needs attention.

An LP (`investor` role) has no fund register to see: its home is the LP portal's.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid

import sqlalchemy as sa
from fastapi import APIRouter, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from prorata.capital_calls.models import CallStatus, CapitalCall
from prorata.console import portal, render
from prorata.console.routing import PageDb, PageRoute, SignedIn
from prorata.distributions.models import Distribution
from prorata.fund_metrics import service as metrics_service
from prorata.funds.models import Fund
from prorata.http.tenancy import ROLE_RANK, Role
from prorata.imports.models import DataImport, ImportStatus
from prorata.notices.models import NoticeRelease
from prorata.tenant_jobs.models import JobStatus, TenantJob

router = APIRouter(route_class=PageRoute)

HOME_FUNDS = 50  # the home shows this many funds (newest first); the fund list pages the rest
RECENT = dt.timedelta(days=30)  # rejected imports and failed jobs older than this are history


@dataclasses.dataclass(frozen=True)
class Attention:
    what: str
    fund_id: uuid.UUID | None
    href: str


async def _calls_needing_attention(session: AsyncSession, today: dt.date) -> list[Attention]:
    rows = await session.execute(
        sa.select(CapitalCall.id, CapitalCall.fund_id, CapitalCall.due_date, CapitalCall.notices)
        .where(
            sa.or_(
                sa.and_(
                    CapitalCall.status.in_([CallStatus.issued, CallStatus.partially_paid]),
                    CapitalCall.due_date < today,
                ),
                CapitalCall.notices == NoticeRelease.awaiting_approval,
            )
        )
        .order_by(CapitalCall.due_date)
        .limit(20)
    )
    items = []
    for call_id, fund_id, due, notices in rows.all():
        href = f"/funds/{fund_id}/calls/{call_id}"
        if notices is NoticeRelease.awaiting_approval:
            items.append(Attention("Call notices awaiting approval", fund_id, href))
        if due < today:
            items.append(Attention(f"Call past due since {due.isoformat()}", fund_id, href))
    return items


async def _distributions_awaiting_approval(session: AsyncSession) -> list[Attention]:
    rows = await session.execute(
        sa.select(Distribution.id, Distribution.fund_id, Distribution.number)
        .where(
            Distribution.notices == NoticeRelease.awaiting_approval,
            Distribution.cancelled_at.is_(None),
        )
        .order_by(Distribution.distributed_on)
        .limit(20)
    )
    return [
        Attention(
            f"Distribution No. {number} notices awaiting approval",
            fund_id,
            f"/funds/{fund_id}/distributions/{distribution_id}",
        )
        for distribution_id, fund_id, number in rows.all()
    ]


async def _failures(session: AsyncSession, since: dt.datetime) -> list[Attention]:
    rejected = await session.execute(
        sa.select(DataImport.id, DataImport.fund_id)
        .where(DataImport.status == ImportStatus.rejected, DataImport.created_at >= since)
        .limit(10)
    )
    failed = await session.execute(
        sa.select(TenantJob.id, TenantJob.fund_id, TenantJob.kind)
        .where(TenantJob.status == JobStatus.failed, TenantJob.created_at >= since)
        .limit(10)
    )
    return [
        Attention("Import rejected", fund_id, f"/api/v1/imports/{import_id}")
        for import_id, fund_id in rejected.all()
    ] + [
        Attention(f"Job failed: {kind}", fund_id, f"/api/v1/jobs/{job_id}")
        for job_id, fund_id, kind in failed.all()
    ]


@router.get("/")
async def home(request: Request, db: PageDb, page: SignedIn) -> Response:
    if page.principal.role is Role.investor:
        return await portal.home(request, db, page)
    today = dt.date.today()
    funds = list(
        await db.scalars(sa.select(Fund).order_by(Fund.created_at.desc()).limit(HOME_FUNDS))
    )
    summaries = [await metrics_service.summary(db, fund=fund, as_of=today) for fund in funds]
    names = {fund.id: fund.name for fund in funds}
    attention = await _calls_needing_attention(db, today)
    attention += await _distributions_awaiting_approval(db)
    attention += await _failures(db, dt.datetime.now(dt.UTC) - RECENT)
    return await render.page(
        request,
        "home.html",
        summaries=summaries,
        attention=attention,
        fund_names=names,
        may_create=ROLE_RANK[page.principal.role] >= ROLE_RANK[Role.manager],
    )
