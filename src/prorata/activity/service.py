"""Reading a fund's activity from the audit log, newest first, a page at a time."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from prorata.capital_calls.models import CapitalCall
from prorata.deals.models import Deal
from prorata.distributions.models import Distribution
from prorata.funds import service as fund_service
from prorata.funds.models import Commitment
from prorata.http.pagination import Page, PageParams, keyset
from prorata.imports.models import DataImport
from prorata.orgs.models import User
from prorata.platform.audit import AuditEntry
from prorata.valuations.models import Valuation

# What belongs to a fund: entries about any of these are the fund's activity.
OWNED = (CapitalCall, Deal, Distribution, Valuation, Commitment, DataImport)


async def page(
    session: AsyncSession, *, fund_id: uuid.UUID, params: PageParams
) -> Page[sa.Row[Any]]:
    """A page of the entries about the fund and what belongs to it (its calls, deals,
    distributions, valuations, commitments, imports), newest first; 404 for no such fund."""
    await fund_service.get(session, fund_id=fund_id)
    owned = sa.union_all(
        *(
            sa.select(sa.cast(model.id, sa.String)).where(model.fund_id == fund_id)
            for model in OWNED
        )
    )
    statement = (
        sa.select(
            AuditEntry.id,
            AuditEntry.created_at,
            User.email.label("actor_email"),
            AuditEntry.action,
            AuditEntry.entity,
            AuditEntry.entity_id,
            AuditEntry.before,
            AuditEntry.after,
            AuditEntry.client_ip,
        )
        .outerjoin(User, User.id == AuditEntry.actor_user_id)
        .where(
            sa.or_(
                sa.and_(AuditEntry.entity == "fund", AuditEntry.entity_id == str(fund_id)),
                AuditEntry.entity_id.in_(owned),
            )
        )
    )
    return await keyset(
        session,
        statement,
        key=[AuditEntry.id],
        params=params,
        item=lambda row: row,
        descending=True,
    )
