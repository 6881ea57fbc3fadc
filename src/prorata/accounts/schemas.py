"""API shapes of signing in: invitations."""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import Field

from prorata.accounts.models import InvitationStatus
from prorata.http.schemas import Email, RequestModel, ResponseModel
from prorata.http.tenancy import Role


class InvitationCreate(RequestModel):
    email: Email
    role: Role
    investor_id: uuid.UUID | None = Field(
        default=None,
        description="Required for the `investor` role (and only for it): the investor whose "
        "data the new member may see.",
    )


class InvitationOut(ResponseModel):
    id: uuid.UUID
    email: str
    role: Role
    investor_id: uuid.UUID | None
    status: InvitationStatus
    expires_at: dt.datetime
    created_at: dt.datetime
