"""The demo organisation `prorata up` creates on first start, so there is a key to try.

Only the key's hash is in the database; the key itself is kept in `<data dir>/demo-api-key`
(mode 0600) so the launcher can print it again on every start of a local install.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from prorata.config import Settings
from prorata.http import auth
from prorata.orgs import repository as org_repository
from prorata.orgs import service as org_service
from prorata.platform import db

DEMO_ORG_NAME = "Demo Capital Partners"
DEMO_OWNER_EMAIL = "owner@demo.prorata.invalid"


async def _key_is_valid(sessions: async_sessionmaker[AsyncSession], api_key: str) -> bool:
    async with sessions() as session, session.begin():
        key = await org_repository.find_active_key(session, key_hash=auth.hash_token(api_key))
        return key is not None


async def _valid_or_new_key(saved_key: str | None, app_url: str) -> tuple[str, bool]:
    """(key, created): the saved key if it still works, else a new demo organisation's."""
    engine = db.create_engine(app_url, pool_size=1)
    sessions = db.sessionmaker(engine)
    try:
        if saved_key and await _key_is_valid(sessions, saved_key):
            return saved_key, False
        async with sessions() as session, session.begin():
            created = await org_service.create_org(
                session, name=DEMO_ORG_NAME, owner_email=DEMO_OWNER_EMAIL
            )
        return created.api_key, True
    finally:
        await engine.dispose()


def ensure_demo_org(settings: Settings, *, app_url: str) -> str:
    """The demo owner's API key, creating the demo organisation if there is none yet."""
    key_file = Path(settings.data_dir) / "demo-api-key"
    saved = key_file.read_text().strip() if key_file.exists() else None
    api_key, created = asyncio.run(_valid_or_new_key(saved, app_url))
    if created:
        key_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(api_key + "\n")
    # The mode given to open() applies only to a file it creates: one found with a wider mode
    # (copied, restored from a backup) is made private again on every start.
    key_file.chmod(0o600)
    return api_key
