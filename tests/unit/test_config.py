"""Settings: read once, secrets hidden, production refuses unsafe defaults."""

from __future__ import annotations

import base64

import pytest
from pydantic import AliasChoices

from prorata import config
from prorata.platform import db
from tests.support import REPO_ROOT


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


def test_production_refuses_default_app_password_next_to_an_explicit_app_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # With the owner's URL, `prorata migrate` would set the public default as the app role's
    # password, whatever PRORATA_APP_DATABASE_URL says.
    monkeypatch.setenv("PRORATA_ENV", "production")
    monkeypatch.setenv("DATABASE_URL", "postgresql://owner:pw@db.internal/prorata")
    monkeypatch.setenv("PRORATA_APP_DATABASE_URL", "postgresql://prorata_app:s3cret@db/prorata")
    monkeypatch.delenv("PRORATA_DB_APP_PASSWORD", raising=False)
    with pytest.raises(config.SettingsError, match="PRORATA_DB_APP_PASSWORD"):
        config.load()


def test_production_web_with_only_an_app_url_needs_no_app_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PRORATA_ENV", "production")
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("PRORATA_APP_DATABASE_URL", "postgresql://prorata_app:s3cret@db/prorata")
    monkeypatch.delenv("PRORATA_DB_APP_PASSWORD", raising=False)
    monkeypatch.setenv("PRORATA_ENCRYPTION_KEY", base64.b64encode(bytes(range(32))).decode())
    assert config.load().env == "production"


def test_production_starts_with_explicit_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRORATA_ENV", "production")
    monkeypatch.setenv("DATABASE_URL", "postgresql://owner:pw@db.internal/prorata")
    monkeypatch.setenv("PRORATA_DB_APP_PASSWORD", "a-real-one-from-a-vault")
    monkeypatch.setenv("PRORATA_ENCRYPTION_KEY", base64.b64encode(bytes(range(32))).decode())
    assert config.load().env == "production"


def test_production_refuses_the_public_encryption_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRORATA_ENV", "production")
    monkeypatch.setenv("DATABASE_URL", "postgresql://owner:pw@db.internal/prorata")
    monkeypatch.setenv("PRORATA_DB_APP_PASSWORD", "a-real-one-from-a-vault")
    monkeypatch.delenv("PRORATA_ENCRYPTION_KEY", raising=False)
    with pytest.raises(config.SettingsError, match="PRORATA_ENCRYPTION_KEY must be set"):
        config.load()


@pytest.mark.parametrize("value", ["short", base64.b64encode(b"x" * 16).decode(), "not base64!"])
def test_an_encryption_key_that_is_not_32_bytes_is_refused(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("PRORATA_ENCRYPTION_KEY", value)
    with pytest.raises(config.SettingsError, match=r"PRORATA_ENCRYPTION_KEY: .*32 random bytes"):
        config.load()
    monkeypatch.delenv("PRORATA_ENCRYPTION_KEY")
    monkeypatch.setenv("PRORATA_ENCRYPTION_OLD_KEYS", f"{config.DEV_ENCRYPTION_KEY},{value}")
    with pytest.raises(config.SettingsError, match="PRORATA_ENCRYPTION_OLD_KEYS"):
        config.load()


def test_public_url_makes_links_and_secure_cookies(monkeypatch: pytest.MonkeyPatch) -> None:
    assert config.load().base_url == "http://127.0.0.1:8000"
    assert not config.load().secure_cookies
    monkeypatch.setenv("PRORATA_PUBLIC_URL", "https://funds.example.com/")
    assert config.load().base_url == "https://funds.example.com"
    assert config.load().secure_cookies


def test_invalid_values_are_reported_plainly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRORATA_PORT", "not-a-port")
    # named as the operator wrote it, not as the field is called
    with pytest.raises(config.SettingsError, match="PRORATA_PORT: "):
        config.load()


@pytest.mark.parametrize(
    ("variable", "url"),
    [
        ("DATABASE_URL", "mysql://owner:hunter2@db.internal/prorata"),
        ("DATABASE_URL", "owner:hunter2@db.internal/prorata"),
        ("PRORATA_APP_DATABASE_URL", "http://app:hunter2@db.internal/prorata"),
    ],
)
def test_a_database_url_that_is_not_postgresql_is_refused_at_start(
    monkeypatch: pytest.MonkeyPatch, variable: str, url: str
) -> None:
    monkeypatch.setenv(variable, url)
    with pytest.raises(config.SettingsError, match=f"{variable}: .*postgresql://") as raised:
        config.load()
    assert "hunter2" not in str(raised.value)


def test_heroku_style_postgres_urls_are_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgres://owner:pw@db.internal:5432/prorata")
    settings = config.load()
    assert db.sqlalchemy_url(db.owner_url(settings)).drivername == "postgresql+psycopg"
    assert db.app_url(settings).startswith("postgresql://prorata_app:")


def test_readme_documents_every_setting() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    for name, field in config.Settings.model_fields.items():
        alias = field.validation_alias
        env_names = alias.choices if isinstance(alias, AliasChoices) else [f"PRORATA_{name}"]
        assert any(f"`{str(env).upper()}`" in readme for env in env_names), name


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PRORATA_RATE_LIMIT_API", "lots"),
        ("PRORATA_RATE_LIMIT_HEAVY", "0/minute"),
        ("PRORATA_RATE_LIMIT_PUBLIC", "10/second;100/minute"),
        ("PRORATA_RATE_LIMIT_STORAGE", "memcached://cache:11211"),
    ],
)
def test_rate_limit_settings_the_web_process_cannot_use_are_refused_at_start(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(config.SettingsError, match=f"{variable}: "):
        config.load()


def test_rate_limit_settings_in_the_documented_forms_are_accepted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PRORATA_RATE_LIMIT_API", "100 per 2 minutes")
    monkeypatch.setenv("PRORATA_RATE_LIMIT_STORAGE", "redis://:pw@cache:6379/0")
    settings = config.load()
    assert settings.rate_limit_api == "100 per 2 minutes"


def test_trusted_proxies_are_addresses_or_networks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRORATA_TRUSTED_PROXIES", "10.0.0.0/8, 192.168.1.7,fd00::/8")
    assert config.load().trusted_proxies == ("10.0.0.0/8", "192.168.1.7", "fd00::/8")
    monkeypatch.setenv("PRORATA_TRUSTED_PROXIES", "*")
    with pytest.raises(config.SettingsError, match="PRORATA_TRUSTED_PROXIES"):
        config.load()


def test_a_transaction_pooler_needs_a_direct_url_for_the_worker(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://owner:pw@db.internal/prorata")
    monkeypatch.setenv("PRORATA_APP_DATABASE_URL", "postgresql://app:pw@pgbouncer.internal/p")
    monkeypatch.setenv("PRORATA_DB_POOLER", "pgbouncer")
    with pytest.raises(config.SettingsError, match="PRORATA_WORKER_DATABASE_URL"):
        config.load()
    monkeypatch.setenv("PRORATA_WORKER_DATABASE_URL", "postgresql://app:worker-pw@db.internal/p")
    settings = config.load()
    assert db.app_url(settings) == "postgresql://app:pw@pgbouncer.internal/p"
    assert db.worker_url(settings) == "postgresql://app:worker-pw@db.internal/p"
    assert "worker-pw" in settings.secret_values()


def test_without_a_worker_url_the_worker_uses_the_app_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://owner:pw@db.internal/prorata")
    monkeypatch.delenv("PRORATA_WORKER_DATABASE_URL", raising=False)
    settings = config.load()
    assert settings.db_pooler == "none"
    assert db.worker_url(settings) == db.app_url(settings)
