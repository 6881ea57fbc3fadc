"""Settings: read once, secrets hidden, production refuses unsafe defaults."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import AliasChoices

from prorata import config


def test_defaults_are_for_local_development(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DATABASE_URL", "PRORATA_APP_DATABASE_URL", "PRORATA_ENV"):
        monkeypatch.delenv(name, raising=False)
    settings = config.load()
    assert settings.env == "development"
    assert settings.embedded
    assert settings.port == 8000


def test_environment_is_read_with_prefix_and_standard_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://owner:pw@db.internal/prorata")
    monkeypatch.setenv("PRORATA_PORT", "9001")
    monkeypatch.setenv("PRORATA_METRICS_PORT", "9464")
    settings = config.load()
    assert settings.port == 9001
    assert not settings.embedded
    assert settings.metrics_port == 9464
    assert "pw" not in repr(settings)  # secrets are SecretStr


def test_production_refuses_embedded_database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("PRORATA_APP_DATABASE_URL", raising=False)
    monkeypatch.setenv("PRORATA_ENV", "production")
    monkeypatch.setenv("PRORATA_DB_APP_PASSWORD", "a-real-one-from-a-vault")
    with pytest.raises(config.SettingsError, match="DATABASE_URL must be set"):
        config.load()


def test_production_refuses_default_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRORATA_ENV", "production")
    monkeypatch.setenv("DATABASE_URL", "postgresql://owner:pw@db.internal/prorata")
    monkeypatch.delenv("PRORATA_DB_APP_PASSWORD", raising=False)
    with pytest.raises(config.SettingsError, match="PRORATA_DB_APP_PASSWORD") as raised:
        config.load()
    assert "pw@" not in str(raised.value)


def test_production_starts_with_explicit_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRORATA_ENV", "production")
    monkeypatch.setenv("DATABASE_URL", "postgresql://owner:pw@db.internal/prorata")
    monkeypatch.setenv("PRORATA_DB_APP_PASSWORD", "a-real-one-from-a-vault")
    assert config.load().env == "production"


def test_invalid_values_are_reported_plainly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRORATA_PORT", "not-a-port")
    with pytest.raises(config.SettingsError, match="port"):
        config.load()


def test_readme_documents_every_setting() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    for name, field in config.Settings.model_fields.items():
        alias = field.validation_alias
        env_names = alias.choices if isinstance(alias, AliasChoices) else [f"PRORATA_{name}"]
        assert any(f"`{str(env).upper()}`" in readme for env in env_names), name
