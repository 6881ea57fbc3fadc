"""An investor's bank account for distributions: sealed at rest, masked to everyone but an admin
who asks (audited, without the values); a GP manager's change is in effect at once, an LP's needs
its authenticator's code and waits for a GP admin; every contact is mailed when it changes;
another investor's is not there; a key rotation keeps everything readable."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pyotp
import pytest
from httpx import ASGITransport, AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from prorata.app import create_app
from prorata.bank_accounts import service as bank_service
from prorata.bank_accounts.schemas import BankAccountIn
from prorata.config import Settings
from prorata.http.tenancy import Principal, Role
from prorata.investors import service as investor_service
from prorata.investors.models import InvestorKind
from prorata.investors.schemas import InvestorCreate
from prorata.orgs import service as org_service
from prorata.orgs.models import User
from prorata.orgs.service import NewOrg
from prorata.platform import crypto, db
from tests.conftest import add_member, settings_with
from tests.fund_support import FundApi
from tests.support import TestDatabase, bearer

IBAN = "DE89 3704 0044 0532 0130 00"
IBAN_COMPACT = "DE89370400440532013000"
BIC = "COBADEFFXXX"
NEW_IBAN = "GB82 WEST 1234 5698 7654 32"
ACCOUNT = {
    "bank_name": "Commerzbank",
    "account_name": "Alpine Pension Fund",
    "account_number": IBAN,
    "routing": BIC,
    "reference": "ALPINE-DIST",
}
CHANGED = {**ACCOUNT, "bank_name": "NatWest", "account_number": NEW_IBAN, "routing": "NWBKGB2L"}


@pytest.fixture
def api(client: AsyncClient, org: NewOrg) -> FundApi:
    return FundApi(client, org.api_key)


def path(investor_id: str, tail: str = "") -> str:
    return f"/api/v1/investors/{investor_id}/bank-account{tail}"


async def enable_authenticator(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    org_id: uuid.UUID,
    user_id: uuid.UUID,
) -> str:
    """Two-factor on for the user, as if set up on the account page; its TOTP secret."""
    secret = pyotp.random_base32()
    async with db.tenant_transaction(sessions, org_id) as session:
        user = await session.get(User, user_id)
        assert user is not None
        user.totp_secret_sealed = crypto.Sealer.from_settings(settings).seal(
            secret, context=f"totp:{user.id}"
        )
        user.totp_enabled_at = dt.datetime.now(dt.UTC)
    return secret


async def lp_with_authenticator(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    org: NewOrg,
    investor_id: str,
    *,
    two_factor: bool = True,
) -> tuple[str, str, uuid.UUID]:
    """An `investor` member of `investor_id` (two-factor on unless told): (API key, TOTP
    secret, user id)."""
    owner = Principal(
        org_id=org.org_id, user_id=org.user_id, role=Role.owner, credential_id=org.org_id
    )
    async with db.tenant_transaction(sessions, org.org_id) as session:
        user, _ = await org_service.add_user(
            session,
            actor=owner,
            email=f"lp-{uuid.uuid4().hex[:8]}@alpine.example",
            name=None,
            role=Role.investor,
            investor_id=uuid.UUID(investor_id),
        )
        _, api_key = await org_service.issue_api_key(
            session, org_id=org.org_id, user_id=user.id, name="lp"
        )
    secret = (
        await enable_authenticator(sessions, settings, org.org_id, user.id) if two_factor else ""
    )
    return api_key, secret, user.id


async def forget_used_codes(
    sessions: async_sessionmaker[AsyncSession], org_id: uuid.UUID, user_id: uuid.UUID
) -> None:
    """As if the next 30-second step had come: this step's code is good again (once)."""
    async with db.tenant_transaction(sessions, org_id) as session:
        user = await session.get(User, user_id)
        assert user is not None
        user.totp_last_step = None


def code(secret: str) -> str:
    return pyotp.TOTP(secret).at(time.time())


