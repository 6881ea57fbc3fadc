"""Imports (one uploaded CSV or .xlsx file applied to a fund) and the errors found in their rows."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
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
        # The same file (by SHA-256) for the same fund and kind is imported once; a failed or
        # rejected attempt applied nothing and does not count, so the file can be uploaded
        # again after an outage, or once the investors or deals it names exist. How it is read
        # counts too (migration 0039): the same file sent again with another date_format, or
        # read with another mapping (`columns`), is another import. A dry run applies nothing
        # and checks the data as it is when it runs, so it is never answered by an earlier one
        # (migration 0042).
        sa.Index(
            "uq_imports_fund_id_kind_dry_run_sha256",
            "fund_id",
            "kind",
            "dry_run",
            "sha256",
            "number_format",
            "date_format",
            "sheet",
            "columns",
            unique=True,
            postgresql_where=sa.text("status NOT IN ('failed', 'rejected') AND NOT dry_run"),
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
    # A dry run's counts: what applying it would do (its `inserted` etc. stay empty).
    would_insert: Mapped[int | None] = mapped_column(sa.BigInteger)
    would_update: Mapped[int | None] = mapped_column(sa.BigInteger)
    would_keep: Mapped[int | None] = mapped_column(sa.BigInteger)
    # How the header is read, fixed at upload: for CSV, the file's header cells → our columns
    # (null: left out), as read with the mapping then in force (bounded by the header line,
    # formats.MAX_HEADER_BYTES); for .xlsx, whose header the web process cannot read, the
    # mapping itself (bounded by formats.MAX_MAPPING_ENTRIES). The worker reads the header
    # with it as a mapping. Part of "the same file again" (the unique index), so it is never
    # rewritten: what the header was read as is `header`.
    columns: Mapped[dict[str, str | None] | None] = mapped_column(JSONB)
    # The file's header cells → our columns (null: left out), as read: for CSV at upload (the
    # same as `columns`), for .xlsx by the worker once it has read the sheet's header (null
    # until then, or if it could not). What the API shows as the import's `columns`.
    header: Mapped[dict[str, str | None] | None] = mapped_column(JSONB)
    # A dry run that passed: its first rows as they would be applied (ingest.PREVIEW_ROWS).
    preview: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONB)
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


class ImportMapping(Base):
    """A saved column mapping of one import kind: a team's usual export, read without editing.
    At most one per organisation and kind is the default, used by uploads that name none."""

    __tablename__ = "import_mappings"
    __table_args__ = (
        sa.UniqueConstraint("org_id", "kind", "name"),
        sa.Index(
            "uq_import_mappings_org_id_kind_default",
            "org_id",
            "kind",
            unique=True,
            postgresql_where=sa.text("is_default"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("orgs.id", ondelete="CASCADE"))
    kind: Mapped[ImportKind] = mapped_column(str_enum(ImportKind, "import_kind"))
    name: Mapped[str] = mapped_column(sa.String(100))
    # File header → our column (or null): at most formats.MAX_MAPPING_ENTRIES short names.
    columns: Mapped[dict[str, str | None]] = mapped_column(JSONB)
    is_default: Mapped[bool] = mapped_column()
    created_by: Mapped[uuid.UUID | None] = mapped_column()
    created_at: Mapped[dt.datetime] = mapped_column(
        sa.DateTime(timezone=True), server_default=sa.func.now()
    )
    updated_at: Mapped[dt.datetime] = mapped_column(
        sa.DateTime(timezone=True), server_default=sa.func.now()
    )
