"""Tenant isolation is structural: RLS on every tenant table, an app role that cannot bypass it."""

from __future__ import annotations

import uuid

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from prorata.orgs.service import NewOrg
from prorata.platform import db
from tests.support import TestDatabase

# Tables without `org_id`, each with the reason it may exist. Anything else must be a tenant table.
GLOBAL_TABLES = {
    # The tenants themselves: RLS keyed on `id` (an org sees only its own row).
    "orgs": "tenant root, RLS on id",
    # Alembic's bookkeeping: one row, the schema version.
    "alembic_version": "schema version",
    # The credentials' epoch (migration 0041): one counter, no tenant data.
    "auth_epoch": "credentials' epoch, one number",
    # The job queue: jobs carry tenant ids in their arguments; each task sets its tenant.
    "procrastinate_jobs": "job queue",
    "procrastinate_events": "job queue",
    "procrastinate_periodic_defers": "job queue",
    "procrastinate_workers": "job queue",
    "procrastinate_version": "job queue",
}
# Tables whose RLS column is not `org_id`.
TENANT_KEY = {"orgs": "id"}


def _catalog(owner_url: str) -> dict[str, dict[str, object]]:
    with psycopg.connect(owner_url) as conn:
        rows = conn.execute(
            """
            SELECT c.relname,
                   c.relrowsecurity,
                   c.relforcerowsecurity,
                   EXISTS (SELECT 1 FROM information_schema.columns col
                           WHERE col.table_schema = 'public' AND col.table_name = c.relname
                             AND col.column_name = 'org_id') AS has_org_id,
                   COALESCE((SELECT array_agg(p.qual || ' | ' || COALESCE(p.with_check, ''))
                             FROM pg_policies p
                             WHERE p.schemaname = 'public' AND p.tablename = c.relname
                               AND p.cmd = 'ALL'), '{}') AS policies
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
            """
        ).fetchall()
    return {
        name: {"rls": rls, "forced": forced, "has_org_id": has_org_id, "policies": policies}
        for name, rls, forced, has_org_id, policies in rows
    }


def test_every_table_is_a_tenant_table_or_an_explained_global_one(
    database: TestDatabase,
) -> None:
    catalog = _catalog(database.owner_url)
    assert {"users", "audit_log"} <= set(catalog)  # the catalog query sees our tables
    for table, facts in catalog.items():
        if not facts["has_org_id"] and table not in TENANT_KEY:
            assert table in GLOBAL_TABLES, f"{table} has no org_id and is not an allowed global"
            continue
        column = TENANT_KEY.get(table, "org_id")
        assert facts["rls"], f"{table}: row-level security is not enabled"
        assert facts["forced"], f"{table}: row-level security is not forced"
        policies = facts["policies"]
        assert isinstance(policies, list)
        scoped = [
            p
            for p in policies
            if p.count("current_setting('app.org_id'") == 2 and column in p.split("|")[0]
        ]
        assert scoped, f"{table}: no policy with USING and WITH CHECK on app.org_id"


def test_app_role_cannot_bypass_rls_and_owns_nothing(database: TestDatabase) -> None:
    with psycopg.connect(database.owner_url) as conn:
        role = conn.execute(
            "SELECT rolsuper, rolbypassrls, rolcreaterole, rolcreatedb FROM pg_roles "
            "WHERE rolname = 'prorata_app'"
        ).fetchone()
        owned = conn.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner "
            "WHERE r.rolname = 'prorata_app'"
        ).fetchone()
    assert role == (False, False, False, False)
    assert owned == (0,)


async def test_hand_written_select_sees_only_the_current_tenant(
    sessions: async_sessionmaker[AsyncSession], org: NewOrg, other_org: NewOrg
) -> None:
    tables = ["orgs", "users", "memberships", "api_keys", "audit_log"]
    async with sessions() as session, session.begin():
        await db.set_tenant(session, org.org_id)
        for table in tables:
            org_ids = set(
                (
                    await session.execute(
                        sa.text(f"SELECT {'id' if table == 'orgs' else 'org_id'} FROM {table}")
                    )
                ).scalars()
            )
            assert org_ids == {org.org_id}, table


async def test_no_tenant_set_reads_zero_rows(
    sessions: async_sessionmaker[AsyncSession], org: NewOrg, other_org: NewOrg
) -> None:
    async with sessions() as session, session.begin():
        for table in ["orgs", "users", "memberships", "api_keys", "audit_log"]:
            count = await session.scalar(sa.text(f"SELECT count(*) FROM {table}"))
            assert count == 0, table


async def test_tenant_does_not_leak_to_the_next_transaction(
    sessions: async_sessionmaker[AsyncSession], org: NewOrg
) -> None:
    async with sessions() as session:
        async with session.begin():
            await db.set_tenant(session, org.org_id)
            assert await session.scalar(sa.text("SELECT count(*) FROM users")) == 1
        async with session.begin():  # same connection, new transaction, no tenant
            assert await session.scalar(sa.text("SELECT count(*) FROM users")) == 0


async def test_writing_a_row_for_another_tenant_is_refused(
    sessions: async_sessionmaker[AsyncSession], org: NewOrg, other_org: NewOrg
) -> None:
    async with sessions() as session, session.begin():
        await db.set_tenant(session, org.org_id)
        with pytest.raises(sa.exc.DBAPIError, match="row-level security"):
            await session.execute(
                sa.text("INSERT INTO users (id, org_id, email) VALUES (:id, :org, 'x@y.z')"),
                {"id": uuid.uuid4(), "org": other_org.org_id},
            )


async def test_updates_cannot_touch_another_tenants_rows(
    sessions: async_sessionmaker[AsyncSession], org: NewOrg, other_org: NewOrg
) -> None:
    async with sessions() as session, session.begin():
        await db.set_tenant(session, org.org_id)
        result = await session.execute(sa.text("UPDATE users SET name = 'pwned'"))
        assert result.rowcount == 1  # type: ignore[attr-defined]
    async with sessions() as session, session.begin():
        await db.set_tenant(session, other_org.org_id)
        names = (await session.execute(sa.text("SELECT name FROM users"))).scalars().all()
        assert names == [None]


async def test_audit_log_is_append_only(
    sessions: async_sessionmaker[AsyncSession], org: NewOrg
) -> None:
    for statement in ("UPDATE audit_log SET action = 'x'", "DELETE FROM audit_log"):
        async with sessions() as session, session.begin():
            await db.set_tenant(session, org.org_id)
            with pytest.raises(sa.exc.DBAPIError, match="permission denied"):
                await session.execute(sa.text(statement))


@pytest.mark.parametrize(
    "statement",
    ["UPDATE audit_log SET action = 'x'", "DELETE FROM audit_log", "TRUNCATE audit_log"],
)
def test_audit_log_refuses_changes_even_by_its_owner(
    database: TestDatabase, org: NewOrg, statement: str
) -> None:
    with psycopg.connect(database.owner_url) as conn:
        assert conn.execute("SELECT count(*) FROM audit_log").fetchone() != (0,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            conn.execute(statement)