def raw_rows(database: TestDatabase, table: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(database.owner_url) as conn:
        return conn.execute(f"SELECT * FROM {table}").fetchall()


def outbox(database: TestDatabase) -> list[tuple[str, str, str]]:
    with psycopg.connect(database.owner_url) as conn:
        rows = conn.execute(
            "SELECT recipient, subject, body FROM email_outbox "
            "WHERE kind = 'bank_account_changed' ORDER BY recipient"
        ).fetchall()
    return [(str(r), str(s), str(b)) for r, s, b in rows]


def audit_entries(database: TestDatabase, prefix: str) -> list[tuple[str, str]]:
    with psycopg.connect(database.owner_url) as conn:
        rows = conn.execute(
            "SELECT action, coalesce(after::text, '') FROM audit_log "
            "WHERE action LIKE %s ORDER BY id",
            (prefix + "%",),
        ).fetchall()
    return [(str(a), str(b)) for a, b in rows]


async def investor_with_contacts(api: FundApi) -> str:
    made = await api.request(
        "POST",
        "/investors",
        json={"name": "Alpine Pension Fund", "kind": "entity", "email": "main@alpine.example"},
        expect=201,
    )
    for name, email, kinds in (
        ("Treasury", "treasury@alpine.example", {}),
        ("Adviser", "adviser@alpine.example", {"notices": False, "statements": False}),
        ("Silent", "silent@alpine.example", {"notices": False, "statements": False}),
    ):
        await api.request(
            "POST",
            f"/investors/{made['id']}/contacts",
            json={"name": name, "email": email, **kinds, "distributions": name != "Silent"},
            expect=201,
        )
    return str(made["id"])


async def test_a_gp_managers_account_is_sealed_at_rest_shown_masked_and_mailed_to_everyone(
    api: FundApi,
    client: AsyncClient,
    org: NewOrg,
    sessions: async_sessionmaker[AsyncSession],
    database: TestDatabase,
) -> None:
    investor = await investor_with_contacts(api)
    empty = await api.request("GET", f"/investors/{investor}/bank-account")
    assert (empty["on_file"], empty["account_number_masked"], empty["pending_change"]) == (
        False,
        None,
        None,
    )
    manager = await add_member(sessions, org, Role.manager)
    response = await client.put(path(investor), json=ACCOUNT, headers=bearer(manager))
    assert response.status_code == 200, response.text
    shown = response.json()
    assert shown["on_file"] is True
    assert shown["account_number_masked"] == "•••• 3000"
    assert (shown["bank_name"], shown["account_name"], shown["reference"]) == (
        "Commerzbank",
        "Alpine Pension Fund",
        "ALPINE-DIST",
    )
    assert shown["pending_change"] is None
    assert IBAN_COMPACT not in response.text
    assert BIC not in response.text

    # At rest: neither the number nor the routing code, in either table; the last 4 in clear.
    for table in ("bank_accounts", "bank_account_changes"):
        [row] = raw_rows(database, table)
        dumped = repr(row)
        assert IBAN_COMPACT not in dumped
        assert "0532013000" not in dumped
        assert BIC not in dumped
        assert "3000" in dumped
    viewer = await add_member(sessions, org, Role.viewer)
    seen = await client.get(path(investor), headers=bearer(viewer))
    assert seen.json()["account_number_masked"] == "•••• 3000"
    assert IBAN_COMPACT not in seen.text
    refused = await client.put(path(investor), json=CHANGED, headers=bearer(viewer))
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    [change] = await api.request("GET", f"/investors/{investor}/bank-account/changes")
    assert (change["status"], change["account_number_masked"]) == ("applied", "•••• 3000")

    # Every contact (the one receiving nothing too) and the investor's own address, masked.
    mails = outbox(database)
    assert [m[0] for m in mails] == [
        "adviser@alpine.example",
        "main@alpine.example",
        "silent@alpine.example",
        "treasury@alpine.example",
    ]
    for _, subject, body in mails:
        assert "Alpine Pension Fund" in subject
        assert "•••• 3000" in body
        assert "Commerzbank" in body
        assert IBAN_COMPACT not in body
        assert BIC not in body
    assert [a for a, _ in audit_entries(database, "bank_account.")] == ["bank_account.applied"]
    assert all(IBAN_COMPACT not in after for _, after in audit_entries(database, "bank_"))

    # The masked string distribution notices print.
    async with db.tenant_transaction(sessions, org.org_id) as session:
        masked = await bank_service.masked_account(
            session, investor_ids=[uuid.UUID(investor), uuid.uuid4()]
        )
    assert masked == {uuid.UUID(investor): "Commerzbank •••• 3000"}


async def test_only_an_admin_reveals_the_details_and_it_is_audited_without_them(
    api: FundApi,
    client: AsyncClient,
    org: NewOrg,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    database: TestDatabase,
) -> None:
    investor = await api.investor("Alpine")
    nothing = await client.post(path(investor, "/reveal"), headers=bearer(org.api_key))
    assert nothing.status_code == 404
    await api.request("PUT", f"/investors/{investor}/bank-account", json=ACCOUNT)
    lp, _, _ = await lp_with_authenticator(sessions, settings, org, investor)
    for role in (Role.manager, Role.viewer):
        key = await add_member(sessions, org, role)
        refused = await client.post(path(investor, "/reveal"), headers=bearer(key))
        assert refused.status_code == 403, role
    assert (await client.post(path(investor, "/reveal"), headers=bearer(lp))).status_code == 403
    admin = await add_member(sessions, org, Role.admin)
    replay_key = {"Idempotency-Key": str(uuid.uuid4())}
    revealed = await client.post(path(investor, "/reveal"), headers={**bearer(admin), **replay_key})
    assert revealed.status_code == 200, revealed.text
    assert revealed.json()["details"] == {
        "bank_name": "Commerzbank",
        "account_name": "Alpine Pension Fund",
        "account_number": IBAN_COMPACT,
        "routing": BIC,
        "reference": "ALPINE-DIST",
    }
    # A replay says it succeeded, but the idempotency record never kept the details.
    replayed = await client.post(path(investor, "/reveal"), headers={**bearer(admin), **replay_key})
    assert replayed.headers.get("idempotent-replayed") == "true"
    assert replayed.json()["details"] is None
    assert IBAN_COMPACT not in repr(raw_rows(database, "idempotency_keys"))
    [(_, after)] = audit_entries(database, "bank_account.reveal")
    assert json.loads(after)["account_number_masked"] == "•••• 3000"
    assert IBAN_COMPACT not in after
    assert BIC not in after


async def test_an_lps_change_needs_its_code_and_waits_for_an_admins_approval(
    api: FundApi,
    client: AsyncClient,
    org: NewOrg,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    database: TestDatabase,
) -> None:
    investor = await investor_with_contacts(api)
    await api.request("PUT", f"/investors/{investor}/bank-account", json=ACCOUNT)
    mailed_before = len(outbox(database))
    lp, secret, lp_user = await lp_with_authenticator(sessions, settings, org, investor)

    no_code = await client.put(path(investor), json=CHANGED, headers=bearer(lp))
    assert no_code.status_code == 422
    assert "6-digit code" in no_code.json()["detail"]
    wrong_code = f"{(int(code(secret)) + 500_000) % 1_000_000:06d}"
    wrong = await client.put(
        path(investor), json={**CHANGED, "totp_code": wrong_code}, headers=bearer(lp)
    )
    assert wrong.status_code == 422
    assert "not right" in wrong.json()["detail"]
    held = await client.put(
        path(investor), json={**CHANGED, "totp_code": code(secret)}, headers=bearer(lp)
    )
    assert held.status_code == 202, held.text
    shown = held.json()
    assert (shown["bank_name"], shown["account_number_masked"]) == ("Commerzbank", "•••• 3000")
    pending = shown["pending_change"]
    assert (pending["status"], pending["bank_name"], pending["account_number_masked"]) == (
        "pending",
        "NatWest",
        "•••• 5432",
    )
    # The code was used: the same one again is refused.
    again = await client.put(
        path(investor), json={**CHANGED, "totp_code": code(secret)}, headers=bearer(lp)
    )
    assert again.status_code == 422
    assert len(outbox(database)) == mailed_before  # nothing changed yet
    lp_view = await client.get(path(investor), headers=bearer(lp))
    assert lp_view.json()["pending_change"]["id"] == pending["id"]

    # Approving: a manager may not, the LP may not, an admin does.
    approve = path(investor, f"/changes/{pending['id']}/approve")
    manager = await add_member(sessions, org, Role.manager)
    assert (await client.post(approve, headers=bearer(manager))).status_code == 403
    assert (await client.post(approve, headers=bearer(lp))).status_code == 403
    admin = await add_member(sessions, org, Role.admin)
    approved = await client.post(approve, headers=bearer(admin))
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved"
    assert approved.json()["requested_by"] == str(lp_user)
    now = await api.request("GET", f"/investors/{investor}/bank-account")
    assert (now["bank_name"], now["account_number_masked"], now["pending_change"]) == (
        "NatWest",
        "•••• 5432",
        None,
    )
    revealed = await client.post(path(investor, "/reveal"), headers=bearer(admin))
    assert revealed.json()["details"]["account_number"] == "GB82WEST12345698765432"
    assert (await client.post(approve, headers=bearer(admin))).status_code == 409
    mails = [body for _, _, body in outbox(database) if "NatWest" in body]
    assert len(mails) == 4
    assert all("•••• 5432" in body and "GB82WEST" not in body for body in mails)
    actions = [a for a, _ in audit_entries(database, "bank_account.")]
    assert actions == [
        "bank_account.applied",
        "bank_account.requested",
        "bank_account.approved",
        "bank_account.reveal",
    ]


async def test_a_rejected_change_never_takes_effect_and_a_newer_one_replaces_a_waiting_one(
    api: FundApi,
    client: AsyncClient,
    org: NewOrg,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    database: TestDatabase,
) -> None:
    investor = await investor_with_contacts(api)
    lp, secret, lp_user = await lp_with_authenticator(sessions, settings, org, investor)
    first = await client.put(
        path(investor), json={**ACCOUNT, "totp_code": code(secret)}, headers=bearer(lp)
    )
    assert first.status_code == 202, first.text
    assert first.json()["on_file"] is False
    await forget_used_codes(sessions, org.org_id, lp_user)
    second = await client.put(
        path(investor), json={**CHANGED, "totp_code": code(secret)}, headers=bearer(lp)
    )
    assert second.status_code == 202
    changes = await api.request("GET", f"/investors/{investor}/bank-account/changes")
    assert [c["status"] for c in changes] == ["pending", "withdrawn"]
    withdrawn = changes[1]["id"]
    admin = await add_member(sessions, org, Role.admin)
    stale = await client.post(
        path(investor, f"/changes/{withdrawn}/approve"), headers=bearer(admin)
    )
    assert stale.status_code == 409
    rejected = await client.post(
        path(investor, f"/changes/{changes[0]['id']}/reject"), headers=bearer(admin)
    )
    assert rejected.json()["status"] == "rejected"
    after = await api.request("GET", f"/investors/{investor}/bank-account")
    assert (after["on_file"], after["pending_change"]) == (False, None)
    assert outbox(database) == []
    assert raw_rows(database, "bank_accounts") == []


async def test_an_lp_without_two_factor_and_another_investors_lp_are_refused(
    api: FundApi,
    client: AsyncClient,
    org: NewOrg,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    mine, theirs = await api.investor("Mine"), await api.investor("Theirs")
    await api.request("PUT", f"/investors/{theirs}/bank-account", json=ACCOUNT)
    bare, _, _ = await lp_with_authenticator(sessions, settings, org, mine, two_factor=False)
    refused = await client.put(
        path(mine), json={**CHANGED, "totp_code": "123456"}, headers=bearer(bare)
    )
    assert refused.status_code == 403
    assert "two-factor authentication" in refused.json()["detail"]
    lp, secret, _ = await lp_with_authenticator(sessions, settings, org, mine)
    [change] = await api.request("GET", f"/investors/{theirs}/bank-account/changes")
    for method, url, body in (
        ("GET", path(theirs), None),
        ("PUT", path(theirs), {**CHANGED, "totp_code": code(secret)}),
        ("GET", path(theirs, "/changes"), None),
    ):
        response = await client.request(method, url, json=body, headers=bearer(lp))
        assert response.status_code == 404, (method, url, response.text)
    approve = path(theirs, f"/changes/{change['id']}/approve")
    assert (await client.post(approve, headers=bearer(lp))).status_code == 403  # below admin
    assert (await client.get(path(str(uuid.uuid4())), headers=bearer(org.api_key))).status_code == (
        404
    )
    shown = await client.get(path(mine), headers=bearer(lp))
    assert shown.status_code == 200
    assert shown.json()["on_file"] is False


@pytest.mark.parametrize(
    ("field", "value", "rule"),
    [
        # What the schema says (validation errors, by field).
        ("account_number", "12", False),
        ("account_number", "1" * 35, False),
        ("account_number", "1234 5678; DROP", False),
        ("routing", "12345", False),
        ("bank_name", "x" * 201, False),
        ("reference", "r" * 141, False),
        ("totp_code", "12345", False),
        # What it cannot (rule violations naming their field).
        ("account_number", "DE89 3704 0044 0532 0130 01", True),  # IBAN check digits wrong
        ("account_number", "GB82 WEST", True),  # starts like an IBAN, too short for one
        ("routing", "DEUT-DE", True),  # letters, but not a BIC
    ],
)
async def test_bank_details_are_bounded_and_checked(
    api: FundApi, field: str, value: str, rule: bool
) -> None:
    investor = await api.investor("Alpine")
    refused = await api.request(
        "PUT", f"/investors/{investor}/bank-account", json={**ACCOUNT, field: value}, expect=422
    )
    if rule:
        assert refused["type"] == "urn:prorata:problem:rule-violation"
        assert refused["field"] == field
    else:
        assert refused["errors"][0]["loc"][-1] == field
    shown = await api.request("GET", f"/investors/{investor}/bank-account")
    assert shown["on_file"] is False


async def test_a_plain_account_number_and_routing_number_are_kept_as_keyed(api: FundApi) -> None:
    investor = await api.investor("Alpine")
    body = {**ACCOUNT, "account_number": "000123456789", "routing": "021000021"}
    shown = await api.request("PUT", f"/investors/{investor}/bank-account", json=body)
    assert shown["account_number_masked"] == "•••• 6789"
    revealed = await api.request("POST", f"/investors/{investor}/bank-account/reveal")
    assert (revealed["details"]["account_number"], revealed["details"]["routing"]) == (
        "000123456789",
        "021000021",
    )


def _new_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


async def test_after_a_key_rotation_old_details_open_and_are_sealed_again_when_written(
    org: NewOrg,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    database: TestDatabase,
) -> None:
    owner = Principal(
        org_id=org.org_id, user_id=org.user_id, role=Role.owner, credential_id=org.org_id
    )
    old_key, new_key = _new_key(), _new_key()
    before = settings_with(settings, encryption_key=old_key)
    rotated = settings_with(settings, encryption_key=new_key, encryption_old_keys=(old_key,))
    only_new = settings_with(settings, encryption_key=new_key)
    old_id = crypto.Sealer.from_settings(before).current_key_id
    new_id = crypto.Sealer.from_settings(rotated).current_key_id
    investors = []
    async with db.tenant_transaction(sessions, org.org_id) as session:
        for name in ("Written again", "Resealed"):
            investor = await _investor(session, owner, name)
            await bank_service.submit(
                session,
                before,
                actor=owner,
                investor_id=investor,
                data=BankAccountIn.model_validate(ACCOUNT),
            )
            investors.append(investor)
    assert {crypto.key_id_of(r[5]) for r in raw_rows(database, "bank_accounts")} == {old_id}

    # Rotated: what the old key sealed still opens, and a write seals under the new key.
    async with db.tenant_transaction(sessions, org.org_id) as session:
        details = await bank_service.reveal(session, rotated, actor=owner, investor_id=investors[0])
        assert details.account_number == IBAN_COMPACT
        await bank_service.submit(
            session,
            rotated,
            actor=owner,
            investor_id=investors[0],
            data=BankAccountIn.model_validate(CHANGED),
        )
    keys = {r[0]: crypto.key_id_of(r[5]) for r in raw_rows(database, "bank_accounts")}
    assert keys == {investors[0]: new_id, investors[1]: old_id}

    # Resealing the rest, then the old key can go.
    async with db.tenant_transaction(sessions, org.org_id) as session:
        assert await bank_service.reseal(session, rotated) == 3  # 1 account, 2 changes
        assert await bank_service.reseal(session, rotated) == 0
    async with db.tenant_transaction(sessions, org.org_id) as session:
        for investor in investors:
            shown = await bank_service.reveal(session, only_new, actor=owner, investor_id=investor)
            assert shown.bank_name in {"Commerzbank", "NatWest"}
    with pytest.raises(crypto.SealError):
        async with db.tenant_transaction(sessions, org.org_id) as session:
            await bank_service.reveal(session, before, actor=owner, investor_id=investors[1])


async def _investor(session: AsyncSession, owner: Principal, name: str) -> uuid.UUID:
    made = await investor_service.create(
        session, actor=owner, data=InvestorCreate(name=name, kind=InvestorKind.entity)
    )
    return made.id


async def test_prorata_reseal_seals_every_secret_again_under_the_new_key(
    org: NewOrg,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    database: TestDatabase,
    tmp_path: Path,
) -> None:
    """The last step of a rotation: `prorata reseal`, then the old key can go."""
    owner = Principal(
        org_id=org.org_id, user_id=org.user_id, role=Role.owner, credential_id=org.org_id
    )
    old_key, new_key = _new_key(), _new_key()
    before = settings_with(settings, encryption_key=old_key)
    async with db.tenant_transaction(sessions, org.org_id) as session:
        investor = await _investor(session, owner, "Alpine")
        await bank_service.submit(
            session,
            before,
            actor=owner,
            investor_id=investor,
            data=BankAccountIn.model_validate(ACCOUNT),
        )
    secret = await enable_authenticator(sessions, before, org.org_id, org.user_id)
    env = {
        **os.environ,
        "PRORATA_ENV": "test",
        "DATABASE_URL": database.owner_url,
        "PRORATA_DATA_DIR": str(tmp_path),
        "PRORATA_ENCRYPTION_KEY": new_key,
        "PRORATA_ENCRYPTION_OLD_KEYS": old_key,
    }
    ran = subprocess.run(
        [sys.executable, "-m", "prorata", "reseal"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout) == {"resealed": {"bank_details": 2, "totp_secrets": 1}}
    assert IBAN_COMPACT not in ran.stdout + ran.stderr
    only_new = settings_with(settings, encryption_key=new_key)
    async with db.tenant_transaction(sessions, org.org_id) as session:
        shown = await bank_service.reveal(session, only_new, actor=owner, investor_id=investor)
        assert shown.account_number == IBAN_COMPACT
        user = await session.get(User, org.user_id)
        assert user is not None
        assert user.totp_secret_sealed is not None
        opened = crypto.Sealer.from_settings(only_new).open(
            user.totp_secret_sealed, context=f"totp:{user.id}"
        )
        assert opened == secret


async def test_an_lps_codes_cannot_be_guessed_at_the_apis_pace(
    org: NewOrg, sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    """Every LP attempt counts against the `auth_failures` limit of that person."""
    strict = settings_with(settings, rate_limit_auth_failures="3/minute")
    app = create_app(strict)
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://prorata.test") as client,
    ):
        api = FundApi(client, org.api_key)
        investor = await api.investor("Alpine")
        lp, secret, _ = await lp_with_authenticator(sessions, strict, org, investor)
        wrong = f"{(int(code(secret)) + 500_000) % 1_000_000:06d}"
        for _ in range(3):
            guess = await client.put(
                path(investor), json={**CHANGED, "totp_code": wrong}, headers=bearer(lp)
            )
            assert guess.status_code == 422
        right = await client.put(
            path(investor), json={**CHANGED, "totp_code": code(secret)}, headers=bearer(lp)
        )
        assert right.status_code == 429
        assert "retry-after" in right.headers
        # GP members are not counted.
        for _ in range(4):
            await api.request("PUT", f"/investors/{investor}/bank-account", json=ACCOUNT)
