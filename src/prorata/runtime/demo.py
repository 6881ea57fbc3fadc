"""The demo organisation `prorata up` creates on first start, so there is a key to try and an
owner who can sign in to the console.

Only hashes are in the database; the key and the password themselves are kept in
`<data dir>/demo-api-key` and `<data dir>/demo-password` (mode 0600) so the launcher can point
to them again on every start of a local install.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import secrets
import uuid
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from prorata.accounts import passwords
from prorata.config import Settings
from prorata.http import auth
from prorata.http.tenancy import Principal, Role
from prorata.orgs import repository as org_repository
from prorata.orgs import service as org_service
from prorata.orgs.models import User
from prorata.platform import db
from prorata.runtime import demo_fund

DEMO_ORG_NAME = "Demo Capital Partners"
DEMO_OWNER_EMAIL = "owner@demo.prorata.invalid"


@dataclasses.dataclass(frozen=True)
class Demo:
    api_key: str
    password_file: Path


async def _owner_of(sessions: async_sessionmaker[AsyncSession], api_key: str) -> uuid.UUID | None:
    async with sessions() as session, session.begin():
        key = await org_repository.find_active_key(session, key_hash=auth.hash_token(api_key))
        return key.user_id if key is not None else None


async def _ensure(
    saved_key: str | None,
    saved_password: str | None,
    app_url: str,
    *,
    demo_data: bool,
    server_prepares: bool,
) -> tuple[str, str, bool]:
    """(key, password, changed): the saved ones while they work, else new ones (a new demo
    organisation when the key no longer works)."""
    engine = db.create_engine(app_url, pool_size=1, server_prepares=server_prepares)
    sessions = db.sessionmaker(engine)
    try:
        owner = await _owner_of(sessions, saved_key) if saved_key else None
        api_key = saved_key or ""
        if owner is None:
            async with sessions() as session, session.begin():
                created = await org_service.create_org(
                    session, name=DEMO_ORG_NAME, owner_email=DEMO_OWNER_EMAIL
                )
                if demo_data:
                    owner_principal = Principal(
                        org_id=created.org_id,
                        user_id=created.user_id,
                        role=Role.owner,
                        credential_id=created.org_id,
                    )
                    await demo_fund.seed(session, actor=owner_principal)
            api_key, owner, saved_password = created.api_key, created.user_id, None
        async with sessions() as session, session.begin():
            await auth.authenticate_key(session, key_hash=auth.hash_token(api_key))  # the tenant
            user = await session.get(User, owner)
            assert user is not None
            if saved_password and user.password_hash:
                return api_key, saved_password, api_key != saved_key
            password = secrets.token_urlsafe(18)
            user.password_hash = await passwords.hash_password(password)
        return api_key, password, True
    finally:
        await engine.dispose()


def _read(path: Path) -> str | None:
    return path.read_text().strip() or None if path.exists() else None


def _write_private(path: Path, value: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")


def ensure_demo_org(settings: Settings, *, app_url: str) -> Demo:
    """The demo owner's API key and password file, creating what is missing."""
    key_file = Path(settings.data_dir) / "demo-api-key"
    password_file = Path(settings.data_dir) / "demo-password"
    saved_key, saved_password = _read(key_file), _read(password_file)
    api_key, password, changed = asyncio.run(
        _ensure(
            saved_key,
            saved_password,
            app_url,
            demo_data=settings.demo_data,
            server_prepares=settings.db_pooler == "none",
        )
    )
    if changed or api_key != saved_key:
        _write_private(key_file, api_key)
    if password != saved_password:
        _write_private(password_file, password)
    # The mode given to open() applies only to a file it creates: one found with a wider mode
    # (copied, restored from a backup) is made private again on every start.
    key_file.chmod(0o600)
    password_file.chmod(0o600)
    return Demo(api_key, password_file)
