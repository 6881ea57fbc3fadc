"""API shapes of the identity domain."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from pydantic import BaseModel, Field

from prorata.http.schemas import LABEL, Email, RequestModel, ResponseModel
from prorata.http.tenancy import Role
from prorata.orgs.models import DateFormat, PaperSize, StatementDelivery

Name = Annotated[str, Field(min_length=1, max_length=200, pattern=LABEL)]


class OrgCreate(RequestModel):
    """`prorata orgs create`'s arguments, held to the rules the API holds names and addresses to
    (the command has no HTTP layer to check them)."""

    name: Name
    owner_email: Email


class UserOut(BaseModel):
    id: uuid.UUID
    email: str
    name: str | None


class OrgOut(BaseModel):
    id: uuid.UUID
    name: str


Text = Annotated[str, Field(min_length=1, max_length=500, pattern=LABEL)]
_PAPER = "The paper its letters (notices, statements) are set on: `a4` or `letter` (US)."
_DATES = (
    "How its letters write dates: `iso` (2026-03-04), `us` (March 4, 2026) or `eu` (4 March 2026)."
)


class OrgSettings(ResponseModel):
    id: uuid.UUID
    name: str
    require_two_factor: bool = Field(
        description="Owners, admins and managers must sign in with a second factor (TOTP)."
    )
    legal_name: str | None = Field(description="As printed on the organisation's documents.")
    address: str | None
    signature_block: str | None = Field(description="Printed under the documents' text.")
    statement_delivery: StatementDelivery = Field(
        description="What a statement run mails each contact who receives statements: `link` "
        "(to the portal's documents page) or `attachment` (the PDF)."
    )
    logo_url: str | None = Field(
        description="Where the logo is read (`GET /api/v1/org/logo`), or null without one."
    )
    paper_size: PaperSize = Field(description=_PAPER)
    date_format: DateFormat = Field(description=_DATES)


class OrgUpdate(RequestModel):
    name: Name | None = None
    require_two_factor: bool | None = None
    legal_name: Name | None = None
    address: Text | None = None
    signature_block: Text | None = None
    statement_delivery: StatementDelivery | None = None
    paper_size: PaperSize | None = Field(default=None, description=_PAPER)
    date_format: DateFormat | None = Field(default=None, description=_DATES)


class MeOut(BaseModel):
    user: UserOut
    org: OrgOut
    role: Role
    investor_id: uuid.UUID | None = Field(
        default=None, description="An `investor` member: the investor it acts for."
    )
    investor_ids: list[uuid.UUID] = Field(
        default_factory=list, description="An `investor` member: every investor it sees."
    )


class MemberOut(ResponseModel):
    id: uuid.UUID
    email: str
    name: str | None
    role: Role
    investor_id: uuid.UUID | None = Field(
        description="An `investor` member's default investor (what its API keys act for when a "
        "request names none)."
    )
    investor_ids: list[uuid.UUID] = Field(
        description="Every investor an `investor` member sees (the default among them): a person "
        "acting for several investors of the organisation switches between them in the portal."
    )
    created_at: dt.datetime


_INVESTOR_LINK = (
    "For the `investor` role only: the investor whose data the user may see (alone: it becomes "
    "the only linked investor), or, with `investor_ids`, the default among them."
)
_INVESTOR_LINKS = (
    "For the `investor` role only: every investor whose data the user may see (replaces the "
    "links; the default stays if still linked, else the first)."
)
InvestorIds = Annotated[list[uuid.UUID], Field(max_length=100, description=_INVESTOR_LINKS)]


class UserCreate(RequestModel):
    email: Email
    name: Name | None = None
    role: Role
    investor_id: uuid.UUID | None = Field(default=None, description=_INVESTOR_LINK)
    investor_ids: InvestorIds | None = None


class UserUpdate(RequestModel):
    name: Name | None = None
    role: Role | None = None
    investor_id: uuid.UUID | None = Field(default=None, description=_INVESTOR_LINK)
    investor_ids: InvestorIds | None = None


class ApiKeyOut(ResponseModel):
    id: uuid.UUID
    name: str
    prefix: str
    created_at: dt.datetime
    revoked_at: dt.datetime | None


class ApiKeyCreate(RequestModel):
    name: Name


class ApiKeyCreated(ApiKeyOut):
    api_key: str = Field(description="The key itself: shown once, never stored or shown again.")
