"""The principal: who is acting, for which organisation, with which role.

Set by authentication; services receive it to authorise, audit and scope what they do.
"""

from __future__ import annotations

import dataclasses
import uuid

from prorata.orgs.models import Role


@dataclasses.dataclass(frozen=True)
class Principal:
    org_id: uuid.UUID
    user_id: uuid.UUID
    role: Role
    api_key_id: uuid.UUID
