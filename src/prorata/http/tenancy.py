"""The principal: who is acting, for which organisation, with which role; and the roles.

Set by authentication; services receive it to authorise, audit and scope what they do.
"""

from __future__ import annotations

import dataclasses
import enum
import uuid

from prorata.platform import errors


class Role(enum.StrEnum):
    """Roles, most powerful first. `investor` is an LP user who sees only its own investor."""

    owner = "owner"
    admin = "admin"
    manager = "manager"
    viewer = "viewer"
    investor = "investor"


# Least to most powerful: a role may do what any role below it may.
ROLE_RANK = {Role.investor: 0, Role.viewer: 1, Role.manager: 2, Role.admin: 3, Role.owner: 4}


@dataclasses.dataclass(frozen=True)
class Principal:
    org_id: uuid.UUID
    user_id: uuid.UUID
    role: Role
    credential_id: uuid.UUID  # the API key or browser session: what rate limits count
    via_session: bool = False  # signed in with a browser session (cookie), not an API key
    # An `investor` member: the investor it acts for (its default, or the one its portal was
    # switched to) and every investor it is linked to (the one among them).
    investor_id: uuid.UUID | None = None
    investor_ids: frozenset[uuid.UUID] = frozenset()

    def sees_investor(self, investor_id: uuid.UUID | None) -> bool:
        return investor_id is not None and (
            investor_id == self.investor_id or investor_id in self.investor_ids
        )


def check_investor_scope(principal: Principal, investor_id: uuid.UUID | None) -> None:
    """An `investor` member sees its linked investors only: any other (or data of no investor,
    such as a fund report) is, to it, not there."""
    if principal.role is Role.investor and not principal.sees_investor(investor_id):
        raise errors.NotFound("not found")


def scoped_investor(principal: Principal, investor_id: uuid.UUID | None) -> uuid.UUID | None:
    """The investor a query is about: an `investor` member's own when it names none."""
    if principal.role is not Role.investor:
        return investor_id
    if principal.investor_id is None:
        raise errors.Forbidden("this membership is not linked to an investor")
    chosen = investor_id or principal.investor_id
    check_investor_scope(principal, chosen)
    return chosen
