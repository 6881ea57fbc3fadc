"""Settings: one object, read from the environment once at start, passed down from there.

Names are `PRORATA_*`, plus the standard `DATABASE_URL` (the `OTEL_*` ones are read by the
OpenTelemetry SDK itself, see `prorata.observability.setup`). Nothing here runs at
import time; `load()` is called by the command that starts a process.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

import limits
from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# Default secrets are fine on a laptop and refused in production (see `_refuse_unsafe_production`).
DEV_APP_DB_PASSWORD = "prorata-dev-app-password"  # noqa: S105 - a placeholder, refused in production
# 32 bytes, base64: seals TOTP secrets. Public, so refused in production like the password above.
DEV_ENCRYPTION_KEY = "cHJvcmF0YS1kZXZlbG9wbWVudC1rZXktMzItYnl0ZXM="
# `postgres://` is what Heroku-style platforms (the Procfile's) put in DATABASE_URL.
POSTGRESQL_SCHEMES = frozenset({"postgresql", "postgres"})
RATE_LIMIT_STORAGE_SCHEMES = frozenset({"memory", "redis", "rediss"})  # what ratelimit.py builds


class SettingsError(RuntimeError):
    """Raised with a message fit for a human when the settings cannot be used."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="PRORATA_",
        extra="ignore",
        frozen=True,
        validate_default=True,
        validate_by_name=True,  # so code (and tests) can pass `database_url=` by field name
    )

    env: Literal["development", "test", "production"] = "development"
    database_url: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL"),
        description="Owner connection (migrations, operator commands). Unset: embedded PostgreSQL.",
    )
    app_database_url: SecretStr | None = Field(
        default=None,
        description="Connection of the app role used by web and worker. "
        "Unset: DATABASE_URL with the app role's name and password.",
    )
    worker_database_url: SecretStr | None = Field(
        default=None,
        description="Direct (session) connection of the app role for what needs a session: the "
        "worker and its job queue (LISTEN, advisory locks) and the web's live-event LISTEN. "
        "Unset: the app role's URL. Required with PRORATA_DB_POOLER=pgbouncer.",
    )
    # A transaction-mode pooler between the app and PostgreSQL hands each transaction whatever
    # server connection is free: nothing may outlive a transaction on the app's connections,
    # and PgBouncer 1.18 (Debian's) cannot keep server-side prepared statements either.
    db_pooler: Literal["none", "pgbouncer"] = Field(
        default="none",
        description="What PRORATA_APP_DATABASE_URL goes through: `pgbouncer` (transaction "
        "mode) turns the driver's server-side prepared statements off.",
    )
    db_app_role: str = Field(default="prorata_app", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    db_app_password: SecretStr = SecretStr(DEV_APP_DB_PASSWORD)
    db_pool_size: int = Field(default=10, ge=1, le=200)
    replica_database_url: SecretStr | None = Field(
        default=None,
        description="A streaming replica of the database, connected to as the app role: heavy "
        "reads (reports, statements, metrics, lists) go there while it keeps up. Unset: none.",
    )
    # Beyond this replay lag the replica's answers are too old to show: reads go to the primary.
    replica_max_lag_seconds: float = Field(default=5.0, gt=0, le=3600)
    data_dir: Path = Path("var")
    host: str = "127.0.0.1"
    # Addresses (or CIDR networks) of the load balancers in front of the web process: only from
    # them are X-Forwarded-For / X-Forwarded-Proto honoured. None by default: anyone could
    # otherwise choose the client address that rate limits and audit logs see.
    trusted_proxies: Annotated[tuple[str, ...], NoDecode] = ()
    port: int = Field(default=8000, ge=1, le=65535)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # `prorata up`'s processes (its --web/--workers options win): all share one PostgreSQL and
    # one blob store; more than one web process needs shared rate limit counters (Redis).
    web_processes: int = Field(default=1, ge=1, le=64)
    worker_processes: int = Field(default=1, ge=1, le=64)
    listen_fd: int | None = Field(
        default=None,
        ge=0,
        description="An inherited listening socket `prorata web` serves instead of binding "
        "host:port itself: set by `prorata up` (or another supervisor) for its web processes.",
    )
    worker_concurrency: int = Field(default=4, ge=1, le=64)
    worker_nice: int = Field(
        default=19,
        ge=0,
        le=19,
        description="CPU niceness (at least) of the worker and of its local database backends.",
    )
    worker_stalled_after_seconds: float = Field(default=30.0, gt=0)
    worker_shutdown_seconds: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="On SIGTERM, how long running jobs may finish before they are cancelled "
        "and put back in the queue (keep it below Kubernetes' terminationGracePeriodSeconds).",
    )
    # Extra modules whose `blueprint` of tasks the worker registers (plugins, tests), comma
    # separated in the environment.
    job_modules: Annotated[tuple[str, ...], NoDecode] = ()
    ready_worker_heartbeat_seconds: float = Field(default=60.0, gt=0)

    max_json_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    max_upload_bytes: int = Field(default=512 * 1024 * 1024, ge=1024)
    blob_url: str | None = Field(
        default=None,
        pattern=r"^(file|s3)://.+$",
        description="Object store for files: file:///dir or s3://bucket/prefix. "
        "Unset: a local directory under data_dir.",
    )
    aws_secret_access_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("AWS_SECRET_ACCESS_KEY"),
        description="Read by obstore itself; known here only so the log redactor masks it.",
    )
    aws_allow_http: bool = Field(
        default=False,
        validation_alias=AliasChoices("AWS_ALLOW_HTTP"),
        description="A plain-HTTP S3 endpoint (MinIO, SeaweedFS on a private network, tests).",
    )
    rate_limit_storage: SecretStr = SecretStr("memory://")
    rate_limit_api: str = "600/minute"
    rate_limit_heavy: str = "30/minute"
    rate_limit_public: str = "1200/minute"
    rate_limit_auth_failures: str = "20/minute"

    # OpenTelemetry export is configured by the standard OTEL_* variables, which the SDK reads
    # itself (prorata.observability.setup); these only place the Prometheus endpoints.
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    worker_metrics_port: int | None = Field(default=None, ge=1, le=65535)
    queue_metrics_seconds: float = Field(default=15.0, gt=0)

    smtp_host: str | None = Field(
        default=None, description="SMTP server. Unset: mail is written as .eml files instead."
    )
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_security: Literal["starttls", "tls", "none"] = "starttls"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_timeout_seconds: float = Field(default=30.0, gt=0, le=300)
    mail_from: str = Field(default="Prorata <noreply@prorata.invalid>", min_length=3)

    webhook_allow_loopback: bool = Field(
        default=False, description="Tests and local development only: refused in production."
    )
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=60)

    # Where people reach Prorata: links in mails (invitations, password resets) start with it,
    # and an https URL makes the session cookie `Secure`. Unset: http://{host}:{port}.
    public_url: str | None = Field(default=None, pattern=r"^https?://[^\s/]+(/[^\s]*)?$")
    session_idle_minutes: int = Field(default=480, ge=1, le=7 * 24 * 60)
    session_max_days: int = Field(default=7, ge=1, le=90)
    # Seals secrets the app must read back (TOTP): 32 random bytes, base64
    # (`python -c "import os,base64;print(base64.b64encode(os.urandom(32)).decode())"`).
    encryption_key: SecretStr = SecretStr(DEV_ENCRYPTION_KEY)
    # Earlier keys, still able to open what they sealed, while a rotation is under way.
    encryption_old_keys: Annotated[tuple[SecretStr, ...], NoDecode] = ()

    # `prorata up` gives a new demo organisation a living fund (investors, calls, payments…).
    demo_data: bool = True

    events_stream_seconds: float = Field(default=300.0, gt=0, le=3600)
    events_max_streams: int = Field(default=1000, ge=1, le=100_000)
    # One organisation must not take every slot of a process and starve the others.
    events_max_streams_per_org: int = Field(default=100, ge=1, le=100_000)

    @field_validator(
        "database_url", "app_database_url", "worker_database_url", "replica_database_url"
    )
    @classmethod
    def _postgresql_url(cls, url: SecretStr | None) -> SecretStr | None:
        # Said here, at start, in one line: deeper down it would be a driver's traceback. The
        # value itself is never repeated (it holds a password).
        if url is not None and urlsplit(url.get_secret_value()).scheme not in POSTGRESQL_SCHEMES:
            raise ValueError("must be a postgresql://user:password@host:port/database URL")
        return url

    @field_validator("job_modules", "trusted_proxies", "encryption_old_keys", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(name.strip() for name in value.split(",") if name.strip())
        return value

    @field_validator("encryption_key", "encryption_old_keys")
    @classmethod
    def _aes_keys(cls, keys: SecretStr | tuple[SecretStr, ...]) -> object:
        for key in keys if isinstance(keys, tuple) else (keys,):
            try:
                raw = base64.b64decode(key.get_secret_value(), validate=True)
            except binascii.Error:
                raw = b""
            if len(raw) != 32:
                raise ValueError("must be 32 random bytes, base64-encoded")
        return keys

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, proxies: tuple[str, ...]) -> tuple[str, ...]:
        for proxy in proxies:
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError:
                raise ValueError(
                    f"{proxy!r} is not an address or a network such as 10.0.0.0/8"
                ) from None
        return proxies

    @field_validator(
        "rate_limit_api", "rate_limit_heavy", "rate_limit_public", "rate_limit_auth_failures"
    )
    @classmethod
    def _one_rate_limit(cls, value: str) -> str:
        # Checked at start: the web process would otherwise die in its lifespan, a traceback.
        try:
            items = limits.parse_many(value)
        except ValueError:
            items = []
        if len(items) != 1 or items[0].amount < 1:
            raise ValueError("must be one rate such as '600/minute' (at least 1 per period)")
        return value

    @field_validator("rate_limit_storage")
    @classmethod
    def _rate_limit_storage(cls, url: SecretStr) -> SecretStr:
        if urlsplit(url.get_secret_value()).scheme not in RATE_LIMIT_STORAGE_SCHEMES:
            raise ValueError("must be memory:// or redis://host:6379/0 (rediss:// with TLS)")
        return url

    @model_validator(mode="after")
    def _session_for_the_worker(self) -> Settings:
        # Through a transaction-mode pooler, LISTEN would hear nothing and a session advisory
        # lock would be held by whichever client's transaction the server connection serves next.
        if self.db_pooler == "pgbouncer" and self.worker_database_url is None:
            raise ValueError(
                "PRORATA_DB_POOLER=pgbouncer needs PRORATA_WORKER_DATABASE_URL: a direct "
                "connection for the worker's queue and live-event LISTEN"
            )
        return self

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Settings:
        if self.env != "production":
            return self
        problems = []
        if self.database_url is None and self.app_database_url is None:
            problems.append("DATABASE_URL must be set explicitly (no embedded PostgreSQL)")
        # `prorata migrate` sets the app role's password from PRORATA_DB_APP_PASSWORD whenever
        # it has the owner's URL, even if web and worker connect with an explicit app URL: the
        # public default would become the production app role's password.
        sets_or_uses_app_password = self.database_url is not None or self.app_database_url is None
        if (
            sets_or_uses_app_password
            and self.db_app_password.get_secret_value() == DEV_APP_DB_PASSWORD
        ):
            problems.append("PRORATA_DB_APP_PASSWORD must be changed from its development default")
        if self.encryption_key.get_secret_value() == DEV_ENCRYPTION_KEY:
            problems.append("PRORATA_ENCRYPTION_KEY must be set (its default is public)")
        if self.webhook_allow_loopback:
            problems.append("PRORATA_WEBHOOK_ALLOW_LOOPBACK is for tests and development only")
        if problems:
            raise ValueError("refusing to start in production: " + "; ".join(problems))
        return self

    @property
    def base_url(self) -> str:
        """The public URL without a trailing slash, for links people follow."""
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def secure_cookies(self) -> bool:
        return self.env == "production" or self.base_url.startswith("https://")

    @property
    def embedded(self) -> bool:
        """True when no external PostgreSQL is configured and the launcher must start one."""
        return self.database_url is None and self.app_database_url is None

    def secret_values(self) -> list[str]:
        """Every secret this process knows, so the log redactor can scrub them anywhere."""
        values = [self.db_app_password.get_secret_value(), self.encryption_key.get_secret_value()]
        values += [key.get_secret_value() for key in self.encryption_old_keys]
        if self.smtp_password is not None:
            values.append(self.smtp_password.get_secret_value())
        if self.aws_secret_access_key is not None:
            values.append(self.aws_secret_access_key.get_secret_value())
        urls = (
            self.database_url,
            self.app_database_url,
            self.worker_database_url,
            self.replica_database_url,
            self.rate_limit_storage,
        )
        for url in urls:
            if url is not None:
                values.append(urlsplit(url.get_secret_value()).password or "")
                if url is not self.rate_limit_storage:  # "memory://" is no secret
                    values.append(url.get_secret_value())
        return [value for value in values if value]


def load() -> Settings:
    """Read the environment once; turn validation errors into one readable message."""
    try:
        return Settings()
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            lines.append(f"  {_variable(error['loc'])}: {error['msg']}")
        raise SettingsError("invalid settings:\n" + "\n".join(lines)) from None


def _variable(loc: tuple[int | str, ...]) -> str:
    """The environment variable an error is about, as the operator wrote it (`PRORATA_PORT`,
    `DATABASE_URL`), not the field's name."""
    if not loc:
        return "settings"
    name = str(loc[0])
    field = Settings.model_fields.get(name)
    if field is None:  # already an alias (DATABASE_URL)
        return name
    return f"PRORATA_{name.upper()}"
