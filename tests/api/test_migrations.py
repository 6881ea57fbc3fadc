"""The ORM models and the migrations describe the same schema (no drift either way)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from httpx import AsyncClient

import prorata.models
import prorata.orgs.models
import prorata.platform.audit
from prorata.orgs.service import NewOrg
from prorata.platform import db
from tests.fund_support import FundApi
from tests.support import TestDatabase, migrations


def test_models_match_the_migrated_schema(database: TestDatabase) -> None:
    engine = db.sync_engine(database.owner_url)
    models = {t for t in db.Base.metadata.tables}
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection,
                opts={
                    "include_name": lambda name, type_, parent: type_ != "table" or name in models,
                },
            )
            diff = compare_metadata(context, db.Base.metadata)
    finally:
        engine.dispose()
    assert diff == []
    assert prorata.platform.audit.AuditEntry.__tablename__ in models


def _schema_state(connection: sa.Connection) -> tuple[list[str], list[str], list[str]]:
    """The allocations' foreign keys, the tenant policies' conditions, documents' run column."""
    keys = connection.execute(
        sa.text(
            "SELECT conname FROM pg_constraint "
            "WHERE conrelid = 'allocations'::regclass AND contype = 'f' ORDER BY 1"
        )
    )
    policies = connection.execute(
        sa.text("SELECT DISTINCT with_check FROM pg_policies WHERE policyname = 'tenant_isolation'")
    )
    run_column = connection.execute(
        sa.text(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_name = 'documents' AND column_name = 'run_id'"
        )
    )
    return list(keys.scalars()), sorted(policies.scalars()), list(run_column.scalars())


def test_the_latest_migrations_go_down_and_up_again(database: TestDatabase) -> None:
    with migrations(database.owner_url) as schema:
        head = _schema_state(schema.connection)
        schema.down("0008")
        keys, policies, run_column = _schema_state(schema.connection)
        schema.up()
        assert _schema_state(schema.connection) == head
    # Before 0009: the foreign keys, and the tenant read for every row checked.
    assert len(keys) == 2
    assert len(policies) == 2  # org_id, and orgs.id
    assert all("SELECT" not in policy for policy in policies)
    assert head[0] == []
    assert all("SELECT" in policy for policy in head[1])
    # Before 0010: no statement runs.
    assert run_column == []
    assert head[2] == ["run_id"]


async def test_0030_rebooks_payments_by_purpose_and_deal(
    database: TestDatabase, client: AsyncClient, org: NewOrg
) -> None:
    """A payment booked before 0030 (one `payment` entry, no purpose, dated the day received)
    on a line of 300.00 for a deal and 60.00 of fees (300 : 60): 180.00 received two days
    before the due date is reversed on its own date and booked again as 150.00 for the deal
    and 30.00 of fees, on the due date — as the application books it now."""
    api = FundApi(client, org.api_key)
    fund = await api.fund()
    [investor] = await api.investors_with(fund, ["1000.00"])
    deal = await api.deal(fund)
    call = await api.call_and_issue(
        fund,
        [
            {"purpose": "investment", "amount": "300.00", "deal_id": deal},
            {"purpose": "management_fee", "amount": "60.00"},
        ],
    )
    due = dt.date.fromisoformat(call["due_date"])
    received = due - dt.timedelta(days=2)
    with migrations(database.owner_url) as schema:
        connection = schema.connection
        schema.down("0029")
        payment = uuid.uuid4()
        values = {
            "payment": payment,
            "org": org.org_id,
            "fund": fund,
            "call": call["id"],
            "investor": investor,
            "received": received,
        }
        connection.execute(
            sa.text(
                "INSERT INTO capital_call_payments (id, org_id, fund_id, call_id, investor_id,"
                " amount, received_on) VALUES (:payment, :org, :fund, :call, :investor,"
                " 180.00, :received)"
            ),
            values,
        )
        connection.execute(
            sa.text(
                "INSERT INTO capital_ledger (org_id, fund_id, investor_id, kind, amount,"
                " effective_on, source_type, source_id) VALUES (:org, :fund, :investor,"
                " 'payment', 180.00, :received, 'payment', :payment)"
            ),
            values,
        )
        schema.up()
        rows = connection.execute(
            sa.text(
                "SELECT purpose, deal_id, amount, effective_on, reverses_id IS NOT NULL"
                " FROM capital_ledger WHERE source_id = :payment ORDER BY id"
            ),
            values,
        ).all()
    assert [tuple(row) for row in rows] == [
        (None, None, Decimal("180.00"), received, False),
        (None, None, Decimal("-180.00"), received, True),
        ("investment", uuid.UUID(deal), Decimal("150.00"), due, False),
        ("management_fee", None, Decimal("30.00"), due, False),
    ]
