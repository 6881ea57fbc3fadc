"""The asset check finds a served file that is missing or differs from its pinned SHA-256."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from tools import fetch_assets


def test_the_check_reports_missing_and_altered_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fetch_assets, "DESTINATIONS", {"served": tmp_path, "test": tmp_path})
    monkeypatch.setattr(fetch_assets, "ROOT", tmp_path)
    content = b"console.log('pinned')"
    asset = {
        "package": "p",
        "version": "1.0.0",
        "file": "dist/p.min.js",
        "dest": "served",
        "sha256": hashlib.sha256(content).hexdigest(),
    }
    assert fetch_assets.check([asset]) == ["p/1.0.0/p.min.js is missing"]
    path = fetch_assets.target(asset)
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    assert fetch_assets.check([asset]) == []
    path.write_bytes(content + b"// a change nobody pinned")
    assert fetch_assets.check([asset]) == ["p/1.0.0/p.min.js differs from its pinned SHA-256"]
