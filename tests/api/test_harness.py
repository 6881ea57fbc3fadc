"""The test harness itself: where the test server keeps its data."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest


def test_the_test_server_keeps_its_data_outside_pytests_tmp_root(
    server_url: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The embedded server runs as the `pgserver` user when tests run as root, and every
    pytest run as root resets its tmp root (/tmp/pytest-of-root) to mode 0700: a server kept
    under it by one run is locked out of its own data by the next run (a PANIC at its next
    checkpoint). An external server (PRORATA_TEST_DATABASE_URL) keeps its data elsewhere."""
    basetemp = tmp_path_factory.getbasetemp()
    roots = [p for p in (basetemp, *basetemp.parents) if p.name.startswith("pytest-of-")]
    root = roots[0] if roots else basetemp
    for host in parse_qs(urlsplit(server_url).query).get("host", []):
        assert not Path(host).resolve().is_relative_to(root.resolve()), (host, root)
