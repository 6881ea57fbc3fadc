"""Imports (one uploaded CSV or .xlsx file applied to a fund) and the errors found in their rows."""

from __future__ import annotations

import datetime as dt
import enum
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from prorata.imports.formats import ImportKind
from prorata.imports.values import MAX_SHEET_NAME, NumberFormat
from prorata.platform.db import Base, str_enum
from prorata.platform.ids import new_id


class ImportStatus(enum.StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"  # applied (or, for a dry run, would apply cleanly)
    rejected = "rejected"  # some row is invalid: nothing applied
    failed = "failed"  # the job itself broke (not the file): nothing applied

    @property
    def final(self) -> bool:
        return self in {ImportStatus.succeeded, ImportStatus.rejected, ImportStatus.failed}


class ImportPhase(enum.StrEnum):
    queued = "queued"
    loading = "loading"  # streaming the file into the staging table
    validating = "validating"
    applying = "applying"
    done = "done"


class DataImport(Base):
    """One uploaded file and what became of it. Its content is the blob, never a row."""

    __tablename__ = "imports"
    __table_args__ = (
        sa.ForeignKeyConstraint(["org_id", "fund_id"], ["funds.org_id", "funds.id"]),
        # The same file (by SHA-256) for the same fund, kind and mode is imported once; a
        # failed or rejected attempt applied nothing and does not count, so the file can be
        # uploaded again after an outage, or once the investors or deals it names exist.
        # The options of how its values are written count too (migration 0039): the same file
        # sent again with another date_format is another import (its dates differ).
        sa.Index(
            "uq_imports_fund_id_kind_dry_run_sha256",
            "fund_id",
            "kind",
            "dry_run",
            "sha256",
            "number_format",
            "date_format",
            "sheet",
            unique=True,
            postgresql_where=sa.text("status NOT IN ('failed', 'rejected')"),
            postgresql_nulls_not_distinct=True,
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column()
    fund_id: Mapped[uuid.UUID] = mapped_column()
    blob_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("blobs.id"))
    kind: Mapped[ImportKind] = mapped_column(str_enum(ImportKind, "import_kind"))
    dry_run: Mapped[bool] = mapped_column()
    status: Mapped[ImportStatus] = mapped_column(str_enum(ImportStatus, "import_status"))
    phase: Mapped[ImportPhase] = mapped_column(str_enum(ImportPhase, "import_phase"))
    sha256: Mapped[str] = mapped_column(sa.String(64))
    filename: Mapped[str | None] = mapped_column(sa.String(255))
    created_by: Mapped[uuid.UUID | None] = mapped_column()
    bytes_total: Mapped[int] = mapped_column(sa.BigInteger)
    bytes_read: Mapped[int] = mapped_column(sa.BigInteger, server_default="0")
    rows_total: Mapped[int | None] = mapped_column(sa.BigInteger)
    rows_valid: Mapped[int | None] = mapped_column(sa.BigInteger)
    rows_invalid: Mapped[int | None] = mapped_column(sa.BigInteger)
    inserted: Mapped[int | None] = mapped_column(sa.BigInteger)
    updated: Mapped[int | None] = mapped_column(sa.BigInteger)
    unchanged: Mapped[int | None] = mapped_column(sa.BigInteger)
    errors_recorded: Mapped[int] = mapped_column(sa.Integer, server_default="0")
    message: Mapped[str | None] = mapped_column(sa.String(500))
    # How the file writes its values (imports.values): options of the upload.
    number_format: Mapped[str] = mapped_column(
        sa.String(16), default=NumberFormat.comma_point.value, server_default="1,234.56"
    )
    date_format: Mapped[str | None] = mapped_column(sa.String(16))
    sheet: Mapped[str | None] = mapped_column(sa.String(MAX_SHEET_NAME))
    created_at: Mapped[dt.datetime] = mapped_column(
        sa.DateTime(timezone=True), server_default=sa.func.now()
    )
    started_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))
    finished_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))


class ImportRowError(Base):
    """One refused cell (or line): what errors.csv lists. Values are cut to 200 characters."""

    __tablename__ = "import_errors"
    __table_args__ = (sa.Index("ix_import_errors_import_id_line", "import_id", "line"),)

    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    org_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("orgs.id", ondelete="CASCADE"))
    import_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("imports.id", ondelete="CASCADE"))
    line: Mapped[int | None] = mapped_column(sa.BigInteger)
    column: Mapped[str | None] = mapped_column(sa.String(64))
    value: Mapped[str | None] = mapped_column(sa.String(200))
    message: Mapped[str] = mapped_column(sa.String(300))
