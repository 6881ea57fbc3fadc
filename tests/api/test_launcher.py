"""The demo organisation's key file (what `prorata up` writes) is private whatever mode it had."""

from __future__ import annotations

import stat
from pathlib import Path

from prorata.config import Settings
from prorata.runtime import demo
from tests.support import TestDatabase


def test_the_demo_key_file_is_private_whatever_mode_it_had(
    settings: Settings, database: TestDatabase
) -> None:
    key_file = Path(settings.data_dir) / "demo-api-key"
    key_file.parent.mkdir(parents=True)
    key_file.write_text("prk_not_a_key_of_this_database\n")
    key_file.chmod(0o644)
    api_key = demo.ensure_demo_org(settings, app_url=database.app_url)  # a new key, same file
    assert key_file.read_text().strip() == api_key
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key_file.chmod(0o644)
    assert demo.ensure_demo_org(settings, app_url=database.app_url) == api_key  # still valid
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
