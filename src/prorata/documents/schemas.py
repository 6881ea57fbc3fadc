"""API shapes of documents and report requests."""

from __future__ import annotations

import datetime as dt
import enum
import uuid

from pydantic import BaseModel, Field

from prorata.documents.models import DocumentKind, DocumentStatus
from prorata.http.schemas import RequestModel


class ReportKind(enum.StrEnum):
    allocations = "allocations"
    capital_account_statement = "capital_account_statement"


class ReportCreate(RequestModel):
    kind: ReportKind
    as_of: dt.date = Field(description="The report's date (a statement's period end).")
    investor_id: uuid.UUID | None = Field(
        default=None,
        description=(
            "For `capital_account_statement`: the investor. Without it, a statement for every "
            "investor with a commitment to the fund, each a document, rendered by one job."
        ),
    )
    period_start: dt.date | None = Field(
        default=None,
        description="A statement's first day (default: 1 January of `as_of`'s year).",
    )


class DocumentOut(BaseModel):
    id: uuid.UUID
    kind: DocumentKind
    status: DocumentStatus
    fund_id: uuid.UUID
    call_id: uuid.UUID | None
    distribution_id: uuid.UUID | None = Field(description="A distribution notice's distribution.")
    investor_id: uuid.UUID | None
    period_start: dt.date | None
    as_of: dt.date | None
    filename: str
    content_type: str | None
    size: int | None = Field(description="Bytes; null until ready.")
    sha256: str | None = Field(description="Of the content; the same input renders the same bytes.")
    pages: int | None
    created_at: dt.datetime
    ready_at: dt.datetime | None
