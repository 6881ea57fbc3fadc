"""Fixtures the API tests of one area share."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from prorata.config import Settings
from prorata.orgs.service import NewOrg
from tests.import_support import Imports
from tests.support import TestDatabase


@pytest.fixture
def imports(
    client: httpx.AsyncClient,
    org: NewOrg,
    database: TestDatabase,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> Imports:
    return Imports(client, org, database, sessions, settings)
