"""API shapes of the identity domain."""

from __future__ import annotations

import uuid

from pydantic import BaseModel

from prorata.orgs.models import Role


class UserOut(BaseModel):
    id: uuid.UUID
    email: str
    name: str | None


class OrgOut(BaseModel):
    id: uuid.UUID
    name: str


class MeOut(BaseModel):
    user: UserOut
    org: OrgOut
    role: Role
