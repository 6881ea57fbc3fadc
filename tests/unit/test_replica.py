"""The read replica's pure parts: WAL positions, the writers' marks, its settings."""

from __future__ import annotations

import uuid

import pytest

from prorata import config
from prorata.platform import replica


def test_wal_positions_compare_as_numbers_and_read_back() -> None:
    low, high = replica.parse_lsn("0/FFFFFFFF"), replica.parse_lsn("1/0")
    assert high == low + 1  # "1/0" sorts before "0/FFFFFFFF" as text: compared as numbers
    for text in ("0/0", "16/B374D848", "1/0"):
        assert replica.format_lsn(replica.parse_lsn(text)) == text
    with pytest.raises(ValueError, match="values to unpack"):
        replica.parse_lsn("not a position")


def test_a_credential_keeps_its_latest_write_position_only() -> None:
    marks = replica.WrittenMarks()
    writer, other = uuid.uuid4(), uuid.uuid4()
    marks.note(writer, 100)
    marks.note(writer, 250)
    assert (marks.get(writer), marks.get(other)) == (250, 0)


def test_replica_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRORATA_REPLICA_DATABASE_URL", "postgresql://app:secret@replica/prorata")
    settings = config.load()
    assert settings.replica_max_lag_seconds == 5.0
    assert "secret" in settings.secret_values()  # masked in logs like the primary's
    monkeypatch.setenv("PRORATA_REPLICA_DATABASE_URL", "mysql://app@replica/prorata")
    with pytest.raises(config.SettingsError, match="PRORATA_REPLICA_DATABASE_URL"):
        config.load()
    monkeypatch.setenv("PRORATA_REPLICA_DATABASE_URL", "postgresql://app@replica/prorata")
    monkeypatch.setenv("PRORATA_REPLICA_MAX_LAG_SECONDS", "0")
    with pytest.raises(config.SettingsError, match="PRORATA_REPLICA_MAX_LAG_SECONDS"):
        config.load()
